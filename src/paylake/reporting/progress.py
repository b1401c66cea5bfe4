"""Progress of a run per layer and table, on stderr (the summary blocks on stdout stay as they are).

On a terminal the running table's line ticks with its elapsed time and is replaced by its result; elsewhere (a
pipe, a log file, CI) each table gets a plain start line and a result line. Results carry rows/s.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TextIO

from paylake.records import TableResult


class Progress:
    """A :class:`~paylake.records.RunObserver` reporting table starts and results of layer runs to ``stream``."""

    def __init__(self, stream: TextIO | None, interactive: bool | None = None) -> None:
        self._stream = stream
        tty = stream is not None and stream.isatty() and not os.environ.get("CI")
        self._interactive = tty if interactive is None else interactive
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    def _write(self, text: str) -> None:
        if self._stream is not None:
            self._stream.write(text)
            self._stream.flush()

    def started(self, layer: str, table: str, index: int, total: int) -> None:
        """``table`` (number ``index`` of ``total`` in ``layer``) starts."""
        label = f"[{layer} {index}/{total}] {table}"
        if not self._interactive:
            self._write(f"{label}: running\n")
            return
        self._stop.clear()
        began = time.monotonic()

        def tick() -> None:
            while not self._stop.wait(0.5):
                self._write(f"\r{label}: running {time.monotonic() - began:.0f} s\x1b[K")

        self._write(f"{label}: running")
        self._ticker = threading.Thread(target=tick, daemon=True)
        self._ticker.start()

    def finished(self, layer: str, result: TableResult, index: int, total: int) -> None:
        """``result`` of table number ``index`` of ``total`` in ``layer``."""
        if self._ticker is not None:
            self._stop.set()
            self._ticker.join()
            self._ticker = None
        rate = f" ({result.rows_read / result.seconds:,.0f} rows/s)" if result.seconds > 0 and result.rows_read else ""
        held = f", {result.rows_held_back:,} held back" if result.rows_held_back else ""
        line = (
            f"[{layer} {index}/{total}] {result.table}: {result.status} {result.rows_read:,} rows read, "
            f"{result.rows_loaded:,} loaded, {result.rows_rejected:,} rejected{held} in {result.seconds:.1f} s{rate}"
        )
        self._write(("\r" if self._interactive else "") + line + ("\x1b[K\n" if self._interactive else "\n"))
