"""Build a long-passage retrieval set from this machine's manual pages (headline -> article, BEIR layout).

    python bench/manpages.py OUT [--pages 48] [--min-tokens 1600] [--split dev|test]

Each section-1 manual page with a one-line NAME description of at least four words and a body (DESCRIPTION
onwards) of at least `--min-tokens` tokens of the packaged model's tokenizer is a candidate (gcloud's generated
pages excluded); candidates are ordered by a hash of their name, so the set depends only on which pages are
installed. The first `--pages` make the `dev` split (for choices: window handling, layer, centering,
quantization), the next `--pages` the `test` split (never used for a choice). Query: the NAME description
without the command name ("list directory contents"); document: the rendered page from DESCRIPTION on.
Writes OUT/corpus.jsonl, OUT/queries.jsonl and OUT/qrels.tsv.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beir import write_set  # noqa: E402 - bench/beir.py, beside this file
from transformers import AutoTokenizer  # noqa: E402

from embedder.loading import resolve  # noqa: E402

MAN1 = Path("/usr/share/man/man1")
EXCLUDED = ("gcloud",)
"""Thousands of near-identical generated pages (one per gcloud subcommand) would crowd out everything else."""


def render(page: Path) -> str:
    """The page as plain text (man's own formatter, no pager, no hyphenation or justification)."""
    env = {**os.environ, "MANWIDTH": "100", "MAN_KEEP_FORMATTING": "0"}
    out = subprocess.run(["man", "--nh", "--nj", "-l", str(page)], capture_output=True, text=True, env=env,
                         timeout=30, check=False).stdout
    return re.sub(r".\x08", "", out)


def name_line(page: Path) -> str | None:
    """The NAME section's description ("list directory contents"), read from the roff source."""
    opener = gzip.open if page.suffix == ".gz" else open
    try:
        with opener(page, "rt", errors="replace") as f:
            source = f.read(20_000)
    except OSError:
        return None
    match = re.search(r"^\.SH\s+\"?NAME\"?\s*\n(.+?)(?=\n\.S[HS])", source, re.S | re.M)
    if not match:
        return None
    text = re.sub(r"\\f[BIRP]|\\&|\\\(em|\\-", lambda m: "-" if m.group() == "\\-" else "", match.group(1))
    text = " ".join(line for line in text.splitlines() if not line.startswith("."))
    parts = re.split(r"\s+-+\s+", text, maxsplit=1)
    return " ".join(parts[1].split()) if len(parts) == 2 else None


def body(rendered: str) -> str:
    """The rendered page from DESCRIPTION on (NAME and SYNOPSIS dropped), paragraphs kept, indentation squeezed."""
    start = rendered.find("\nDESCRIPTION")
    text = rendered[start + 1 :] if start >= 0 else rendered
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--pages", type=int, default=48)
    parser.add_argument("--min-tokens", type=int, default=1600)
    parser.add_argument("--split", choices=["dev", "test"], default="dev")
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(resolve(None)[0])
    pages = sorted(MAN1.iterdir(), key=lambda p: hashlib.sha1(p.name.encode()).hexdigest())
    skip = 0 if args.split == "dev" else args.pages
    rows: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for page in pages:
        if page.name.startswith(EXCLUDED):
            continue
        description = name_line(page)
        if not description or len(description.split()) < 4 or description.lower() in seen:
            continue
        text = body(render(page))
        if len(tokenizer(text, add_special_tokens=False)["input_ids"]) < args.min_tokens:
            continue
        seen.add(description.lower())
        if skip:
            skip -= 1
            continue
        rows.append((page.name.split(".")[0], description, text))
        if len(rows) == args.pages:
            break
    write_set(args.out, rows)
    print(f"{len(rows)} pages ({args.split}) written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
