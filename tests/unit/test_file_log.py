"""The file log's reading of its entries: a file's latest entry is its state."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from paylake.bronze.discovery import LandingFile
from paylake.bronze.file_log import FileLog, LogEntry, pending_files
from paylake.errors import IngestionError
from paylake.io.objects import LocalObjects

AT = datetime(2026, 3, 10, 6, 0)


def entry(name: str, day: int, action: str = "ingested", version: int | None = None) -> LogEntry:
    return LogEntry(name, date(2026, 3, day), f"sha-{name}", action, AT, table_version=version)


def test_a_files_latest_entry_is_its_state() -> None:
    log = FileLog(
        {
            "a_20260308.csv": entry("a_20260308.csv", 8, version=0),
            "a_20260309.csv": entry("a_20260309.csv", 9, "replay"),
            "a_20260310.csv": entry("a_20260310.csv", 10, "skipped"),
        }
    )
    assert set(log.done) == {"a_20260308.csv", "a_20260310.csv"}  # a replayed file is pending again
    assert log.latest_applied == date(2026, 3, 8)  # what SCD2 compares a snapshot with: loaded files only
    assert log.latest_received == date(2026, 3, 10)  # what freshness judges: a file set aside did arrive


def test_files_a_table_no_longer_holds_are_those_logged_after_its_version() -> None:
    log = FileLog(
        {
            "a_20260308.csv": entry("a_20260308.csv", 8, version=0),
            "a_20260309.csv": entry("a_20260309.csv", 9, version=3),
            "a_20260310.csv": entry("a_20260310.csv", 10, version=5),
            "old.csv": entry("old.csv", 7),  # logged before versions were recorded: never judged
        }
    )
    assert log.lost_by(5) == [] and log.lost_by(9) == []  # a rollback or maintenance adds versions
    assert [e.file_name for e in log.lost_by(4)] == ["a_20260310.csv"]
    assert [e.file_name for e in log.lost_by(None)] == ["a_20260308.csv", "a_20260309.csv", "a_20260310.csv"]


@pytest.mark.parametrize(
    ("name", "revision"),
    [
        ("a_20260310.csv", "a_20260310_v2.csv"),
        ("a_20260310_v2.csv", "a_20260310_v3.csv"),
        ("a_20260310", "a_20260310_v2"),
    ],
)
def test_a_changed_file_under_a_logged_name_is_refused_naming_the_revision_to_deliver(
    tmp_path: Path, name: str, revision: str
) -> None:
    path = tmp_path / name
    path.write_text("id\n1\n")
    file = LandingFile(str(path), name, date(2026, 3, 10), path.stat().st_size, LocalObjects(str(tmp_path)))
    assert pending_files([file], {}) == [(file, file.sha256())]
    with pytest.raises(IngestionError, match=f"already logged with sha256 sha-old.*deliver .* as .*{revision}"):
        pending_files([file], {name: "sha-old"})
