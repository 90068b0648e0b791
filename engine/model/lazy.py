"""Names a package gives without importing the modules behind them until one is first asked for
(a module `__getattr__`, PEP 562): start-up pays only for what a command uses."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_names(where: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """The `__getattr__` of the module whose globals are `namespace`: each name of `where`
    (name -> the module that defines it) imported when first asked for, then kept there."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # (once: the next lookup finds it in the module itself)
        return value

    return __getattr__
