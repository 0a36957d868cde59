"""Make sure a Chromium exists for the real-browser UI tests: `python -m tests.browser_setup`.

Uses Debian's `chromium` package (never `playwright install`, which downloads a browser build from outside the
package registries). Idempotent: when the browser is already there it only prints its version.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
HEADLESS_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu")
_APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def _as_root(cmd: list[str]) -> list[str]:
    """Prefix `sudo -n` when not root (and sudo exists); root runs the command as it is."""
    if os.geteuid() == 0:
        return cmd
    sudo = shutil.which("sudo")
    if sudo is None:
        raise RuntimeError(f"{CHROMIUM} is missing and installing it needs root: `apt-get install chromium` as root")
    return [sudo, "-n", *cmd]


def install_chromium() -> None:
    """`apt-get update` once, then `apt-get install -y chromium`, non-interactively."""
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{CHROMIUM} is missing and there is no apt-get here: install Chromium by hand")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]):
        print("browser_setup:", " ".join(cmd), flush=True)
        subprocess.run(_as_root(cmd), check=True, env=_APT_ENV)


def chromium_version() -> str:
    """What `chromium --version` prints, e.g. 'Chromium 140.0.7339.185 built on Debian ...'."""
    done = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def check_headless() -> None:
    """Start the browser headless once on about:blank, so missing libraries show up here, not in a UI test."""
    cmd = [str(CHROMIUM), *HEADLESS_FLAGS, "--dump-dom", "about:blank"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or "<body" not in done.stdout:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{CHROMIUM} did not render about:blank headless (exit {done.returncode}):\n{tail}")


def ensure_chromium() -> str:
    """Install Chromium when missing, check that it starts headless; return its version line."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        print(f"browser_setup: {CHROMIUM} not found, installing Debian chromium", flush=True)
        install_chromium()
        if not CHROMIUM.is_file():
            raise RuntimeError(f"apt-get installed chromium but {CHROMIUM} is still missing")
    check_headless()
    return chromium_version()


def main() -> int:
    try:
        version = ensure_chromium()
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        print(f"browser_setup: error: {exc}", file=sys.stderr)
        return 1
    print(f"browser_setup: {CHROMIUM}: {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
