"""PII masking in one place: what a masked value looks like, and the guard that keeps masked values out of bronze.

Analyst views show ``****`` (strings) or null (other types) to everybody outside the PII readers group. The job
must read the tables unmasked; if a column mask was put on a bronze table anyway (by hand, or by an older set-up),
the job's reads would return ``****`` and SCD2 would merge it back as a change, for good. :func:`refuse_masked`
stops that before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from paylake.errors import PaylakeError

MASKED_STRING = "****"


class MaskedPiiError(PaylakeError):
    """A PII column reads as masked for the job's identity; writing would store the mask."""


def masked_value(kind: str) -> str:
    """The SQL expression a non-reader sees in place of a column of Spark SQL type ``kind``."""
    return f"'{MASKED_STRING}'" if kind == "string" else f"CAST(NULL AS {kind})"


def refuse_masked(current: DataFrame, columns: Sequence[str], table: str, readers_group: str | None) -> None:
    """Raise if any of the string ``columns`` of ``current`` (the rows a merge is about to compare against) holds
    the mask. One pass over those rows; nothing is read when no column is given.

    Raises:
        MaskedPiiError: naming the table, the column and the group the job's identity needs.
    """
    strings = [c for c in columns if c in current.columns and dict(current.dtypes)[c] == "string"]
    if not strings:
        return
    found = current.select([F.max(F.col(c) == MASKED_STRING).alias(c) for c in strings]).first()
    masked = [c for c in strings if found is not None and found[c]]
    if masked:
        group = f" (group {readers_group!r})" if readers_group else ""
        raise MaskedPiiError(
            f"PII column {', '.join(masked)} of {table} reads as masked ({MASKED_STRING!r}) for this job's identity; "
            f"refusing to merge masked values back into the table. Remove the column mask from the table (paylake "
            f"masks PII on the analyst views only) or run the job as a member of the PII readers{group}."
        )
