"""echo-search UI: one question, two ranked lists side by side (echo | classical), and where they differ.

Start it with `search-ui` (or `streamlit run ui/app.py`). Configuration comes from the environment:
SEARCH_URL (the HTTP query service), else QDRANT_URL or the embedded store under ECHO_SEARCH_DATA;
ECHO_SEARCH_COLLECTION, ECHO_SEARCH_MODEL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import altair as alt
import pandas as pd
import streamlit as st

from embedder import Embedder
from embedder.templates import DEFAULT_INSTRUCTION
from search.searcher import Hit, SearchResult
from ui import compare
from ui.backend import Backend, BackendConfig, CollectionSummary, load_embedder, open_backend

log = logging.getLogger("echo_search.ui")

LEGEND = (
    "▲ n: this list ranks the chunk n places higher than the other list · ▼ n: n places lower · "
    "= same rank · only here: not in the other list's top k"
)
MARKER_COLORS = {"▲": "green", "▼": "red", "=": "gray", "●": "blue"}
STYLE = """
<style>
mark { background: #fff3a3; padding: 0 1px; border-radius: 2px; }
.hit-text { font-size: 0.92rem; line-height: 1.45; }
</style>
"""


@st.cache_resource(show_spinner="Loading the model…")
def cached_embedder(model: str | None) -> Embedder:
    return load_embedder(model)


@st.cache_resource(max_entries=1, on_release=lambda backend: backend.close(), show_spinner="Opening the collection…")
def cached_backend(config: BackendConfig) -> Backend:
    return open_backend(config, cached_embedder(config.model))


def show_error(exc: BaseException) -> None:
    """A clear message for the user, the traceback only in the server log."""
    log.error("echo-search UI error", exc_info=exc)
    st.error(f"{type(exc).__name__}: {exc}")


def render_sidebar(config: BackendConfig, info: CollectionSummary | None) -> None:
    with st.sidebar:
        st.header("Collection")
        if info is None:
            st.caption("not available")
            return
        st.markdown(f"**{info.name}** · {len(info.sources)} files · {info.chunks} chunks")
        st.caption(f"Store: `{info.location}`")
        if info.embedder:
            st.markdown(f"Model: `{info.embedder.get('model', '?')}`")
            st.caption(
                f"document template `{info.embedder.get('document_template', '?')}` · "
                f"query template `{info.embedder.get('query_template', '?')}` · "
                f"pooling {info.embedder.get('pooling', '?')} · classical {info.embedder.get('classical', '?')}"
            )
        if info.fingerprint:
            st.caption(f"Fingerprint: `{info.fingerprint}`")
        if info.sources:
            with st.expander("Files"):
                st.markdown("\n".join(f"- {compare.source_label(s, {})}" for s in info.sources))


def render_empty_state() -> None:
    st.info(
        "This collection is empty: there is nothing to search yet.\n\n"
        "Add documents from a terminal with `ingest PATH` (a file or a folder), "
        "then reload this page."
    )


def render_query_controls(sources: Sequence[str]) -> tuple[str, int, list[str], str]:
    """The query box (Enter searches), k, and the advanced section; returns (query, k, sources, instruction)."""
    left, right = st.columns([5, 1], vertical_alignment="bottom")
    query = left.text_input("Question", placeholder="Ask a question about your documents, then press Enter")
    k = right.number_input("k", min_value=1, max_value=50, value=10, step=1)
    with st.expander("Advanced"):
        instruction = st.text_input("Instruction (query template)", value=DEFAULT_INSTRUCTION)
        chosen = st.multiselect("Only these sources", list(sources), format_func=lambda s: compare.source_label(s, {}))
    return (query or "").strip(), int(k), chosen, instruction.strip()


def run_search(backend: Backend, query: str, k: int, sources: list[str], instruction: str, chunks: int) -> SearchResult:
    """Search, remembering the last result so reruns that change nothing else do not embed again."""
    key = (query, k, tuple(sources), instruction, chunks)
    memo = st.session_state.get("last_search")
    if memo is None or memo[0] != key:
        memo = (key, backend.search(query, k, sources, instruction))
        st.session_state["last_search"] = memo
    return memo[1]


def render_summary(result: SearchResult) -> None:
    shared = compare.overlap(result.echo, result.classical)
    rho = compare.rank_correlation(result.echo, result.classical)
    k = max(len(result.echo), len(result.classical))
    cols = st.columns(4)
    cols[0].metric("Overlap of the top k", f"{shared}/{k}")
    cols[1].metric("Rank correlation (shared)", "n/a" if rho is None else f"{rho:+.2f}",
                   help="Spearman correlation of the ranks of the chunks both lists found")
    cols[2].metric("Embed query", f"{result.timings.get('embed_ms', 0):.0f} ms")
    cols[3].metric("Search", f"{result.timings.get('search_ms', 0):.0f} ms")


def render_charts(result: SearchResult) -> None:
    rows = pd.DataFrame(compare.chart_rows(result.echo, result.classical))
    if rows.empty:
        return
    colors = alt.Scale(domain=["Echo", "Classical"], range=["#e4572e", "#4c78a8"])
    tooltip = ["list", "rank", alt.Tooltip("score", format=".3f"), "source"]
    scores = (
        alt.Chart(rows, title="Score by rank")
        .mark_line(point=True)
        .encode(x=alt.X("rank:O", title="rank"), y=alt.Y("score:Q", scale=alt.Scale(zero=False)),
                color=alt.Color("list:N", scale=colors, title=None), tooltip=tooltip)
    )
    moves = (
        alt.Chart(rows, title="Where each chunk stands in each list")
        .mark_line(point=True)
        .encode(x=alt.X("list:N", sort=["Echo", "Classical"], title=None),
                y=alt.Y("rank:Q", scale=alt.Scale(reverse=True, domainMin=1), title="rank"),
                detail="chunk:N", color=alt.Color("list:N", scale=colors, legend=None), tooltip=tooltip)
    )
    left, right = st.columns([3, 2])
    left.altair_chart(scores.properties(height=220), width="stretch")
    right.altair_chart(moves.properties(height=220), width="stretch")


def marker_markdown(marker: str) -> str:
    return f":{MARKER_COLORS.get(marker[0], 'gray')}-badge[{marker}]"


def render_hit(hit: Hit, marker: str, query: str) -> None:
    with st.container(border=True):
        st.markdown(f"**#{hit.rank}** · score `{hit.score:.3f}` · {marker_markdown(marker)}")
        st.caption(compare.source_label(hit.source, hit.payload) + f" · chunk {hit.chunk_index}")
        snippet = compare.highlight(compare.snippet(hit.text, query), query)
        st.markdown(f'<div class="hit-text">{snippet}</div>', unsafe_allow_html=True)
        with st.expander("Full chunk text"):
            full = compare.highlight(hit.text, query).replace("\n", "<br>")
            st.markdown(f'<div class="hit-text">{full}</div>', unsafe_allow_html=True)


def render_column(title: str, hits: list[Hit], other: list[Hit], other_name: str, query: str) -> None:
    st.subheader(title)
    if not hits:
        st.caption("no hits")
    for hit, move in zip(hits, compare.movements(hits, other), strict=True):
        render_hit(hit, move.marker(other_name), query)


def render_results(result: SearchResult, query: str) -> None:
    render_summary(result)
    render_charts(result)
    st.caption(LEGEND)
    echo_col, classical_col = st.columns(2, gap="medium")
    with echo_col:
        render_column("Echo", result.echo, result.classical, "classical", query)
    with classical_col:
        render_column("Classical", result.classical, result.echo, "echo", query)


def main() -> None:
    st.set_page_config(page_title="echo-search", page_icon="🔎", layout="wide")
    st.markdown(STYLE, unsafe_allow_html=True)
    st.title("echo-search")
    st.caption("Echo and classical embeddings from the same model over the same collection, side by side.")
    config = BackendConfig.from_env()
    try:
        backend = cached_backend(config)
        info = backend.summary()
    except Exception as exc:  # every failure becomes a message, never a traceback
        render_sidebar(config, None)
        show_error(exc)
        return
    render_sidebar(config, info)
    if info.chunks == 0:
        render_empty_state()
        return
    query, k, sources, instruction = render_query_controls(info.sources)
    if not query:
        st.caption(f"{info.chunks} chunks from {len(info.sources)} files are ready to search.")
        return
    try:
        result = run_search(backend, query, k, sources, instruction, info.chunks)
    except Exception as exc:
        show_error(exc)
        return
    render_results(result, query)


main()
