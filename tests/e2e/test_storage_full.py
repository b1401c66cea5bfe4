"""A lake whose disk fills mid-run: the run stops with a one-line error naming what it was writing (no
traceback), and once space is freed a plain re-run gives the tables of an uninterrupted run.

The lake lives on a tmpfs mounted for the test, sized at half of what the uninterrupted run writes, then grown
in place (``mount -o remount``). Mounting needs root; elsewhere the test is skipped with that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from lakes import lake_contents, paylake_in_process
from paylake.datagen.generator import GeneratorConfig, write_landing

DAY = date(2026, 3, 10)


def _mount(target: Path, size: str, remount: bool = False) -> subprocess.CompletedProcess[str]:
    options = f"remount,size={size}" if remount else f"size={size}"
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, text=True, check=False
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A mount point for a tmpfs, unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root and mount(8)")
    point = tmp_path / "small"
    point.mkdir()
    yield point
    subprocess.run(["umount", str(point)], capture_output=True, check=False)


def _bytes_under(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def test_a_full_disk_fails_the_run_in_one_line_and_a_rerun_with_space_converges(
    repo: Path, tmp_path: Path, small_disk: Path
) -> None:
    landing, reference = tmp_path / "landing", tmp_path / "reference"
    write_landing(GeneratorConfig(accounts=40, skus=5, days=3, end=DAY, seed=11, history_days=10), landing)
    arguments = ("run", "bronze", "--as-of", DAY.isoformat(), "--landing", str(landing))
    assert paylake_in_process(repo, *arguments, "--lake", str(reference)).returncode == 0
    needed = _bytes_under(reference)
    mounted = _mount(small_disk, f"{needed // 2 // 1024}k")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    lake = small_disk / "lake"

    full = paylake_in_process(repo, *arguments, "--lake", str(lake))
    printed = full.stdout + full.stderr
    assert full.returncode == 1, printed[-3000:]
    assert "no space left on the device (disk full); free space and run again" in full.stderr, printed[-3000:]
    assert "Traceback" not in printed

    assert _mount(small_disk, "64m", remount=True).returncode == 0
    again = paylake_in_process(repo, *arguments, "--lake", str(lake))
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert lake_contents(lake) == lake_contents(reference)
