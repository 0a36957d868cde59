"""Write a BEIR corpus as one text file per document, so that `ingest` and `search eval retrieval` can use it.

    python bench/corpus_files.py SET_DIR

Reads SET_DIR/corpus.jsonl ({"_id", "title", "text"} per line) and writes SET_DIR/files/<id>.txt (title, a blank
line, text). `search eval retrieval` matches a qrels corpus id against the trailing part of a source path, so the
set's own qrels.tsv is written again as SET_DIR/qrels-files.tsv with "<id>.txt" ids. Then:

    ingest SET_DIR/files --collection NAME
    search eval retrieval --collection NAME --queries SET_DIR/queries.jsonl --qrels SET_DIR/qrels-files.tsv
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set_dir", type=Path)
    args = parser.parse_args()
    files = args.set_dir / "files"
    files.mkdir(exist_ok=True)
    count = 0
    for line in (args.set_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            text = "\n\n".join(part for part in (row.get("title"), row["text"]) if part)
            (files / f"{row['_id']}.txt").write_text(text + "\n", encoding="utf-8")
            count += 1
    with open(args.set_dir / "qrels.tsv", newline="") as src, \
            open(args.set_dir / "qrels-files.tsv", "w", newline="") as dst:
        rows = csv.reader(src, delimiter="\t")
        out = csv.writer(dst, delimiter="\t", lineterminator="\n")
        out.writerow(next(rows))
        out.writerows([query, f"{doc}.txt", score] for query, doc, score in rows)
    print(f"{count} documents written to {files}", file=sys.stderr)


if __name__ == "__main__":
    main()
