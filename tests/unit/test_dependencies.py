from __future__ import annotations

import pytest

from paylake.errors import InvalidConfigError, UsageError
from paylake.graph import dependency_order, find_cycle
from paylake.pipeline.runner import select_tables


def test_dependencies_come_first_and_ties_sort_by_name() -> None:
    graph = {"invoice_line_items": {"invoices", "skus"}, "invoices": {"accounts"}, "accounts": set(), "skus": set()}
    assert dependency_order(graph) == ["accounts", "skus", "invoices", "invoice_line_items"]


def test_cycles_are_found_and_refused() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    with pytest.raises(InvalidConfigError, match="dependency cycle: a -> b -> c -> a"):
        dependency_order(graph)


def test_table_selection() -> None:
    assert select_tables("all", ["b", "a"]) == ["a", "b"]
    assert select_tables("b, a", ["a", "b"]) == ["b", "a"]
    with pytest.raises(UsageError, match=r"unknown table\(s\) \['c'\]; available: a, b"):
        select_tables("a,c", ["a", "b"])
