"""Write a one-relevant-document-per-query retrieval set in the BEIR layout (shared by the dev-set builders)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path


def write_set(out: Path, rows: Sequence[tuple[str, str, str]], distractors: Sequence[tuple[str, str]] = ()) -> None:
    """OUT/corpus.jsonl, OUT/queries.jsonl and OUT/qrels.tsv from (id, query, document text) rows: the query and
    its one relevant document share the id. `distractors`, (id, text), are corpus documents no query is judged on."""
    out.mkdir(parents=True, exist_ok=True)
    documents = [(doc_id, text) for doc_id, _, text in rows] + list(distractors)
    with open(out / "corpus.jsonl", "w") as f:
        f.writelines(json.dumps({"_id": doc_id, "title": "", "text": text}) + "\n" for doc_id, text in documents)
    with open(out / "queries.jsonl", "w") as f:
        f.writelines(json.dumps({"_id": doc_id, "text": query}) + "\n" for doc_id, query, _ in rows)
    with open(out / "qrels.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        f.writelines(f"{doc_id}\t{doc_id}\t1\n" for doc_id, _, _ in rows)
