"""The emulator's rooms: the HTTP surface (api) uses the sessions, the sessions use the sandbox, never back.

Read from the source's import statements (including imports inside functions), so a new module in any
room is held to the same rule the day it is added.
"""

import ast
from pathlib import Path

import pytest

EMULATOR = Path(__file__).resolve().parents[2] / "dynamic_sessions" / "emulator"
PACKAGE = "dynamic_sessions.emulator"
# Each room, and the rooms it may import (itself always).
MAY_IMPORT = {"api": {"sessions", "sandbox"}, "sessions": {"sandbox"}, "sandbox": set()}


def emulator_imports(module: Path) -> set[str]:
    """The `dynamic_sessions.emulator.*` modules a file imports, as dotted names below the package."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text(), str(module))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name.removeprefix(PACKAGE + ".") for name in names if name.startswith(PACKAGE + ".")}
    return found


def room_modules(room: str) -> list[Path]:
    return sorted((EMULATOR / room).glob("*.py"))


@pytest.mark.parametrize("room", sorted(MAY_IMPORT))
def test_a_room_imports_only_the_rooms_below_it(room):
    allowed = MAY_IMPORT[room] | {room}
    upward = {
        f"{module.name} imports {target}"
        for module in room_modules(room)
        for target in emulator_imports(module)
        if target.split(".")[0] in MAY_IMPORT and target.split(".")[0] not in allowed
    }
    assert room_modules(room), f"no modules found in {room}/"
    assert not upward, f"{room}/ imports against the rooms' order: {sorted(upward)}"


def test_every_module_of_the_emulator_sits_in_a_room():
    loose = {p.name for p in EMULATOR.glob("*.py")} - {"__init__.py", "__main__.py", "demo.py"}
    assert not loose, f"modules outside api/, sessions/ and sandbox/: {sorted(loose)}"


@pytest.mark.parametrize("room", sorted(MAY_IMPORT))
def test_each_room_says_what_it_holds(room):
    docstring = ast.get_docstring(ast.parse((EMULATOR / room / "__init__.py").read_text()))
    assert docstring, f"{room}/__init__.py has no docstring"
    for module in room_modules(room):
        if module.name != "__init__.py":
            assert module.stem in docstring, f"{room}/__init__.py does not mention {module.stem}"
            assert ast.get_docstring(ast.parse(module.read_text())), f"{room}/{module.name} has no docstring"


def test_the_checker_sees_an_upward_import(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from dynamic_sessions.emulator.api import contract\n")
    assert "api.contract" in emulator_imports(planted) and "api" in emulator_imports(planted)
