"""engine/client/plans.py and engine/plan/__init__.py import each name when it is first asked
for (start-up): each one's table of names must say what its typed imports say, or a front end
would meet an AttributeError that mypy never saw (or mypy would check a name the module does
not give)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

import pytest

import phasegate.engine.client.plans as plans
import phasegate.engine.plan as plan_package

LAZY = [plans, plan_package]


def _typed_imports(module: ModuleType) -> dict[str, str]:
    """name -> module, from the `if TYPE_CHECKING:` block of the module's source."""
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module is not None
                for alias in imp.names:
                    found[alias.asname or alias.name] = imp.module
    return found


@pytest.mark.parametrize("module", LAZY, ids=lambda m: m.__name__)
def test_the_lazy_table_says_what_the_typed_imports_say(module: ModuleType) -> None:
    assert _typed_imports(module) == module._WHERE
    assert module.__all__ == sorted(module._WHERE)


@pytest.mark.parametrize("module", LAZY, ids=lambda m: m.__name__)
def test_each_name_is_the_one_its_module_defines(module: ModuleType) -> None:
    for name, where in module._WHERE.items():
        assert getattr(module, name) is getattr(importlib.import_module(where), name), name


@pytest.mark.parametrize("module", LAZY, ids=lambda m: m.__name__)
def test_a_name_it_does_not_give_is_an_attribute_error(module: ModuleType) -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = module.nothing_here
