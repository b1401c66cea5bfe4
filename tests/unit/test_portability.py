"""What runs on Databricks uses only public Spark 4.0 APIs, and the engine is chosen once, by the runtime."""

from __future__ import annotations

import re
from pathlib import Path

import paylake

PACKAGE = Path(paylake.__file__).parent
# The embedded engine's store and the local session may reach into the JVM (a plan's size estimate, a full
# collection after a checkpoint); neither runs on Databricks.
LOCAL_ONLY = {"lake/delta_rs.py", "lake/arrow_exchange.py", "runtime/spark.py"}
JVM_INTERNALS = re.compile(r"\._jdf\b|\._jvm\b|\bsparkContext\b|\._jsc\b|\._jsparkSession\b")


def sources() -> dict[str, str]:
    return {path.relative_to(PACKAGE).as_posix(): path.read_text() for path in sorted(PACKAGE.rglob("*.py"))}


def test_only_the_local_engine_touches_jvm_internals() -> None:
    """Shared-access clusters forbid ``_jdf``, ``_jvm`` and ``sparkContext``."""
    offenders = {name for name, text in sources().items() if JVM_INTERNALS.search(text)}
    assert offenders <= LOCAL_ONLY, sorted(offenders - LOCAL_ONLY)
    assert offenders, "the check found nothing at all: the pattern is broken"


def test_no_layer_tests_the_type_of_its_store() -> None:
    """The store and SCD2 writer are chosen together in the runtime (``PaylakeContext.lake``), not by layers."""
    layers = ("bronze/", "silver/", "gold/", "pipeline/", "scoring/", "quality/")
    offenders = [
        name
        for name, text in sources().items()
        if name.startswith(layers) and re.search(r"isinstance\([^)]*(Store|Scd2)\b", text)
    ]
    assert offenders == []
