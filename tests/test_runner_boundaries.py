"""The runner orchestrates through public interfaces: no runner module reaches into another
layer's private names (the import-linter contract in pyproject.toml keeps it away from driver,
transport and simulator modules; this keeps it off their internals, e.g. the acquisition's
``_failure`` the stream measurer once read)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parent.parent / "energybench" / "runner"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _own_names(tree: ast.Module) -> set[str]:
    """Private names the module defines itself: functions, classes, attributes it assigns or
    declares (``self._x = ...``, ``_x: int`` in a class, keyword fields)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return {n for n in names if _private(n)}


def foreign_private_uses(source: str) -> list[str]:
    """Where ``source`` uses a private name it does not define: ``obj._name`` (not on
    ``self``/``cls``), ``getattr(obj, "_name")``, ``from energybench.x import _name``."""
    tree = ast.parse(source)
    own = _own_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"line {node.lineno}: .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
            and node.args[1].value not in own
        ):
            found.append(f"line {node.lineno}: {node.func.id}(…, {node.args[1].value!r})")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("energybench"):
            outside = not (node.module or "").startswith("energybench.runner")
            found += [
                f"line {node.lineno}: from {node.module} import {a.name}"
                for a in node.names
                if outside and _private(a.name)
            ]
    return found


@pytest.mark.parametrize("path", sorted(RUNNER.glob("*.py")), ids=lambda p: p.name)
def test_runner_modules_use_no_private_name_of_another_layer(path: Path) -> None:
    assert foreign_private_uses(path.read_text(encoding="utf-8")) == []


def test_the_check_finds_what_the_stream_measurer_once_did() -> None:
    """The check itself: reading the acquisition's private failure, poking its attribute, or
    importing a private helper are all found; a module's own private names are not."""
    old = (
        "from energybench.acquisition.stream import _peaks\n"
        "class M:\n"
        "    def f(self):\n"
        "        self._own = 1\n"
        "        failure = getattr(self.acq, '_failure', None)\n"
        "        return self.acq._next_id, self._own, _helper()\n"
        "def _helper():\n"
        "    return 0\n"
    )
    assert foreign_private_uses(old) == [
        "line 1: from energybench.acquisition.stream import _peaks",
        "line 5: getattr(…, '_failure')",
        "line 6: ._next_id",
    ]
