"""Freshness of the bronze feeds: has each feed delivered what its ``freshness`` expects by the business date?

Judged from the newest extract date a feed has delivered (loaded or set aside, :attr:`FileLog.latest_received`):
by bronze when it loads a table (``on_stale: fail`` fails the table; ``warn`` loads what arrived), and again by
silver and gold before they build, over the feeds each table reads directly or through other tables. A derived
table does not build on a stale ``fail`` feed; on a stale ``warn`` feed it builds and its rows carry the feeds'
names in ``stale_inputs``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from paylake.bronze.discovery import LandingFile
from paylake.bronze.file_log import read_file_log
from paylake.config.bronze import BronzeTableConfig
from paylake.errors import StaleInputError
from paylake.lake.store import TableStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class StaleFeed:
    """A feed whose newest extract is older than its freshness allows on a business date."""

    table: str
    message: str
    on_stale: str


def lag(config: BronzeTableConfig, as_of: date, newest: date | None) -> StaleFeed | None:
    """The feed's staleness on ``as_of`` given the newest extract date it delivered, or None when fresh (or no
    freshness is expected)."""
    freshness = config.freshness
    due = as_of - timedelta(days=freshness.max_lag_days)
    if freshness.expected == "any" or (newest is not None and newest >= due):
        return None
    received = (
        f"the newest received is of {newest}, {(as_of - newest).days} day(s) before as of {as_of}"
        if newest
        else "no file was ever received"
    )
    message = (
        f"bronze/{config.table}: stale input: no file for extract date {due} (freshness: daily, max_lag_days "
        f"{freshness.max_lag_days}); {received}"
    )
    return StaleFeed(config.table, message, freshness.on_stale)


def stale_input(config: BronzeTableConfig, as_of: date, newest: date | None, waiting: Sequence[str] = ()) -> str | None:
    """Judge the table's freshness when bronze loads it; ``waiting`` names the files that wait for related feeds
    (:func:`wait_for_related`), which are not received yet.

    Returns:
        None when fresh (or no freshness is expected) and no file waits, else the warning.

    Raises:
        StaleInputError: stale, with ``on_stale: fail``; names the missing date, the newest received and the
            files that wait.
    """
    stale = lag(config, as_of, newest)
    message = "; ".join([*([stale.message] if stale else []), *waiting]) or None
    if stale is not None and stale.on_stale == "fail":
        raise StaleInputError(
            f"{message}. Nothing of it was loaded and the layers after bronze wait: deliver the file, or run an "
            "earlier --as-of"
        )
    if message:
        logger.warning("bronze.%s: %s", config.table, message)
    return message


def wait_for_related(
    pending: Sequence[tuple[LandingFile, str]], related: Mapping[str, date | None]
) -> tuple[list[tuple[LandingFile, str]], list[str]]:
    """Completeness across related feeds: the pending files that load now, and a note for each file that waits
    because a feed it is ``complete_with`` (``related``: name -> newest extract date delivered) has not delivered
    its extract date yet. A waiting file stays pending and loads with the run after that feed's file."""
    ready, waiting = [], []
    for file, checksum in pending:
        behind = sorted(name for name, newest in related.items() if newest is None or newest < file.extract_date)
        if behind:
            waiting.append(f"{file.name} waits for {', '.join(behind)} of {file.extract_date}")
        else:
            ready.append((file, checksum))
    return ready, waiting


def stale_feeds(store: TableStore, configs: Iterable[BronzeTableConfig], as_of: date) -> dict[str, StaleFeed]:
    """The stale feeds on ``as_of``, by table, as the file log has them. A feed that never logged a file is left to
    the derived build's own check (its bronze table does not exist yet)."""
    stale = {}
    for config in configs:
        if config.freshness.expected == "any":
            continue
        newest = read_file_log(store, config.table).latest_received
        judged = lag(config, as_of, newest) if newest is not None else None
        if judged is not None:
            stale[config.table] = judged
    return stale


def refuse_stale(table: str, feeds: Mapping[str, StaleFeed], reads: Iterable[str]) -> list[str]:
    """The stale feeds among the bronze tables ``table`` ``reads``, by name (its ``stale_inputs``).

    Raises:
        StaleInputError: one of them is stale under ``on_stale: fail``; names each and its newest extract.
    """
    stale = sorted(feeds[name] for name in set(reads) if name in feeds)
    failing = [feed.message for feed in stale if feed.on_stale == "fail"]
    if failing:
        raise StaleInputError(
            f"{table}: not built on stale inputs ({'; '.join(failing)}); deliver the files and run bronze, or run an "
            "earlier --as-of"
        )
    return [feed.table for feed in stale]
