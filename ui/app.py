"""echo-search UI: one question, two ranked lists side by side, and where they differ. Either column can show echo,
classical, BM25, hybrid or rerank; by default echo | rerank when the service's model can rerank (the hybrid stands
in while the model reads the top passages), else echo | classical.

Start it with `search-ui` (or `streamlit run ui/app.py`). It is a client of a search service (`ui.holder`): the one
SEARCH_URL names, else the one that holds the store, else a `search serve` it starts with its settings (QDRANT_URL or
the embedded store under ECHO_SEARCH_DATA; ECHO_SEARCH_COLLECTION, ECHO_SEARCH_MODEL; ECHO_SEARCH_UI_WATCH: folders
that service keeps in sync, `search-ui --watch`); ECHO_SEARCH_UPLOAD_MB limits uploads.

Streamlit renders every bare expression of this script ("magic"): below, notes are comments, never strings.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import altair as alt
import pandas as pd
import streamlit as st

from embedder.templates import DEFAULT_INSTRUCTION
from search.query import CollectionInfo, snippets
from search.query.calibration import strength
from search.query.request import SearchQuery
from search.query.results import Hit, Mode, SearchResult
from search.settings import Settings
from search.validation import K_MAX, K_MIN
from ui import compare, uploads
from ui.shared_searcher import SharedSearcher, open_shared_searcher

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator

    from ingest.report import IngestProgress

log = logging.getLogger("echo_search.ui")

LEGEND = (
    "▲ n: this list ranks the chunk n places higher than the other list · ▼ n: n places lower · "
    "= same rank · only here: not in the other list's top k"
)
RANKING_HELP = (
    "Echo and Classical: the chunks nearest the question's echo or classical embedding (classical: the mean over a "
    "text's first copy in its echo prompt, or over its own pass in collections made that way: the sidebar's "
    "Templates say which). BM25: the question's words "
    "(term frequencies and inverse document frequencies, no model). Hybrid: echo and BM25 fused in one Qdrant query. "
    "Rerank: the hybrid ranking's top 10 rescored by the model, by how likely it finds the question after each passage "
    "(score: the mean log-probability of the question's tokens; slower: a model pass over 10 passages)."
)
# How the collection's classical vectors were made (`Embedder.describe()["classical"]`), in words.
CLASSICAL_KINDS = {
    "first_span": "the first copy of the echo prompt (a query: its own pass under the same prefix)",
    "separate": "its own pass",
    "none": "none",
}
TIMINGS = (
    ("Embed query", "embed_ms", "Model forward for the question (the vectors the shown rankings need)"),
    ("Search", "search_ms", "The shown rankings' search in Qdrant, one query"),
    ("Total", "total_ms", "The whole search call, including any queueing or network"),
    ("Rerank", "rerank_ms", "The model's pass over the first stage's top passages (a Rerank column only)"),
)
STAND_IN = "hybrid"  # drawn in a rerank column while the model reads the passages (the rerank's default first stage)
MARKER_COLORS = {"▲": "green", "▼": "red", "=": "gray", "●": "blue"}
LIST_COLORS = {"Echo": "#e4572e", "Classical": "#4c78a8", "BM25": "#54a24b", "Hybrid": "#b279a2", "Rerank": "#f58518"}
STYLE = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
mark { background: #fff3a3; padding: 0 1px; border-radius: 2px; }
.hit-text { font-size: 0.92rem; line-height: 1.45; }
</style>
"""


@st.cache_resource(max_entries=1, on_release=lambda shared: shared.close(),
                   show_spinner="Connecting to the search service (starting it loads the model)…")
def cached_searcher(settings: Settings) -> SharedSearcher:
    return open_shared_searcher(settings)


def show_error(exc: BaseException) -> None:
    """A clear message for the user, the traceback only in the server log."""
    log.error("echo-search UI error", exc_info=exc)
    st.error(f"{type(exc).__name__}: {exc}")


