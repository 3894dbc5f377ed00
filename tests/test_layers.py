"""The package's modules import each other without cycles.

Every ``import`` and ``from ... import`` under ``appliance/`` counts, including the
ones inside functions (they are how a module reaches a heavy dependency late, and a
cycle through them still means two modules that each need the other). An import of a
package counts as an import of its ``__init__``; ``from appliance.x import y`` counts as
importing ``appliance.x.y`` when ``y`` is a submodule, and ``appliance.x`` otherwise.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import appliance

PACKAGE_ROOT = Path(appliance.__file__).resolve().parent
PACKAGE = "appliance"


def module_files(root: Path = PACKAGE_ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Each module's dotted name, and its file (a package's is its ``__init__.py``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imports(module: str, path: Path) -> Iterable[tuple[str, str | None]]:
    """What ``module`` imports, relative imports resolved: ``(a.b, None)`` for ``import
    a.b``, ``(a, b)`` for ``from a import b``."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                # Relative to the module's package (a package's own, for its __init__).
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            for alias in node.names:
                yield source, alias.name


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """Which of ``modules`` each one imports (a module importing itself is no edge)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for source, imported in imports(name, path):
            if imported is not None and f"{source}.{imported}" in modules:
                target: str | None = f"{source}.{imported}"  # a submodule
            else:
                target = _enclosing_module(source, modules)
            if target is not None and target != name:
                graph[name].add(target)
    return graph


def _enclosing_module(name: str, modules: Mapping[str, Path]) -> str | None:
    """``name`` if it is one of ``modules``, else the nearest one it is inside, if any."""
    parts = name.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts) or None


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) in each strongly connected group of modules."""
    edges = {node: sorted(set(targets)) for node, targets in graph.items()}
    for targets in list(edges.values()):
        for target in targets:
            edges.setdefault(target, [])
    # Tarjan's strongly connected components, iteratively (no recursion limit).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = edges[node]
            if position < len(targets):
                work.append((node, position + 1))
                target = targets[position]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    components.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return [_cycle_in(component, edges) for component in components]


def _cycle_in(component: list[str], edges: Mapping[str, list[str]]) -> list[str]:
    """A shortest cycle through the component's first module, staying inside it."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in edges[node]:
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target in members and target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle in the component {component}")


def test_the_package_has_no_import_cycles() -> None:
    modules = module_files()
    assert "appliance.core.config" in modules and "appliance.engine" in modules
    graph = import_graph(modules)
    assert graph["appliance.cli"] or graph["appliance.app.wiring"], "no imports were found"
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in appliance:\n" + "\n".join(
        "  " + " -> ".join(cycle) for cycle in cycles
    )


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": set(),
        "e": {"e"},
        "f": {"g"},
        "g": {"f"},
        "h": {"a"},
    }
    assert find_cycles(graph) == [["a", "b", "c", "a"], ["e", "e"], ["f", "g", "f"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) == []


def test_imports_are_resolved(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "from . import b\nfrom .sub import thing\n",
        "b.py": "def late():\n    from pkg.sub.c import name\n",
        "sub/__init__.py": "from .. import a\n",
        "sub/c.py": "import pkg.b\nfrom ..a import something\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    graph = import_graph(module_files(root, "pkg"))
    assert graph == {
        "pkg": set(),
        "pkg.a": {"pkg.b", "pkg.sub"},
        "pkg.b": {"pkg.sub.c"},
        "pkg.sub": {"pkg.a"},
        "pkg.sub.c": {"pkg.b", "pkg.a"},
    }
    assert find_cycles(graph) == [["pkg.a", "pkg.sub", "pkg.a"]]


# The rooms of the package, lowest first: a module may import from its own room and the
# rooms before it, never from one after it (docs/architecture.md). The ``commands``
# modules are the ``parlo`` command's subcommands, so they sit with the CLI, on top.
ROOMS = (
    "core", "lessons", "audio", "speech", "engine", "hardware",
    "models", "system", "web", "app", "tools", "cli",
)  # fmt: skip
# An import for a type annotation only (under TYPE_CHECKING), named here with its reason.
TYPE_ONLY = {
    # The loaded models name the set they were loaded from; the store, which loads
    # and checks model files, is above the speech room (its smoke test runs them).
    ("appliance.speech.loaded", "appliance.models.store"),
}


def room_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[-1] in ("cli", "commands", "__main__"):
        return "cli"
    return parts[1]


def upward_imports(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Each import of a module from a room above its own, as "a (room) -> b (room)"."""
    upward = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            rooms = room_of(module), room_of(target)
            assert all(room in ROOMS for room in rooms), f"{module} -> {target}: a new room?"
            if ROOMS.index(rooms[1]) > ROOMS.index(rooms[0]) and (module, target) not in TYPE_ONLY:
                upward.append(f"  {module} ({rooms[0]}) -> {target} ({rooms[1]})")
    return upward


def test_every_module_imports_only_from_its_room_or_those_below() -> None:
    upward = upward_imports(import_graph(module_files()))
    assert not upward, "imports from a higher room:\n" + "\n".join(upward)


def test_the_layer_check_sees_an_upward_import() -> None:
    graph = {
        "appliance.core.config": {"appliance.engine.conversation"},  # up: refused
        "appliance.engine.conversation": {"appliance.core.config"},  # down: fine
        "appliance.models.commands": {"appliance.app.wiring"},  # the CLI may use anything
        "appliance.speech.loaded": {"appliance.models.store"},  # the one type-only import
    }
    assert upward_imports(graph) == [
        "  appliance.core.config (core) -> appliance.engine.conversation (engine)"
    ]
