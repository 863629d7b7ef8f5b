"""No import cycle among the product's modules, counting imports inside functions and under TYPE_CHECKING:
each module's imports are read from its source with `ast`, wherever they sit, and the import graph's
strongly connected components must each be one module."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("dynamic_sessions", "components", "ci", "smoke", "emulator", "provider", "policy", "bench")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def product_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every product module `name`'s source imports, at any depth of its syntax tree."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from package import module` imports the module; `from module import name` the module itself.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in modules and target != name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = product_modules()
    return {name: imported(name, path, modules) for name, path in modules.items()}


def test_the_finder_sees_lazy_type_checking_and_relative_imports(tmp_path):
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from x import y\n"
        "def f():\n    import z\n    from . import sib\n    from .sib import thing\n"
    )
    modules = {name: source for name in ("pkg.mod", "pkg.sib", "x", "z")}
    assert imported("pkg.mod", source, modules) == {"x", "z", "pkg.sib"}


def test_the_smokes_steps_import_nothing_that_imports_them_back():
    graph = import_graph()
    smoke = "dynamic_sessions.smoke"
    assert f"{smoke}.verify" in graph[f"{smoke}.runner"] and f"{smoke}.check" in graph[f"{smoke}.runner"]
    steps = ("check", "verify", "egress", "mcp_check", "compare", "declared", "endpoint", "report")
    assert not any(f"{smoke}.runner" in graph[f"{smoke}.{step}"] for step in steps)


def test_no_import_cycle_among_product_modules():
    found = cycles(import_graph())
    assert found == [], f"import cycles: {found}"
