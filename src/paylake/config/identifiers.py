"""Validated identifiers: every table, column and rule name that can reach a path or a SQL string.

Identifiers are lower-case snake case that starts with a letter, so no YAML value can become a path
traversal (``../``), a quoted SQL fragment or a reserved audit column (those start with ``_``).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")
_ENVIRONMENT = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_RELATIVE_PATH = re.compile(r"[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*")


def check_identifier(value: str) -> str:
    """Return ``value`` if it is a safe identifier, else raise ``ValueError`` saying what is allowed."""
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid identifier: use 1-63 characters of a-z, 0-9 and _, starting with a letter"
        )
    return value


def check_environment_name(value: str) -> str:
    """Return ``value`` if it is a safe environment name (an identifier that may also hold ``-``), else raise
    ``ValueError``. It names a file, ``environments/<name>.yaml``, and never reaches SQL."""
    if not _ENVIRONMENT.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid environment name: use 1-63 characters of a-z, 0-9, _ and -, starting with a "
            "letter"
        )
    return value


def check_relative_path(value: str) -> str:
    """Return ``value`` if it is a plain relative folder path (no ``..``, no leading ``/``, no dots)."""
    if not _RELATIVE_PATH.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a safe relative path: use folder names of A-Z, a-z, 0-9, _ and - joined by /"
        )
    return value


Identifier = Annotated[str, AfterValidator(check_identifier)]
EnvironmentName = Annotated[str, AfterValidator(check_environment_name)]
RelativePath = Annotated[str, AfterValidator(check_relative_path)]
