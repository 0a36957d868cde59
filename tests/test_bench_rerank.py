"""bench/rerank.py runs without a dev set (as bench/gpu.sh runs it on a CUDA machine) and cuts the passages to
each budget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "rerank.py"


def test_drawn_passages_are_cut_to_each_budget(tied_model_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--model", str(tied_model_dir), "--device", "cpu", "--queries", "2",
         "--candidates", "4", "--passage-tokens", "8,24", "--json"],
        capture_output=True, text=True, timeout=300, check=True,
    )
    report = json.loads(out.stdout)
    assert report["env"]["device"] == "cpu"
    small, large = report["rows"]
    assert (small["passage_tokens"], large["passage_tokens"]) == (8, 24)
    assert small["queries"] == large["queries"] == 2  # the warm-up question is not counted
    # 400-word passages are always longer than the budget: 4 rows, each 16 passage tokens wider
    assert large["tokens_per_forward"] - small["tokens_per_forward"] == 4 * 16
    assert small["p50_ms"] > 0 and abs(small["per_candidate_ms"] * 4 - small["p50_ms"]) <= 1
