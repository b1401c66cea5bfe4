"""Headless Chromium (the Debian ``chromium`` package) for the dashboard: render a page from disk with no
network, read the DOM scripts produced, take a screenshot."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from paylake.errors import UsageError

# No network, no first-run or background traffic: the page is self-contained and must render offline.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def chromium() -> str | None:
    """The Chromium executable on PATH, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    binary = chromium()
    if binary is None:
        raise UsageError("Chromium not found: install the Debian package 'chromium' (or run `make browser`)")
    with tempfile.TemporaryDirectory(prefix="paylake-chromium-") as profile:
        run = subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=180,
        )
    if run.returncode != 0:
        raise UsageError(f"{page}: Chromium exited with {run.returncode}: {run.stderr.strip()[-500:]}")
    return run


def dump_dom(page: Path) -> tuple[str, str]:
    """The page's DOM after its scripts ran, and Chromium's stderr (console messages)."""
    run = _run(page, "--enable-logging=stderr", "--v=0", "--dump-dom")
    return run.stdout, run.stderr


def screenshot(page: Path, out: Path, width: int = 1400, height: int = 2400) -> Path:
    """Write a PNG of the rendered page to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    _run(page, "--hide-scrollbars", f"--window-size={width},{height}", f"--screenshot={out.resolve()}")
    if not out.exists() or out.read_bytes()[:8] != PNG_MAGIC:
        raise UsageError(f"{out}: Chromium wrote no PNG screenshot of {page}")
    return out
