"""The package's floors: every module sits on one, and imports only from its own floor or lower ones.

Read bottom up: the table contract and the run records; configuration; storage and observability; the quality gate;
the layers' own logic; the runtime that wires an engine; pipeline running, scoring and deployment; the analyst
tools; the entry points. A module added to the package must be given a floor here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import paylake

PACKAGE = Path(paylake.__file__).parent
MAX_LINES = 400

FLOORS: dict[str, int] = {
    # 0: names and records everything shares, no paylake imports beyond this floor
    "paylake": 0,
    "paylake.errors": 0,
    "paylake.faults": 0,
    "paylake.contract": 0,
    "paylake.records": 0,
    "paylake.graph": 0,
    "paylake.pii": 0,
    "paylake.frames": 0,
    "paylake.config.identifiers": 0,
    "paylake.reporting": 0,  # renders records as text
    # 1: metadata and the builder registry; plain I/O; the data generator
    "paylake.config": 1,
    "paylake.builders": 1,
    "paylake.io": 1,
    "paylake.datagen": 1,
    # 2: the lake's stores, locks and versions; logs and metrics
    "paylake.lake": 2,
    "paylake.observability": 2,
    # 3: the data-quality checks and the gated write
    "paylake.quality": 3,
    # 4-5: the layers' logic (silver and gold builders read bronze's SCD2 helpers)
    "paylake.bronze": 4,
    "paylake.silver": 5,
    "paylake.gold": 5,
    # 6: where paylake runs: the session, the engine's store, secrets
    "paylake.runtime": 6,
    # 7: running the pipeline, scoring and backtesting, deploying to Unity Catalog
    "paylake.pipeline": 7,
    "paylake.scoring": 7,
    "paylake.deploy": 7,
    # 8: analyst tools over a written lake
    "paylake.analytics": 8,
    # 9: entry points
    "paylake.cli": 9,
    "paylake.cli_parser": 9,
    "paylake.notebook": 9,
}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def floor(module: str) -> int:
    """The floor of the longest prefix of ``module`` in :data:`FLOORS`."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in FLOORS:
            return FLOORS[prefix]
    raise AssertionError(f"{module} has no floor in FLOORS")


def imports(path: Path) -> set[str]:
    """Every paylake module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("paylake"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("paylake")}
    return found


def test_no_module_imports_from_a_higher_floor() -> None:
    upward = [
        f"{module} (floor {floor(module)}) imports {imported} (floor {floor(imported)})"
        for module, path in modules().items()
        for imported in sorted(imports(path))
        if floor(imported) > floor(module)
    ]
    assert upward == []
    assert len(modules()) > 60, "the package was not found"


def test_every_module_has_a_floor_and_the_floors_name_real_packages() -> None:
    for module in modules():
        floor(module)  # raises for a module without a floor
    assert [name for name in FLOORS if name not in modules()] == []


def test_no_source_file_is_longer_than_the_limit() -> None:
    lengths = {module: len(path.read_text().splitlines()) for module, path in modules().items()}
    assert {module: n for module, n in lengths.items() if n > MAX_LINES} == {}


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("from paylake.cli import main\n\ndef f():\n    from paylake.pipeline import runner\n")
    assert imports(source) == {"paylake.cli", "paylake.pipeline"}
    assert floor("paylake.cli") > floor("paylake.lake.store") and floor("paylake.lake.delta_rs") == 2
