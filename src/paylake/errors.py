"""One exception hierarchy for paylake, rooted at :class:`PaylakeError`.

The CLI maps these to exit codes: configuration and usage problems exit 2, data and run failures exit 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paylake.records import TableCounts


class PaylakeError(Exception):
    """Root of every error paylake raises on purpose.

    ``counts`` holds what the failed table's batch held when the failure came after its data-quality gate
    counted it (set by :func:`paylake.quality.gate.gated_write`), else None."""

    counts: TableCounts | None = None


@dataclass(frozen=True, order=True)
class ConfigIssue:
    """One problem found in a metadata file: which file, which key, and what is wrong."""

    file: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key or '<root>'}: {self.reason}"


class InvalidConfigError(PaylakeError):
    """Metadata could not be loaded; carries every issue found, not just the first."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues = sorted(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class UsageError(PaylakeError):
    """The command line asked for something impossible (unknown table, bad date, ...)."""


class IngestionError(PaylakeError):
    """A batch could not be ingested as a whole (bad header, re-delivered file, ...); names the file."""


class StaleInputError(IngestionError):
    """A feed's newest extract is older than its freshness allows (``freshness.on_stale: fail``)."""


class BuildError(PaylakeError):
    """A silver or gold table could not be built (missing input, output that breaks its contract)."""


class DataQualityError(PaylakeError):
    """A batch fell under its minimum data-quality pass rate and was held back whole."""


class StorageError(PaylakeError):
    """A file under a local or s3:// root could not be listed or read (missing bucket, access denied, ...)."""


class TableStoreError(PaylakeError):
    """A lake table could not be read or written."""


class LakeLockedError(PaylakeError):
    """Another live run holds the lake's lock; names it (exit code 3, so schedulers can retry later)."""


class StorageFullError(PaylakeError):
    """The lake's (or the staging area's) file system ran out of space during a write."""


_NO_SPACE = ("No space left on device", "os error 28", "ENOSPC")
# How Spark (PATH_NOT_FOUND, FileNotFoundException), Delta (DELTA_FILE_NOT_FOUND) and delta-rs (object store
# NotFound) say a data file is gone; the path is the first Parquet file named.
_MISSING = ("PATH_NOT_FOUND", "FileNotFoundException", "FILE_NOT_FOUND", "NotFound", "No such file or directory")
_PARQUET = re.compile(r"(?:file:)?(/\S+?\.parquet)")
_TABLE_FOLDER = re.compile(r"/(bronze|silver|gold|ops)/(\w+)/")


def storage_full(exc: BaseException, what: str) -> StorageFullError | None:
    """A :class:`StorageFullError` naming ``what`` failed when ``exc`` (or an exception it was raised from) says
    the disk is full, else None. Spark, delta-rs and Python each word it differently; all carry one of
    ``_NO_SPACE``."""
    seen: BaseException | None = exc
    while seen is not None:
        if (isinstance(seen, OSError) and seen.errno == 28) or any(text in str(seen) for text in _NO_SPACE):
            return StorageFullError(
                f"{what}: no space left on the device (disk full); free space and run again: a table is either "
                "as it was or holds the whole batch, and the next run goes on from there"
            )
        seen = seen.__cause__ or seen.__context__
    return None


def missing_data_file(exc: BaseException, what: str) -> TableStoreError | None:
    """A :class:`TableStoreError` naming the table whose data file is gone, the file, and what to do, when ``exc``
    (or an exception it was raised from) says a Parquet file of a table does not exist; else None."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen)
        path = _PARQUET.search(text)
        if path and any(marker in text for marker in _MISSING):
            folder = _TABLE_FOLDER.search(path.group(1))
            table = f"table {folder.group(1)}.{folder.group(2)}" if folder else "a table it reads"
            return TableStoreError(
                f"{what}: a data file of {table} is missing ({path.group(1)}), so this table was not written. "
                "Restore the file from a backup or copy of the lake, or roll that table back to a version from "
                "before the file was written (`paylake history`, `paylake rollback`), then run again "
                "(docs/operations.md)"
            )
        seen = seen.__cause__ or seen.__context__
    return None
