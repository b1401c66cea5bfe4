"""Shared pydantic base and column models used by every layer's metadata."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator

from paylake.config.identifiers import Identifier

_SIMPLE_TYPES = {
    "string": "string",
    "int": "int",
    "integer": "int",
    "bigint": "bigint",
    "long": "bigint",
    "double": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}
_DECIMAL = re.compile(r"decimal\((\d{1,2}),\s*(\d{1,2})\)")


class StrictModel(BaseModel):
    """Immutable model that rejects unknown keys, so a typo in YAML is an error, not a silent default, and numbers
    that are not finite (YAML's ``.nan``, ``.inf``, or ``1e400``, which overflows to infinity)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def spark_type(declared: str) -> str:
    """Return the Spark DDL type for a declared column type, or raise ``ValueError`` listing the valid ones."""
    name = declared.strip().lower()
    if name in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[name]
    match = _DECIMAL.fullmatch(name)
    if match and 0 < int(match.group(1)) <= 38 and int(match.group(2)) <= int(match.group(1)):
        return f"decimal({match.group(1)},{match.group(2)})"
    raise ValueError(
        f"unknown column type {declared!r}; expected one of {', '.join(sorted(_SIMPLE_TYPES))} "
        "or decimal(precision,scale) with precision <= 38"
    )


class ColumnConfig(StrictModel):
    """A typed column of a landing file or a table."""

    name: Identifier
    type: str
    nullable: bool = True
    description: str | None = None
    pii: bool = False  # personal data: masked for analysts in Unity Catalog (see `paylake uc-sql`)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return spark_type(value)
