"""Evaluation results: one row per method, rendered as a terminal table, JSON, or a grouped bar chart."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table


@dataclass
class Row:
    method: str
    description: str
    scores: dict[str, float]
    """Metric -> value x 100; with several wordings, the mean over them."""
    spread: dict[str, float] = field(default_factory=dict)
    """Metric -> standard deviation over the wordings (empty with one wording)."""
    per_wording: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    index_seconds: float | None = None
    """Retrieval: seconds to embed the collection's chunks in memory (re-embedded rows only; the stored rows' vectors
    were made by `ingest`)."""
    ms_per_query: float | None = None
    """Retrieval: milliseconds per query, its embedding and ranking included."""
    note: str = ""
    """Why the method has no scores (e.g. the model cannot run bidirectionally)."""


@dataclass
class Report:
    task: str
    model: str
    dataset: str
    size: int
    """Pairs, triples or queries evaluated."""
    metrics: list[str]
    rows: list[Row] = field(default_factory=list)
    wordings: int = 1
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def table(report: Report) -> Table:
    """A rich table: methods down, metrics across; `mean ± std` in prompt-sensitivity mode."""
    spread = report.wordings > 1
    title = f"{report.task} - {report.dataset} ({report.size}) - {report.model}"
    if spread:
        title += f" - mean ± std over {report.wordings} prompt wordings"
    out = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    out.add_column("method", style="bold")
    for metric in report.metrics:
        out.add_column(metric, justify="right")
    out.add_column("seconds", justify="right", style="dim")
    costs = _has_costs(report)
    if costs:
        out.add_column("ms/query", justify="right", style="dim")
        out.add_column("index s", justify="right", style="dim")
    for row in report.rows:
        if row.note:
            cells = ["-"] * len(report.metrics)
        else:
            cells = [
                f"{row.scores[m]:.1f} ± {row.spread[m]:.1f}" if spread else f"{row.scores[m]:.1f}"
                for m in report.metrics
            ]
        out.add_row(row.method, *cells, "" if row.note else f"{row.seconds:.0f}", *(_costs(row) if costs else []))
    return out


def _has_costs(report: Report) -> bool:
    return any(r.ms_per_query is not None or r.index_seconds is not None for r in report.rows)


def _costs(row: Row) -> list[str]:
    """ms per query and indexing seconds as cells ("" where not measured)."""
    return ["" if row.ms_per_query is None else f"{row.ms_per_query:.0f}",
            "" if row.index_seconds is None else f"{row.index_seconds:.0f}"]


def legend(report: Report) -> list[str]:
    """One line per method: what it is, or why it has no scores."""
    return [f"{row.method}: {row.note or row.description}" for row in report.rows]


def markdown(report: Report) -> str:
    """The same table as GitHub markdown (for docs)."""
    spread = report.wordings > 1
    costs = _has_costs(report)
    extra = ["ms/query", "index s"] if costs else []
    lines = ["| method | " + " | ".join(report.metrics + extra) + " | what it is |",
             "| --- | " + " | ".join("---:" for _ in report.metrics + extra) + " | --- |"]
    for row in report.rows:
        cells = ["-" if row.note else (f"{row.scores[m]:.1f} ± {row.spread[m]:.1f}" if spread
                                       else f"{row.scores[m]:.1f}") for m in report.metrics]
        cells += _costs(row) if costs else []
        lines.append(f"| {row.method} | " + " | ".join(cells) + f" | {row.note or row.description} |")
    return "\n".join(lines)


def plot(report: Report, path: Path) -> None:
    """A grouped bar chart (methods on the x axis, one bar per metric, error bars in prompt mode) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.rows if not r.note]
    width = 0.8 / max(1, len(report.metrics))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(rows) + 2), 4.5))
    for j, metric in enumerate(report.metrics):
        xs = [i + (j - (len(report.metrics) - 1) / 2) * width for i in range(len(rows))]
        errors = [r.spread.get(metric, 0.0) for r in rows] if report.wordings > 1 else None
        bars = ax.bar(xs, [r.scores[metric] for r in rows], width, yerr=errors, capsize=3, label=metric)
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax.set_xticks(range(len(rows)), [r.method for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("score x 100")
    ax.set_title(f"{report.task}: {report.dataset} ({report.size}), {report.model}", fontsize=10)
    if len(report.metrics) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
