"""Secrets: Databricks secret scopes on Databricks, environment variables elsewhere. Values are never logged."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any


def env_name(scope: str, key: str) -> str:
    """The environment variable that holds ``scope``/``key`` locally, e.g.
    ``aws-credentials``/``cloudwatch-access-key-id`` -> ``PAYLAKE_SECRET_AWS_CREDENTIALS__CLOUDWATCH_ACCESS_KEY_ID``."""

    def part(text: str) -> str:
        return re.sub(r"[^A-Z0-9]", "_", text.upper())

    return f"PAYLAKE_SECRET_{part(scope)}__{part(key)}"


class EnvSecrets:
    """Secrets from environment variables named by :func:`env_name`."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def get(self, scope: str, key: str) -> str | None:
        return self.environ.get(env_name(scope, key)) or None


class DbutilsSecrets:
    """Secrets from Databricks secret scopes (``dbutils.secrets.get``); a missing scope or key gives None."""

    def __init__(self, dbutils: Any) -> None:
        self.dbutils = dbutils

    def get(self, scope: str, key: str) -> str | None:
        try:
            value = self.dbutils.secrets.get(scope=scope, key=key)
        except Exception:  # dbutils raises a py4j/IllegalArgument error for unknown scopes and keys
            return None
        return str(value) if value else None
