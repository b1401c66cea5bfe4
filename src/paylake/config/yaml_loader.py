"""The YAML loader of metadata files: the safe loader, refusing a key given twice in one mapping and any alias."""

from __future__ import annotations

import yaml


class UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a mapping that gives a key twice: YAML keeps the last value silently, so a
    repeated ``load_type`` would quietly turn an incremental feed into a snapshot.

    It also refuses aliases (``*name``, and so the merge key ``<<: *name``): a metadata file is reviewed as it is
    read, each value written where it applies, and nested aliases expand a small file into billions of values
    (an "anchor bomb") before any check could see them.
    """

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None,
                None,
                f"alias *{event.anchor}: anchors and aliases are not accepted in metadata; write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


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
