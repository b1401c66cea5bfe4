"""Where a bronze table's landing files are: the landing zone, and each table's files up to ``as_of`` by name
(extract date and revision), oldest first."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from paylake.config.bronze import BronzeTableConfig
from paylake.io.objects import ObjectStore, open_objects

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LandingZone:
    """Where landing files are, and where a local Spark reads copies of remote ones from.

    ``staging`` is None where Spark reads the files in place (a local landing zone, or S3 on Databricks).
    """

    objects: ObjectStore
    staging: Path | None = None
    settle_seconds: int = 0


@dataclass(frozen=True)
class LandingFile:
    """One landing file of a table, its extract date and revision (from its name; ``_v2`` corrects revision 1)."""

    path: str
    name: str
    extract_date: date
    size_bytes: int
    objects: ObjectStore = field(compare=False, repr=False)
    revision: int = 1
    modified: datetime | None = None

    def sha256(self) -> str:
        """Checksum of the file's bytes."""
        return self.objects.sha256(self.path)


def discover_files(landing: LandingZone | str, config: BronzeTableConfig, as_of: date) -> list[LandingFile]:
    """Files of ``config``'s table dated on or before ``as_of``, oldest first (a date's corrections after it).

    Files whose names do not follow the table's pattern are logged and left alone.
    """
    objects = landing.objects if isinstance(landing, LandingZone) else open_objects(landing)
    pattern = config.source.file_regex(config.table)
    found = []
    for item in objects.list(config.source_path):
        match = pattern.fullmatch(item.name)
        if match is None:
            logger.warning("ignoring %s: name does not match %s", item.path, config.source.file_name)
            continue
        try:
            extract_date = datetime.strptime(match.group("date"), config.source.date_format).date()
        except ValueError:
            logger.warning("ignoring %s: %r is not a valid date", item.path, match.group("date"))
            continue
        if extract_date <= as_of:
            revision = int(match.group("revision") or 1)
            found.append(LandingFile(item.path, item.name, extract_date, item.size, objects, revision, item.modified))
    return sorted(found, key=lambda f: (f.extract_date, f.revision, f.name))


def unclaimed_files(landing: LandingZone, configs: Iterable[BronzeTableConfig]) -> list[str]:
    """Landing files outside every table's folder (a feed no metadata describes, or a misplaced file)."""
    claimed = {config.source_path.strip("/") for config in configs}
    root = landing.objects.root
    root = root.rstrip("/") if root.startswith("s3://") else str(Path(root))  # as the store spells its paths
    unclaimed = []
    for item in landing.objects.list("", recursive=True):
        folder = item.path[len(root) :].strip("/").rpartition("/")[0]
        if folder not in claimed:
            unclaimed.append(item.path)
    return unclaimed


def settled(files: Sequence[LandingFile], landing: LandingZone, now: datetime) -> list[LandingFile]:
    """The files not changed in the last ``landing.settle_seconds`` before ``now``: a younger file may still be
    being written, so it is left (with a warning) for a later run. ``settle_seconds`` 0 takes every file."""
    if landing.settle_seconds <= 0:
        return list(files)
    cutoff = now - timedelta(seconds=landing.settle_seconds)
    young = {f.name for f in files if f.modified is not None and f.modified > cutoff}
    for file in files:
        if file.name in young:
            logger.warning(
                "%s: changed %s, less than landing_settle_seconds (%d s) ago; it may still be being written, so it "
                "is left for a later run",
                file.path,
                f"{file.modified:%Y-%m-%d %H:%M:%S} UTC",
                landing.settle_seconds,
            )
    return [f for f in files if f.name not in young]