def render_collection(searcher: SharedSearcher | None, info: CollectionInfo | None) -> None:
    st.header("Collection")
    if searcher is None or info is None:
        st.caption("not available")
        return
    st.markdown(f"**{info.name}** · {info.files} files · {info.points} chunks")
    service = searcher.service
    st.caption(f"Search service `{service.url}` ({service.how}) · store `{info.location}`")
    if info.embedder:
        e = info.embedder
        st.markdown(f"Model `{e.get('model', '?')}` · dim {e.get('dim', '?')}")
        with st.expander("Templates and fingerprint"):
            st.markdown(
                f"Documents: `{e.get('document_template', '?')}`  \n"
                f"Queries: `{e.get('query_template', '?')}`  \n"
                f"Classical: {CLASSICAL_KINDS.get(str(e.get('classical')), e.get('classical', '?'))} "
                f"`{e.get('classical_template', '')}`  \n"
                f"Pooling: {e.get('pooling', '?')} · max {e.get('max_text_tokens', '?')} tokens"
            )
            st.caption(f"Fingerprint: `{info.fingerprint}`")
    if info.sources:
        with st.expander("Files"):
            st.markdown("\n".join(f"- {compare.source_label(s)}" for s in info.sources))


def render_upload(searcher: SharedSearcher) -> None:
    """Upload box: files are saved under the data folder and ingested with the open store and model."""
    st.header("Add documents")
    if not searcher.can_upload:
        st.info(f"Uploads are off: this page talks to the search service at {searcher.service.url} (SEARCH_URL), "
                "which may not see this machine's files. Add documents with `ingest PATH` where the service runs.")
        return
    if watched := searcher.settings.ui.watch:
        st.caption("Kept in sync (search-ui --watch): " + ", ".join(f"`{path}`" for path in watched))
    limit = searcher.settings.ui.upload_mb
    round_ = st.session_state.setdefault("upload_round", 0)  # a new key empties the box after an ingest
    files = st.file_uploader(f"Files (up to {limit} MB each)", type=uploads.accepted_types(),
                             accept_multiple_files=True, max_upload_size=limit, key=f"upload-{round_}")
    if not files or not st.button("Ingest", type="primary"):
        return
    try:
        folder = uploads.upload_dir(searcher.settings.store)
        saved = [(f.name, uploads.save_upload(f.name, f.getvalue(), folder, limit)) for f in files]
        bar = st.progress(0.0, text="Ingesting…")

        def show_progress(p: IngestProgress) -> None:
            bar.progress(*progress_state(p))

        report = searcher.ingest([path for _, path in saved], progress=show_progress)
    except Exception as exc:  # the same errors `ingest` reports: unsupported, too big, store problems
        show_error(exc)
        return
    stored = f"Stored in `{folder}`: " + ", ".join(uploads.stored_as(name, path) for name, path in saved)
    st.session_state["upload_report"] = (report.ok, f"{report.summary()}\n{stored}")
    st.session_state["upload_round"] = round_ + 1
    st.rerun()


def progress_state(p: IngestProgress) -> tuple[float, str]:
    """Progress bar value and text for an ingest in progress."""
    done = p.bytes_done / p.bytes_total if p.bytes_total else p.files_done / max(p.files_total, 1)
    return min(done, 1.0), f"files {p.files_done}/{p.files_total} · {p.chunks_done} chunks"


def render_upload_report() -> None:
    if (last := st.session_state.pop("upload_report", None)) is not None:
        ok, text = last
        (st.success if ok else st.warning)(text.replace("\n", "  \n"))


def render_empty_state(searcher: SharedSearcher) -> None:
    if searcher.settings.ui.watch:
        st.info("This collection is empty: the files and folders this page keeps in sync are being read; reload this "
                "page in a moment.")
        return
    how = "upload files in the sidebar, or " if searcher.can_upload else ""
    st.info(
        "This collection is empty: there is nothing to search yet.\n\n"
        f"To add documents, {how}run `ingest PATH` (a file or a folder) in a terminal, then reload this page."
    )


def render_query_controls(sources: Sequence[str], rankings: Sequence[str]
                          ) -> tuple[str, int, list[str], str, tuple[str, str]]:
    """The query box (Enter searches), k, the ranking of each column (of the service's `rankings`; the right one
    rerank, else classical, by default), and the advanced section; returns (query, k, sources, instruction,
    (left ranking, right ranking))."""
    ask, size, left_col, right_col = st.columns([5, 1, 1.4, 1.4], vertical_alignment="bottom")
    query = ask.text_input("Question", placeholder="Ask a question about your documents, then press Enter")
    k = size.number_input("k", min_value=K_MIN, max_value=K_MAX, value=10, step=1)
    label = compare.RANKING_LABELS.__getitem__
    offered = [r for r in compare.RANKING_LABELS if r in rankings]
    left = left_col.selectbox("Left column", offered, index=0, format_func=label, help=RANKING_HELP)
    others = [r for r in offered if r != left]  # a list beside itself shows nothing
    default = next((r for r in ("rerank", "classical") if r in others), others[0])
    right = right_col.selectbox("Right column", others, index=others.index(default), format_func=label,
                                help=RANKING_HELP)
    with st.expander("Advanced"):
        instruction = st.text_input("Instruction (query template)", value=DEFAULT_INSTRUCTION)
        chosen = st.multiselect("Only these sources", list(sources), format_func=compare.source_label)
    return (query or "").strip(), int(k), chosen, instruction.strip(), (str(left), str(right))


