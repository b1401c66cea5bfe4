"""Data-quality rule models. Each rule type maps to one check function in :mod:`paylake.quality.rules`."""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import Field, field_validator, model_validator

from paylake.config.base import StrictModel
from paylake.config.identifiers import Identifier

Action = Literal["reject", "flag"]
# Expression rules are SQL by design; these keep them to a single boolean expression over the row.
_FORBIDDEN_IN_EXPRESSIONS = re.compile(r";|--|/\*|\b(select|insert|update|delete|drop|merge|create|alter)\b", re.I)


class _Rule(StrictModel):
    type: str
    name: Identifier | None = None
    action: Action = "reject"
    description: str | None = None

    @property
    def rule_name(self) -> str:
        """The rule's name in quarantine, flags and metrics: ``name`` or ``<type>_<column>``."""
        return self.name or self.default_name()

    def default_name(self) -> str:
        raise NotImplementedError

    def columns_used(self) -> tuple[str, ...]:
        """Columns of the checked table this rule reads (checked against the table's columns at load)."""
        raise NotImplementedError


class _ColumnRule(_Rule):
    column: Identifier

    def default_name(self) -> str:
        return f"{self.type}_{self.column}"

    def columns_used(self) -> tuple[str, ...]:
        return (self.column,)


class NotNullRule(_ColumnRule):
    """The column must have a value."""

    type: Literal["not_null"]


class UniqueRule(_Rule):
    """The columns identify one row within an extract file; repeats after the first are violations."""

    type: Literal["unique"]
    columns: list[Identifier] = Field(min_length=1)

    def default_name(self) -> str:
        return "unique_" + "_".join(self.columns)

    def columns_used(self) -> tuple[str, ...]:
        return tuple(self.columns)


class RangeRule(_ColumnRule):
    """A numeric or date column lies within ``min``/``max`` (inclusive). Nulls pass: use not_null for them."""

    type: Literal["range"]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> RangeRule:
        if self.min is None and self.max is None:
            raise ValueError("a range rule needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class AllowedValuesRule(_ColumnRule):
    """The column's value is one of ``values``. Nulls pass."""

    type: Literal["allowed_values"]
    values: list[str | int | float | bool] = Field(min_length=1)


class RegexRule(_ColumnRule):
    """The column's text matches ``pattern`` as a whole. Nulls pass."""

    type: Literal["regex"]
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from exc
        return value


class DateOrderRule(_ColumnRule):
    """``column`` is on or before ``later_column`` (strictly before with ``allow_equal: false``)."""

    type: Literal["date_order"]
    later_column: Identifier
    allow_equal: bool = True

    def default_name(self) -> str:
        return f"date_order_{self.column}_{self.later_column}"

    def columns_used(self) -> tuple[str, ...]:
        return (self.column, self.later_column)


class Reference(StrictModel):
    """The referenced bronze table and its key column."""

    table: Identifier
    column: Identifier


class ForeignKeyRule(_ColumnRule):
    """The value exists as a key of ``references.table`` on the row's extract date. Nulls pass."""

    type: Literal["foreign_key"]
    references: Reference

    def default_name(self) -> str:
        return f"fk_{self.column}_{self.references.table}"


class ExpressionRule(_Rule):
    """A boolean Spark SQL expression over the row's columns; rows where it is false fail."""

    type: Literal["expression"]
    name: Identifier
    expression: str
    columns: list[Identifier] = Field(default_factory=list, description="columns the expression reads")

    @field_validator("expression")
    @classmethod
    def _single_expression(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expression is empty")
        if _FORBIDDEN_IN_EXPRESSIONS.search(value):
            raise ValueError("expression must be a single boolean expression (no statements, subqueries or comments)")
        return value

    def default_name(self) -> str:
        return self.name

    def columns_used(self) -> tuple[str, ...]:
        return tuple(self.columns)


Rule = Annotated[
    NotNullRule
    | UniqueRule
    | RangeRule
    | AllowedValuesRule
    | RegexRule
    | DateOrderRule
    | ForeignKeyRule
    | ExpressionRule,
    Field(discriminator="type"),
]
# Every rule type, read off the union's members (each model's ``type`` literal), so it is declared once.
RULE_TYPES = frozenset(get_args(model.model_fields["type"].annotation)[0] for model in get_args(get_args(Rule)[0]))


class QualityConfig(StrictModel):
    """The data-quality gate of one table."""

    min_pass_rate: float = Field(default=0.95, ge=0.0, le=1.0)
    rules: list[Rule] = Field(default_factory=list)
