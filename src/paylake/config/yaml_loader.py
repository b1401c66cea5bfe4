"""The YAML loader of metadata files: the safe loader, refusing a key given twice in one mapping."""

from __future__ import annotations

import yaml


class UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a mapping that gives a key twice: YAML keeps the last value silently, so a
    repeated ``load_type`` would quietly turn an incremental feed into a snapshot."""


def _unique_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[object, object]:
    seen: dict[object, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            repeated = key in seen
        except TypeError:  # an unhashable key: the safe loader reports it
            break
        if repeated:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first given on line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)
