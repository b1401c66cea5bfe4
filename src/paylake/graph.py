"""Dependency order of tables within a layer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from paylake.errors import ConfigIssue, InvalidConfigError


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """Return one dependency cycle as ``[a, b, ..., a]``, or ``None`` when the graph is acyclic."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def dependency_order(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Tables in an order where every table comes after its dependencies; ties broken by name.

    Raises:
        InvalidConfigError: the dependencies form a cycle.
    """
    if cycle := find_cycle(graph):
        raise InvalidConfigError([ConfigIssue("metadata", "depends_on", "dependency cycle: " + " -> ".join(cycle))])
    remaining = {node: set(deps) & set(graph) for node, deps in graph.items()}
    order: list[str] = []
    while remaining:
        ready = sorted(node for node, deps in remaining.items() if not deps)
        order += ready
        for node in ready:
            del remaining[node]
        for deps in remaining.values():
            deps.difference_update(ready)
    return order