def run_search(
    searcher: SharedSearcher, query: SearchQuery, generation: int, memo: str = "last_search"
) -> SearchResult:
    """Search for `query`, remembering the last result so reruns that change nothing else (the same query over the
    same contents: the collection's write `generation`, read before the search) do not embed again; after any write
    (an upload, a sync of `search-ui --watch`, an `ingest`), the search runs again.

    The result's timings gain `total_ms`, the time the whole call took as seen from here, when the searcher did not
    report one. `memo`: the session key the result is kept under (the rerank search has its own).
    """
    kept = kept_result(query, generation, memo)
    if kept is None:
        start = time.perf_counter()
        kept = searcher.search(query)
        kept.timings.setdefault("total_ms", (time.perf_counter() - start) * 1000)
        st.session_state[memo] = ((query, generation), kept)
    return kept


def kept_result(query: SearchQuery, generation: int, memo: str) -> SearchResult | None:
    """The result `run_search` kept under `memo` for this query and write generation, if any."""
    kept = st.session_state.get(memo)
    return kept[1] if kept is not None and kept[0] == (query, generation) else None


def answer(searcher: SharedSearcher, ask: Callable[[Mode], SearchQuery], shown: tuple[str, str], generation: int,
           area: DeltaGenerator) -> SearchResult:
    """The rankings `shown`: one search for all but rerank, then, when a column shows rerank, a second one for it.
    While the model reads the passages (not when the rerank is kept from an earlier run), `area` shows the hybrid
    ranking in the rerank column. `ask(mode)`: the question as a query of that mode."""
    stand_in: tuple[str, str] = (STAND_IN if shown[0] == "rerank" else shown[0],
                                 STAND_IN if shown[1] == "rerank" else shown[1])
    base = run_search(searcher, ask(compare.search_mode(*stand_in)), generation)
    if "rerank" not in shown:
        return base
    rerank_query = ask("rerank")
    if kept_result(rerank_query, generation, "last_rerank") is None:
        with area.container():
            render_results(base, rerank_query.text, stand_in, pending=True)
    reranked = run_search(searcher, rerank_query, generation, memo="last_rerank")
    return dataclasses.replace(base, rerank=reranked.rerank, timings=reranked.timings)


def render_summary(left: list[Hit], right: list[Hit], result: SearchResult) -> None:
    shared = compare.overlap(left, right)
    rho = compare.rank_correlation(left, right)
    k = max(len(left), len(right))
    timings = [t for t in TIMINGS if t[1] != "rerank_ms" or t[1] in result.timings]
    cols = st.columns(2 + len(timings))
    cols[0].metric("Overlap of the top k", f"{shared}/{k}")
    cols[1].metric("Rank correlation (shared)", "n/a" if rho is None else f"{rho:+.2f}",
                   help="Spearman correlation of the ranks of the chunks both lists found")
    for col, (label, name, hint) in zip(cols[2:], timings, strict=True):
        col.metric(label, f"{result.timings.get(name, 0):.0f} ms", help=hint)


