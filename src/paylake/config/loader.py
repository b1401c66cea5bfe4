"""Load metadata YAML once into typed models, collecting every problem as ``file: key.path: reason``.

Metadata is read through a :class:`MetadataSource`, so a local folder and ``s3://bucket/prefix`` share one loader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from paylake.builders import Builder, builders
from paylake.config.base import StrictModel
from paylake.config.bronze import BronzeTableConfig
from paylake.config.derived import DerivedTableConfig
from paylake.config.environment import EnvironmentConfig
from paylake.config.identifiers import check_environment_name
from paylake.config.quality import RULE_TYPES
from paylake.config.yaml_loader import UniqueKeyLoader
from paylake.contract import OPS_TABLES, PIPELINE_LAYERS, DerivedLayer
from paylake.errors import ConfigIssue, InvalidConfigError
from paylake.graph import find_cycle
from paylake.io.objects import ObjectStore, open_objects

ModelT = TypeVar("ModelT", bound=BaseModel)


class MetadataSource(Protocol):
    """Read-only view of a metadata root (a local folder now, an S3 prefix later)."""

    def list_files(self, folder: str) -> list[str]:
        """Relative paths of the ``.yaml``/``.yml`` files below ``folder``, sorted."""
        ...

    def read_text(self, relative_path: str) -> str:
        """Text of one metadata file."""
        ...

    def display(self, relative_path: str) -> str:
        """How to name a file in error messages."""
        ...


class LocalMetadataSource:
    """Metadata in a local folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def list_files(self, folder: str) -> list[str]:
        base = self.root / folder
        if not base.is_dir():
            return []
        found = [p for p in base.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml"}]
        return sorted(str(p.relative_to(self.root)) for p in found)

    def read_text(self, relative_path: str) -> str:
        return (self.root / relative_path).read_text(encoding="utf-8")

    def display(self, relative_path: str) -> str:
        return str(self.root / relative_path)


class ObjectMetadataSource:
    """Metadata under an ``s3://bucket/prefix`` (or any object store root)."""

    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects
        self.root = objects.root.rstrip("/")

    def list_files(self, folder: str) -> list[str]:
        found = self.objects.list(folder, suffixes=(".yaml", ".yml"), recursive=True)
        return sorted(item.path[len(self.root) + 1 :] for item in found)

    def read_text(self, relative_path: str) -> str:
        return self.objects.read_bytes(self.display(relative_path)).decode("utf-8")

    def display(self, relative_path: str) -> str:
        return f"{self.root}/{relative_path}"


def open_source(root: str | Path) -> MetadataSource:
    """Return the metadata source for a root: a local folder or an ``s3://bucket/prefix``.

    Raises:
        InvalidConfigError: the root holds no metadata.
        StorageError: an S3 root cannot be listed (missing bucket, access denied).
    """
    if str(root).startswith("s3://"):
        source = ObjectMetadataSource(open_objects(root))
        if not source.list_files("environments"):
            raise InvalidConfigError([ConfigIssue(str(root), "", "no metadata found (expected environments/*.yaml)")])
        return source
    if not Path(root).is_dir():
        raise InvalidConfigError([ConfigIssue(str(root), "", "metadata folder does not exist")])
    return LocalMetadataSource(root)


def _key_path(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    for index, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in RULE_TYPES and index > 0 and isinstance(loc[index - 1], int):
            continue  # pydantic puts the discriminator value of a tagged union into the location
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts)


def _parse_yaml(source: MetadataSource, relative_path: str) -> tuple[object, list[ConfigIssue]]:
    name = source.display(relative_path)
    text = ""
    try:
        text = source.read_text(relative_path)
        data = yaml.load(text, Loader=UniqueKeyLoader)  # a safe loader
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. NUL
        before = text[: exc.position]
        where = f"line {before.count(chr(10)) + 1}, column {len(before) - before.rfind(chr(10))}"
        reason = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        return None, [ConfigIssue(name, where, f"invalid YAML: {reason}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return None, [ConfigIssue(name, where, f"invalid YAML: {getattr(exc, 'problem', None) or exc}")]
    except RecursionError:  # the parser recurses once per level of nesting
        return None, [ConfigIssue(name, "", "invalid YAML: nested too deeply to be metadata")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ConfigIssue(name, "", f"cannot read file: {exc}")]
    if not isinstance(data, dict):
        return None, [ConfigIssue(name, "", "expected a mapping of keys at the top level")]
    return data, []


def _validate(model: type[ModelT], data: object, file: str) -> tuple[ModelT | None, list[ConfigIssue]]:
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            reason = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                reason = "unknown key"
            elif error["type"] == "missing":
                reason = "required key is missing"
            issues.append(ConfigIssue(file, _key_path(error["loc"]), reason))
        return None, issues


def load_environment(source: MetadataSource, name: str) -> EnvironmentConfig:
    """Load ``environments/<name>.yaml``.

    Raises:
        InvalidConfigError: the file is missing or invalid; lists every issue.
    """
    try:
        check_environment_name(name)
    except ValueError as exc:
        raise InvalidConfigError([ConfigIssue("--env", "", str(exc))]) from None
    relative = f"environments/{name}.yaml"
    available = sorted(Path(p).stem for p in source.list_files("environments"))
    if relative not in source.list_files("environments"):
        raise InvalidConfigError(
            [ConfigIssue(source.display(relative), "", f"no such environment; available: {', '.join(available)}")]
        )
    data, issues = _parse_yaml(source, relative)
    env, more = (None, []) if issues else _validate(EnvironmentConfig, data, source.display(relative))
    if issues or more or env is None:
        raise InvalidConfigError(issues + more)
    return env


@dataclass(frozen=True)
class BronzeMetadata:
    """Every bronze table's config, by table name."""

    tables: Mapping[str, BronzeTableConfig]


def _bronze_table_issues(source: MetadataSource, relative: str) -> tuple[BronzeTableConfig | None, list[ConfigIssue]]:
    name = source.display(relative)
    data, issues = _parse_yaml(source, relative)
    if issues:
        return None, issues
    config, issues = _validate(BronzeTableConfig, data, name)
    if config is None:
        return None, issues
    issues = [ConfigIssue(name, key, reason) for key, reason in config.semantic_issues()]
    issues += _path_issues(name, relative, "bronze", config.table)
    return config, issues


def _path_issues(name: str, relative: str, layer: str, table: str) -> list[ConfigIssue]:
    parts = Path(relative).parts  # <layer>/<table>/<table>.yaml
    if len(parts) != 3 or parts[1] != Path(relative).stem or parts[1] != table:
        return [ConfigIssue(name, "table", f"must match its path {layer}/{table}/{table}.yaml")]
    return []


def load_bronze(source: MetadataSource) -> BronzeMetadata:
    """Load every ``bronze/<table>/<table>.yaml`` and check references between tables.

    Raises:
        InvalidConfigError: any file is invalid, a reference is unknown or dependencies form a cycle.
    """
    tables: dict[str, BronzeTableConfig] = {}
    files: dict[str, str] = {}
    issues: list[ConfigIssue] = []
    broken: set[str] = set()  # tables whose file exists but is invalid: not "unknown" to their dependants
    for relative in source.list_files("bronze"):
        config, found = _bronze_table_issues(source, relative)
        issues += found
        if config is None:
            broken.add(Path(relative).parent.name)
            continue
        if config.table in tables:
            issues.append(ConfigIssue(source.display(relative), "table", f"duplicate table {config.table!r}"))
            continue
        tables[config.table] = config
        files[config.table] = source.display(relative)
    issues += _reference_issues(tables, files, broken)
    if issues:
        raise InvalidConfigError(issues)
    return BronzeMetadata(tables=tables)


def _reference_issues(
    tables: Mapping[str, BronzeTableConfig], files: Mapping[str, str], broken: set[str]
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for name, config in tables.items():
        for index, dependency in enumerate(config.depends_on):
            if dependency not in tables and dependency not in broken:
                issues.append(ConfigIssue(files[name], f"depends_on[{index}]", f"unknown table {dependency!r}"))
        for index, feed in enumerate(config.freshness.complete_with):
            if feed == name or (feed not in tables and feed not in broken):
                reason = "a feed cannot wait for itself" if feed == name else f"unknown bronze table {feed!r}"
                issues.append(ConfigIssue(files[name], f"freshness.complete_with[{index}]", reason))
        for index, rule in enumerate(config.quality.rules):
            if rule.type != "foreign_key":
                continue
            target = tables.get(rule.references.table)
            key = f"quality.rules[{index}].references"
            if rule.references.table in broken:
                continue
            if target is None:
                issues.append(
                    ConfigIssue(files[name], f"{key}.table", f"unknown bronze table {rule.references.table!r}")
                )
            elif rule.references.column not in target.column_names:
                issues.append(
                    ConfigIssue(
                        files[name], f"{key}.column", f"table {target.table!r} has no column {rule.references.column!r}"
                    )
                )
    cycle = find_cycle({name: config.dependencies() & set(tables) for name, config in tables.items()})
    if cycle:
        issues.append(ConfigIssue(files[cycle[0]], "depends_on", "dependency cycle: " + " -> ".join(cycle)))
    return issues


@dataclass(frozen=True)
class DerivedTable:
    """A silver or gold table with its builder and typed parameters resolved."""

    config: DerivedTableConfig
    builder: Builder
    params: StrictModel
    file: str

    def dependencies(self, layer: str) -> set[str]:
        """Tables of ``layer`` this table reads (they must be built first)."""
        return {name.split(".", 1)[1] for name in self.config.input_tables() if name.startswith(f"{layer}.")}


@dataclass(frozen=True)
class DerivedMetadata:
    """Every table of one derived layer, by table name."""

    layer: DerivedLayer
    tables: Mapping[str, DerivedTable]


def table_names(source: MetadataSource, layer: str) -> set[str]:
    """Tables a layer declares, by folder name (also when a file is invalid, so references stay resolvable)."""
    return {Path(relative).parent.name for relative in source.list_files(layer)}


def tables_built_by(source: MetadataSource, layer: DerivedLayer, builder: str) -> list[str]:
    """The tables of ``layer`` whose YAML names ``builder``, read without validating them or importing the
    builders (a quick lookup for the analyst tools; :func:`load_derived` validates)."""
    found = []
    for relative in source.list_files(layer):
        data, issues = _parse_yaml(source, relative)
        if not issues and isinstance(data, dict) and data.get("builder") == builder and data.get("table"):
            found.append(str(data["table"]))
    return sorted(found)


def _derived_table(
    source: MetadataSource, relative: str, layer: DerivedLayer, available: Mapping[str, Builder]
) -> tuple[DerivedTable | None, list[ConfigIssue]]:
    name = source.display(relative)
    data, issues = _parse_yaml(source, relative)
    if issues:
        return None, issues
    config, issues = _validate(DerivedTableConfig, data, name)
    if config is None:
        return None, issues
    issues = [ConfigIssue(name, key, reason) for key, reason in config.semantic_issues()]
    issues += _path_issues(name, relative, layer, config.table)
    builder = available.get(config.builder)
    if builder is None:
        reason = f"unknown {layer} builder {config.builder!r}; available: {', '.join(available) or 'none'}"
        return None, [*issues, ConfigIssue(name, "builder", reason)]
    missing = [i for i in builder.inputs if i not in config.inputs]
    extra = [i for i in config.inputs if i not in builder.inputs]
    if missing or extra:
        detail = "; ".join(
            part
            for part in (f"missing {missing}" if missing else "", f"not taken by the builder {extra}" if extra else "")
            if part
        )
        issues.append(ConfigIssue(name, "inputs", f"builder {builder.name} takes {list(builder.inputs)}: {detail}"))
    params, found = _validate(builder.parameters, config.parameters, name)
    issues += [ConfigIssue(i.file, f"parameters.{i.key}" if i.key else "parameters", i.reason) for i in found]
    if params is None or issues:
        return None, issues
    return DerivedTable(config, builder, params, name), []


def load_derived(source: MetadataSource, layer: DerivedLayer) -> DerivedMetadata:
    """Load every ``<layer>/<table>/<table>.yaml`` of a silver or gold layer and resolve builders and inputs.

    A table may read tables of its own layer and of the layers before it (bronze before silver before gold).

    Raises:
        InvalidConfigError: any file is invalid, an input is unknown or dependencies form a cycle.
    """
    available = builders(layer)
    readable = PIPELINE_LAYERS[: PIPELINE_LAYERS.index(layer) + 1]
    known = {name: table_names(source, name) for name in readable} | {"ops": set(OPS_TABLES)}
    tables: dict[str, DerivedTable] = {}
    issues: list[ConfigIssue] = []
    for relative in source.list_files(layer):
        table, found = _derived_table(source, relative, layer, available)
        issues += found
        if table is None:
            continue
        if table.config.table in tables:
            issues.append(ConfigIssue(table.file, "table", f"duplicate table {table.config.table!r}"))
            continue
        tables[table.config.table] = table
        for argument, input_name in table.config.inputs.items():
            input_layer, input_table = input_name.split(".", 1)
            if input_layer not in known:
                issues.append(
                    ConfigIssue(table.file, f"inputs.{argument}", f"a {layer} table cannot read {input_name}")
                )
            elif input_table not in known[input_layer]:
                choices = ", ".join(sorted(known[input_layer])) or "none"
                reason = f"unknown table {input_name}; {input_layer} tables: {choices}"
                issues.append(ConfigIssue(table.file, f"inputs.{argument}", reason))
    cycle = find_cycle({name: t.dependencies(layer) & set(tables) for name, t in tables.items()})
    if cycle:
        issues.append(ConfigIssue(tables[cycle[0]].file, "inputs", "dependency cycle: " + " -> ".join(cycle)))
    if issues:
        raise InvalidConfigError(issues)
    return DerivedMetadata(layer, tables)


def validate_metadata(source: MetadataSource) -> list[ConfigIssue]:
    """Check every environment and layer YAML; return all issues (empty when everything is valid)."""
    issues: list[ConfigIssue] = []
    for relative in source.list_files("environments"):
        data, found = _parse_yaml(source, relative)
        issues += found or _validate(EnvironmentConfig, data, source.display(relative))[1]
    loaders: list[Callable[[], object]] = [
        lambda: load_bronze(source),
        lambda: load_derived(source, "silver"),
        lambda: load_derived(source, "gold"),
    ]
    for load in loaders:
        try:
            load()
        except InvalidConfigError as exc:
            issues += exc.issues
    return sorted(issues)
