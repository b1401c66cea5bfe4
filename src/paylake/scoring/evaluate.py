"""Compute derived tables in memory as of any business date, straight from bronze history.

The daily run writes each layer and the next reads it back; on-demand scoring and the backtest need the same
numbers without writing anything (and for dates never run). :class:`Evaluator` walks the same metadata, calls
the same builders and drops the same rejected rows, so a table it computes equals what the daily run writes
for that date (apart from the audit columns). Bronze is read once and reused across dates; a restriction
(e.g. one account) can be pushed into the bronze reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from paylake.config.loader import DerivedMetadata
from paylake.contract import TableRef
from paylake.errors import BuildError
from paylake.lake.store import TableStore
from paylake.pipeline.build import accepted_rows

# Narrows a stored (bronze) table before any builder sees it: (table reference, its rows, raw reader) -> rows.
Restriction = Callable[[TableRef, DataFrame, Callable[[TableRef], DataFrame]], DataFrame]


def for_account(account_id: str) -> Restriction:
    """Keep only what one account's features depend on: its rows, and the rows of the invoices it ever had.

    Relies on the data contract: account-level tables carry ``account_id``, invoice-level ones ``invoice_id``.
    Catalog tables (neither column) are kept whole.
    """

    def restrict(ref: TableRef, df: DataFrame, read: Callable[[TableRef], DataFrame]) -> DataFrame:
        del ref
        if "invoice_id" in df.columns:
            invoices = read(TableRef("bronze", "invoices"))
            ids = invoices.where(F.col("account_id") == account_id).select("invoice_id").distinct()
            return df.join(ids, "invoice_id", "left_semi")
        if "account_id" in df.columns:
            return df.where(F.col("account_id") == account_id)
        return df

    return restrict


class Evaluator:
    """Computes ``<layer>.<table>`` of the derived layers in ``metadata`` as of a date, without writing."""

    def __init__(
        self,
        store: TableStore,
        metadata: Mapping[str, DerivedMetadata],
        restriction: Restriction | None = None,
    ) -> None:
        self._store = store
        self._metadata = metadata
        self._restriction = restriction
        self._stored: dict[TableRef, DataFrame] = {}

    def _read(self, ref: TableRef) -> DataFrame:
        if ref not in self._stored:
            if not self._store.exists(ref):
                raise BuildError(f"table {ref} does not exist yet; run the {ref.layer} layer first")
            self._stored[ref] = self._store.read(ref)
        return self._stored[ref]

    def table(self, name: str, as_of: date, _memo: dict[str, DataFrame] | None = None) -> DataFrame:
        """``name`` (``<layer>.<table>``) as the daily run would build it on ``as_of``.

        Tables of the layers in ``metadata`` are computed from their inputs; any other table is read from the
        store (restricted, if a restriction was given).

        Raises:
            BuildError: a stored input table does not exist.
        """
        memo = {} if _memo is None else _memo
        if name in memo:
            return memo[name]
        layer, table = name.split(".", 1)
        derived = self._metadata.get(layer)
        if derived is None or table not in derived.tables:
            ref = TableRef(layer, table)  # type: ignore[arg-type]  # validated by the metadata loader
            raw = self._read(ref)
            memo[name] = raw if self._restriction is None else self._restriction(ref, raw, self._read)
            return memo[name]
        spec = derived.tables[table]
        inputs = {argument: self.table(source, as_of, memo) for argument, source in spec.config.inputs.items()}
        output = spec.builder.build(inputs, spec.params, as_of)
        memo[name] = accepted_rows(spec, output)
        return memo[name]
