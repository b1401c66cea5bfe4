"""Named crash points in the write path, for recovery tests.

A test arms one point with ``PAYLAKE_FAULT=<point>@<where>``; the process then dies the first time it reaches
that point for ``<where>``: ``SIGKILL`` on itself, so no ``finally`` block, lock release or log flush runs, as
in a real crash. ``PAYLAKE_FAULT_ACTION=raise`` raises :class:`InjectedFault` instead (a ``BaseException``,
which no handler of paylake's catches), for tests that run the layers in their own process.

Points, with what ``<where>`` names:

* ``after_quarantine@bronze.<table>``: quarantine rows and DQ metrics written, the target not merged yet;
* ``after_target_merge@bronze.<table>``: the target merged, the file log not written yet;
* ``mid_write@<layer>.<table>``: inside a table write, after delta-rs took the first batch of data and before
  it commits (a gold partition replacement, a bronze merge, ...);
* ``between_layers@<layer>``: every earlier layer done, ``<layer>`` not started.

Unarmed, a point costs one environment lookup.
"""

from __future__ import annotations

import logging
import os
import signal

from paylake.errors import UsageError

logger = logging.getLogger(__name__)

ENV, ACTION_ENV = "PAYLAKE_FAULT", "PAYLAKE_FAULT_ACTION"
POINTS = ("after_quarantine", "after_target_merge", "mid_write", "between_layers")


class InjectedFault(BaseException):
    """An armed fault point was reached (``PAYLAKE_FAULT_ACTION=raise``)."""


def fault_point(point: str, where: str) -> None:
    """Die here if ``PAYLAKE_FAULT`` arms ``point`` for ``where``.

    Raises:
        UsageError: ``PAYLAKE_FAULT`` names no known point or lacks ``@<where>``.
        InjectedFault: the point is armed and ``PAYLAKE_FAULT_ACTION=raise``.
    """
    armed = os.environ.get(ENV)
    if not armed:
        return
    name, _, target = armed.partition("@")
    if name not in POINTS or not target:
        raise UsageError(f"{ENV}={armed!r}: expected <point>@<where> with a point of {', '.join(POINTS)}")
    if (name, target) != (point, where):
        return
    if os.environ.get(ACTION_ENV) == "raise":
        raise InjectedFault(f"{point}@{where}")
    logger.critical("fault point %s@%s: killing this process", point, where)
    os.kill(os.getpid(), signal.SIGKILL)
