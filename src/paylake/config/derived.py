"""Metadata of a derived table (silver or gold): which tables it reads, which builder computes it, with which
parameters, and the data-quality rules its output must pass.

The builder's own parameter model types ``parameters``; the loader resolves builder and parameters when the
YAML is read (see :mod:`paylake.config.loader`), so a typo fails at load with the key path, never mid-run.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from paylake.config.base import StrictModel
from paylake.config.identifiers import Identifier
from paylake.config.quality import QualityConfig
from paylake.contract import AS_OF, STALE_INPUTS

_TABLE_NAME = re.compile(r"(bronze|silver|gold|ops)\.[a-z][a-z0-9_]{0,62}")
# Operational tables paylake writes itself; derived tables may read them (e.g. run statistics for a dashboard).
# Columns the runner adds to every derived table; builders and declared columns may not use these names.


def _check_table_name(value: str) -> str:
    if not _TABLE_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a table name; use <layer>.<table> with layer bronze, silver, gold or ops")
    return value


TableName = Annotated[str, AfterValidator(_check_table_name)]


class OutputColumn(StrictModel):
    """A documented output column; when columns are declared, the builder's output must have exactly these."""

    name: Identifier
    description: str | None = None


class DerivedTableConfig(StrictModel):
    """A silver or gold table computed by a registered builder from other lake tables as of a business date.

    Attributes:
        table: the table's name; must match its path ``<layer>/<table>/<table>.yaml``.
        builder: name of the registered builder function (see ``paylake validate`` for the available ones).
        inputs: builder argument -> ``<layer>.<table>`` it reads; must name exactly the builder's inputs.
        parameters: the builder's parameters, validated by its parameter model.
        primary_key: columns that identify a row; checked unique and not null on every build.
        partition_by: Delta partition columns of the output.
        cluster_by: columns ``paylake maintain`` Z-orders the table's files by, so filters on them skip files
            (not partition columns).
        columns: optional output contract: the builder's columns, in order, with descriptions.
        quality: rules on the output rows (same engine and actions as bronze).
        history_column: set for tables that keep every business date (e.g. daily scores): the date column the
            builder fills with ``as_of``; it must be a primary-key and partition column. A build then replaces
            only that date's partition, so re-running a date replaces it and other dates stay. Without it, a
            build replaces the whole table (it holds the latest business date only).
    """

    table: Identifier
    description: str | None = None
    builder: Identifier
    inputs: dict[Identifier, TableName] = Field(min_length=1)
    parameters: dict[str, Any] = Field(default_factory=dict)
    primary_key: list[Identifier] = Field(min_length=1)
    partition_by: list[Identifier] = Field(default_factory=list)
    cluster_by: list[Identifier] = Field(default_factory=list)
    columns: list[OutputColumn] = Field(default_factory=list)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    history_column: Identifier | None = None

    def input_tables(self) -> set[str]:
        """Every ``<layer>.<table>`` this table reads."""
        return set(self.inputs.values())

    def semantic_issues(self) -> list[tuple[str, str]]:
        """Cross-field problems as ``(key.path, reason)`` that need no other file."""
        issues: list[tuple[str, str]] = []
        names = [c.name for c in self.columns]
        for index, name in enumerate(names):
            if names.index(name) != index:
                issues.append((f"columns[{index}].name", f"duplicate column {name!r}"))
            if name in (AS_OF, STALE_INPUTS):
                issues.append((f"columns[{index}].name", f"{name!r} is added by paylake to every derived table"))
        if names:
            known = set(names) | {AS_OF}
            for key, used in [
                *[(f"primary_key[{i}]", c) for i, c in enumerate(self.primary_key)],
                *[(f"partition_by[{i}]", c) for i, c in enumerate(self.partition_by)],
                *[(f"cluster_by[{i}]", c) for i, c in enumerate(self.cluster_by)],
                *[(f"quality.rules[{i}]", c) for i, r in enumerate(self.quality.rules) for c in r.columns_used()],
            ]:
                if used not in known:
                    issues.append((key, f"unknown column {used!r}; declared columns: {', '.join(names)}"))
        for index, column in enumerate(self.cluster_by):
            if column in self.partition_by:
                issues.append((f"cluster_by[{index}]", f"{column!r} is a partition column; files never mix its values"))
        if self.history_column is not None:
            for key in ("primary_key", "partition_by"):
                if self.history_column not in getattr(self, key):
                    issues.append(("history_column", f"{self.history_column!r} must also be listed in {key}"))
        for index, rule in enumerate(self.quality.rules):
            if rule.type == "foreign_key":
                issues.append((f"quality.rules[{index}].type", "foreign_key rules apply to bronze tables only"))
        rule_names = [rule.rule_name for rule in self.quality.rules]
        for index, name in enumerate(rule_names):
            if rule_names.index(name) != index:
                issues.append((f"quality.rules[{index}].name", f"duplicate rule name {name!r}"))
        return issues
