"""The registry of derived-table builders: YAML ``builder:`` names -> pure DataFrame functions.

A builder is a function of its input DataFrames (positional-or-keyword arguments, named like the YAML
``inputs`` keys) plus two keyword-only arguments, ``params`` (its typed parameter model) and ``as_of`` (the
business date). It returns the output DataFrame and does no I/O. Registering binds the signature once, so the
loader can check a table's ``inputs`` and ``parameters`` against it before anything runs.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, TypeVar

from paylake.config.base import StrictModel
from paylake.contract import DerivedLayer

if TYPE_CHECKING:  # the metadata loader imports this module; Spark is imported by the builders themselves
    from pyspark.sql import DataFrame

BuilderFunction = Callable[..., "DataFrame"]
F = TypeVar("F", bound=BuilderFunction)


@dataclass(frozen=True)
class Builder:
    """A registered builder: its name, layer, function, parameter model and input argument names."""

    name: str
    layer: DerivedLayer
    function: BuilderFunction
    parameters: type[StrictModel]
    inputs: tuple[str, ...]

    def build(self, inputs: Mapping[str, DataFrame], params: StrictModel, as_of: date) -> DataFrame:
        """Call the builder with its inputs by name."""
        return self.function(**{name: inputs[name] for name in self.inputs}, params=params, as_of=as_of)


_REGISTRY: dict[str, Builder] = {}


def register(layer: DerivedLayer, parameters: type[StrictModel]) -> Callable[[F], F]:
    """Register a builder under its function name.

    Raises:
        TypeError: the signature lacks keyword-only ``params`` and ``as_of``, or the name is taken.
    """

    def decorate(function: F) -> F:
        signature = inspect.signature(function)
        keyword_only = {n for n, p in signature.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
        if keyword_only != {"params", "as_of"}:
            raise TypeError(f"builder {function.__name__} must take keyword-only params and as_of")
        if function.__name__ in _REGISTRY:
            raise TypeError(f"builder {function.__name__} is registered twice")
        inputs = tuple(n for n, p in signature.parameters.items() if p.kind is not inspect.Parameter.KEYWORD_ONLY)
        _REGISTRY[function.__name__] = Builder(function.__name__, layer, function, parameters, inputs)
        return function

    return decorate


def builders(layer: DerivedLayer) -> Mapping[str, Builder]:
    """Every registered builder of a layer, by name (importing the layer's package registers them)."""
    importlib.import_module(f"paylake.{layer}")
    return {name: b for name, b in sorted(_REGISTRY.items()) if b.layer == layer}
