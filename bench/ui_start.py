"""What the UI costs now that it is a client of a search service: start time and memory of each process.

    python bench/ui_start.py [--data-dir DIR] [--runs 3] [--json]

Starts `search-ui --headless` on an ingested data folder (ingest something first: `ingest ./docs`) with no service
running, and measures, per run: the seconds until the search service it starts answers `/health` (store opened,
model loaded and warmed), until the page answers, and until a first question is answered through the service; then
the resident memory (VmRSS, and VmHWM the peak) of the Streamlit process and of the service process, and whether
the Streamlit process loaded torch. Prints the CPU capability with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _memory_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def _wait(check, timeout: float = 600.0) -> float:  # noqa: ANN001 - a callable returning bool
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            if check():
                return time.perf_counter() - start
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise TimeoutError("no answer")


def one_run(env: dict[str, str]) -> dict[str, object]:
    port = _free_port()
    announcement = Path(env["ECHO_SEARCH_DATA"]) / "qdrant" / "service.json"
    t0 = time.perf_counter()
    ui = subprocess.Popen([sys.executable, "-m", "ui.launch", "--headless", "--address", "127.0.0.1", "--port",
                           str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        service_s = _wait(lambda: httpx.get(json.loads(announcement.read_text())["url"] + "/health",
                                            timeout=2).status_code == 200)
        url = json.loads(announcement.read_text())["url"]
        _wait(lambda: httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).text == "ok")
        page_s = time.perf_counter() - t0
        answer = httpx.post(f"{url}/search", json={"query": "how do I start the search service", "k": 5},
                            timeout=120)
        answered_s = time.perf_counter() - t0
        answer.raise_for_status()
        service_pid = int(json.loads(announcement.read_text())["pid"])
        maps = Path(f"/proc/{ui.pid}/maps").read_text()
        return {"service_ready_s": round(service_s, 2), "page_ready_s": round(page_s, 2),
                "first_answer_s": round(answered_s, 2),
                "ui_process_mb": _memory_mb(ui.pid), "service_process_mb": _memory_mb(service_pid),
                "ui_loaded_torch": "libtorch" in maps}
    finally:
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=60)
        _wait(lambda: not announcement.exists(), timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="data folder (default: ECHO_SEARCH_DATA or the default)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    env = dict(os.environ)
    sys.path.insert(0, str(ROOT))
    from search.settings import Settings

    data = Path(args.data_dir).expanduser() if args.data_dir else Settings.load().store.data_dir()
    env["ECHO_SEARCH_DATA"] = str(data)
    import torch

    runs = [one_run(env) for _ in range(args.runs)]
    result = {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "runs": runs}
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