def render_charts(left: tuple[str, list[Hit]], right: tuple[str, list[Hit]]) -> None:
    rows = pd.DataFrame(compare.chart_rows(left, right))
    if rows.empty:
        return
    names = [left[0], right[0]]
    colors = alt.Scale(domain=names, range=[LIST_COLORS[n] for n in names])
    tooltip = [alt.Tooltip("list"), alt.Tooltip("rank"), alt.Tooltip("score", format=".3f"), alt.Tooltip("source")]
    scores = (
        alt.Chart(rows, title="Score by rank")
        .mark_line(point=True)
        .encode(x=alt.X("rank:O", title="rank"), y=alt.Y("score:Q", scale=alt.Scale(zero=False)),
                color=alt.Color("list:N", scale=colors, title=None), tooltip=tooltip)
    )
    position = alt.Chart(rows, title="Where each chunk stands in each list").encode(
        x=alt.X("list:N", sort=names, title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("rank:Q", scale=alt.Scale(reverse=True, domainMin=1), title="rank", axis=alt.Axis(tickMinStep=1)),
        detail="chunk:N",
        tooltip=tooltip,
    )
    moves = position.mark_line(color="#9aa0a6") + position.mark_circle(size=70).encode(
        color=alt.Color("list:N", scale=colors, legend=None)
    )
    score_col, move_col = st.columns([3, 2])
    score_col.altair_chart(scores.properties(height=220), width="stretch")
    move_col.altair_chart(moves.properties(height=220), width="stretch")


def marker_markdown(marker: str) -> str:
    return f":{MARKER_COLORS.get(marker[0], 'gray')}-badge[{marker}]"


def render_hit(hit: Hit, marker: str, query: str, key: str) -> None:
    with st.container(border=True, key=key):
        z = f" · z `{hit.z:.1f}` {strength(hit.z)}" if hit.z is not None else ""
        st.markdown(f"**#{hit.rank}** · score `{hit.score:.3f}`{z} · {marker_markdown(marker)}")
        st.caption(compare.hit_label(hit) + f" · chunk {hit.chunk_index}")
        snippet = snippets.snippet(hit.text, query)
        st.markdown(f'<div class="hit-text">{compare.highlight(snippet, query)}</div>', unsafe_allow_html=True)
        if snippet != " ".join(hit.text.split()):  # the snippet is shorter than the chunk
            with st.expander("Full chunk text"):
                full = compare.highlight(hit.text, query).replace("\n", "<br>")
                st.markdown(f'<div class="hit-text">{full}</div>', unsafe_allow_html=True)


def render_column(title: str, hits: list[Hit], other: list[Hit], other_name: str, query: str,
                  key: str = "hit") -> None:
    st.subheader(title)
    if not hits:
        st.caption("no hits")
    for hit, move in zip(hits, compare.movements(hits, other), strict=True):
        render_hit(hit, move.marker(other_name), query, key=f"{key}-{title.lower()}-{hit.rank}")


def render_results(result: SearchResult, query: str, shown: tuple[str, str] = ("echo", "classical"),
                   pending: bool = False) -> None:
    """The two lists `shown` side by side, with their summary and charts. `pending`: drawn while the rerank runs
    (the hybrid in its place; its hits get other keys, since the final drawing follows in the same run), with a
    note where the charts go. The summary, legend and lists keep their places in both drawings, so each final one
    replaces its pending twin: Streamlit keeps the old children of a place until the run ends, and a second summary
    would show until then."""
    left, right = shown
    left_hits, right_hits = result.ranking(left), result.ranking(right)
    left_title, right_title = compare.RANKING_LABELS[left], compare.RANKING_LABELS[right]
    render_summary(left_hits, right_hits, result)
    if pending:
        st.info("Rerank: the model is reading the top passages (a few seconds on a CPU); the hybrid ranking stands "
                "in for it until then.")
    else:
        render_charts((left_title, left_hits), (right_title, right_hits))
    st.caption(LEGEND)
    left_col, right_col = st.columns(2, gap="medium")
    key = "early-hit" if pending else "hit"
    with left_col:
        render_column(left_title, left_hits, right_hits, right, query, key)
    with right_col:
        render_column(right_title, right_hits, left_hits, left, query, key)


def main() -> None:
    st.set_page_config(page_title="echo-search", page_icon="🔎", layout="wide")
    st.markdown(STYLE, unsafe_allow_html=True)
    st.title("echo-search")
    st.caption("Two rankings of one collection side by side, all from the same model: echo and classical embeddings, "
               "BM25, hybrid, and the model's rerank.")
    try:
        searcher = cached_searcher(Settings.load())
        info = searcher.info()
    except Exception as exc:  # every failure becomes a message, never a traceback
        with st.sidebar:
            render_collection(None, None)
        show_error(exc)
        return
    with st.sidebar:
        render_collection(searcher, info)
        render_upload(searcher)
    render_upload_report()
    if info.points == 0:
        render_empty_state(searcher)
        return
    query, k, sources, instruction, shown = render_query_controls(info.sources, searcher.rankings)
    if not query:
        st.caption(f"{info.points} chunks from {info.files} files are ready to search.")
        return

    def ask(mode: Mode) -> SearchQuery:
        return SearchQuery(query, k, mode, sources or None, instruction)

    area = st.empty()
    try:
        result = answer(searcher, ask, shown, info.generation, area)
    except Exception as exc:
        area.empty()
        show_error(exc)
        return
    with area.container():
        render_results(result, query, shown)

main()
