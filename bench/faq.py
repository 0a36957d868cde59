"""Build a question-answering retrieval set from the FAQ files of this machine's Debian packages (BEIR layout).

    python bench/faq.py OUT [--split dev|test] [--min-words 40]

Every plain-text FAQ under /usr/share/doc (`FAQ`, `00FAQ`, `faq.txt`, `sedfaq.txt`, gzipped or not; lsof, sed,
zlib, xz, procps, valgrind, man-db, base-files on a Debian 12 machine) is cut into question/answer pairs: a
question is a line of at least four words that ends with "?" (numbering such as "3.2", "Q:" or a bullet in front
of it is dropped), its answer the text up to the next question. Pairs whose answer has fewer than `--min-words`
words (tables of contents, one-liners) are dropped, and a question asked twice keeps its longest answer.

Query: the question as written ("Why doesn't lsof report text file information?"); document: its answer, a
passage of tens to hundreds of words. The split is by a hash of the question, about half each: `dev` for choices
(layer, centering, fusion), `test` never used for a choice. Each split's corpus holds only its own answers.
Writes OUT/corpus.jsonl, OUT/queries.jsonl and OUT/qrels.tsv.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import re
import sys
from pathlib import Path

from beir import write_set  # bench/beir.py, beside this file

DOCS = Path("/usr/share/doc")
QUESTION = re.compile(r"^\s*(?:Q\s*[:.]|\d+(?:\.\d+)*[.)]?|[-*]|\(\d+\))?\s*([A-Z][^\n]{8,200}\?)\s*$")


def faq_files(root: Path = DOCS) -> list[Path]:
    """Plain-text FAQ files under `root`, sorted (HTML copies left out)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and re.search(r"faq", p.name, re.I)
                  and ".htm" not in p.name)


def pairs(path: Path, min_words: int) -> list[tuple[str, str]]:
    """(question, answer) pairs of one FAQ file, answers of at least `min_words` words."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", errors="replace") as f:
        lines = f.read().splitlines()
    starts = [(i, m.group(1)) for i, line in enumerate(lines) if (m := QUESTION.match(line))]
    ends = [i for i, _ in starts[1:]] + [len(lines)]
    out = []
    for (start, question), end in zip(starts, ends[:len(starts)], strict=True):
        answer = re.sub(r"\n{3,}", "\n\n", "\n".join(" ".join(line.split()) for line in lines[start + 1:end]))
        if len(question.split()) >= 4 and len(answer.split()) >= min_words:
            out.append((" ".join(question.split()), answer.strip()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--split", choices=["dev", "test"], default="dev")
    parser.add_argument("--min-words", type=int, default=40)
    args = parser.parse_args()
    best: dict[str, tuple[str, str, str]] = {}
    for path in faq_files():
        package = path.relative_to(DOCS).parts[0]
        for question, answer in pairs(path, args.min_words):
            key = question.lower()
            if key not in best or len(answer) > len(best[key][2]):
                best[key] = (package, question, answer)
    rows = []
    for key, (package, question, answer) in sorted(best.items()):
        digest = hashlib.sha1(key.encode()).hexdigest()
        if (int(digest[0], 16) < 8) == (args.split == "dev"):
            rows.append((f"{package}-{digest[:10]}", question, answer))
    write_set(args.out, rows)
    print(f"{len(rows)} question/answer pairs ({args.split}) written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
