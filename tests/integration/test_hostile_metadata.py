"""The hostile metadata corpus (tests/hostile/metadata): each file replaces one bundled YAML; `paylake validate`
must exit 2 with `file: key.path: reason` naming the problem, and never show a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from paylake.cli import main

CORPUS = Path(__file__).parents[1] / "hostile" / "metadata"


def header(path: Path, key: str) -> str:
    for line in path.read_bytes().splitlines():
        if line.startswith(f"# {key}: ".encode()):
            return line.split(b": ", 1)[1].decode()
    raise AssertionError(f"{path.name} has no '# {key}:' line")


@pytest.mark.parametrize("case", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.stem)
def test_hostile_metadata_is_refused_with_the_key_path(
    case: Path, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metadata = tmp_path / "metadata"
    shutil.copytree(repo / "metadata", metadata)
    target = metadata / header(case, "target")
    shutil.copyfile(case, target)
    assert main(["validate", str(metadata)]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = out.splitlines()
    assert lines and all(line.startswith(f"{metadata}/") for line in lines), out
    expected = f"/{header(case, 'expect')}"  # file name, key path and reason
    assert any(expected in line for line in lines), f"{expected!r} not in:\n{out}"


def test_the_corpus_covers_the_issue_list() -> None:
    names = {p.stem for p in CORPUS.glob("*.yaml")}
    assert {
        "invalid_syntax",
        "unknown_key",
        "wrong_types",
        "duplicate_table",
        "dependency_cycle",
        "rule_on_missing_column",
        "foreign_key_to_missing_table",
        "path_traversal",
        "sql_injection_identifier",
        "sql_injection_expression",
        "python_object_tag",
        "anchor_bomb",
        "duplicate_key",
        "huge_float",
        "huge_integer",
    } <= names
    assert len(names) >= 30
