"""engine/client/plans.py imports each name when it is first asked for (start-up): its table of
names must say what its typed imports say, or a front end would meet an AttributeError that mypy
never saw (or mypy would check a name the module does not give)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import phasegate.engine.client.plans as plans


def _typed_imports() -> dict[str, str]:
    """name -> module, from the `if TYPE_CHECKING:` block of the module's source."""
    tree = ast.parse(Path(plans.__file__).read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module is not None
                for alias in imp.names:
                    found[alias.asname or alias.name] = imp.module
    return found


def test_the_lazy_table_says_what_the_typed_imports_say() -> None:
    assert _typed_imports() == plans._WHERE
    assert plans.__all__ == sorted(plans._WHERE)


def test_each_name_is_the_one_its_module_defines() -> None:
    for name, module in plans._WHERE.items():
        assert getattr(plans, name) is getattr(importlib.import_module(module), name), name
