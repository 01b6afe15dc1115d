"""The import graph: every arrow points down the floors, and no module reaches itself through others.

Floors, lowest first: ``core`` (helpers every app may use); ``catalog``; ``embeddings``; ``search``,
``training`` and ``operations``; the project package ``museum_site`` that wires them; ``devtools``
(the demo and the embedded server). A module may import from its own package and from the packages its
floor lists below. Imports inside functions count the same as those at the top: a circle hidden in a
function is still a circle. Tests and migrations are left out; ``bench`` may import anything.

Each name is imported from the module that defines it, so one type never answers to two addresses.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What each package may import from (besides itself).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "catalog": {"core"},
    "embeddings": {"core", "catalog"},
    "search": {"core", "catalog", "embeddings"},
    "training": {"core", "catalog", "embeddings"},
    "operations": {"core", "catalog", "embeddings"},
    "museum_site": {"core", "catalog", "embeddings", "search", "training", "operations"},
    "devtools": {"core", "catalog", "embeddings", "search", "training", "operations", "museum_site"},
    "fake_aic": set(),
}


def project_modules(root: Path, packages: set[str]) -> dict[str, Path]:
    """Dotted module name -> file, for the packages' modules outside tests and migrations."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if "tests" in parts or "migrations" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imported_names(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(dotted name, line) of every import in the file, wherever it is written; relative ones resolved."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:  # ``from package import module`` imports the module
                yield f"{target}.{alias.name}", node.lineno


def import_graph(root: Path, packages: set[str]) -> dict[str, dict[str, int]]:
    """module -> {imported project module: first line importing it}."""
    modules = project_modules(root, packages)
    graph: dict[str, dict[str, int]] = {module: {} for module in modules}
    for module, path in modules.items():
        for name, line in imported_names(module, path):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(f"{name}."):
                graph[module].setdefault(name, line)
    return graph


def backward_arrows(graph: dict[str, dict[str, int]], allowed: dict[str, set[str]]) -> list[str]:
    arrows = []
    for module, imports in graph.items():
        package = module.split(".")[0]
        for target, line in imports.items():
            target_package = target.split(".")[0]
            if target_package != package and target_package not in allowed[package]:
                arrows.append(f"{module} (line {line}) imports {target}: {package} may not import {target_package}")
    return sorted(arrows)


def circles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = lowlink[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = lowlink[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    lowlink[node] = min(lowlink[node], index[child])
                continue
            work.pop()
            if work:
                lowlink[work[-1][0]] = min(lowlink[work[-1][0]], lowlink[node])
            if lowlink[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return sorted(found)


def borrowed_names(root: Path, packages: set[str]) -> dict[str, set[str]]:
    """module -> the names it imports from another project module at its top level."""
    modules = project_modules(root, packages)
    borrowed: dict[str, set[str]] = {}
    for module, path in modules.items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module in modules:
                borrowed.setdefault(module, set()).update(alias.asname or alias.name for alias in node.names)
    return borrowed


def second_hand_imports(root: Path, packages: set[str]) -> list[str]:
    """Imports, tests' included, of a name from a module that itself imported it (a re-export)."""
    modules = project_modules(root, packages)
    borrowed = borrowed_names(root, packages)
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module in modules:
                    for alias in node.names:
                        submodule = f"{node.module}.{alias.name}"
                        if alias.name in borrowed.get(node.module, set()) and submodule not in modules:
                            where = path.relative_to(root)
                            found.append(f"{where}:{node.lineno} imports {alias.name} from {node.module}, not its home")
    return sorted(found)


def test_no_package_imports_from_a_higher_floor() -> None:
    graph = import_graph(ROOT, set(ALLOWED))
    assert backward_arrows(graph, ALLOWED) == []


def test_no_module_imports_itself_through_others() -> None:
    graph = import_graph(ROOT, set(ALLOWED))
    assert circles(graph) == []


def test_every_name_is_imported_from_its_home() -> None:
    assert second_hand_imports(ROOT, {*ALLOWED, "bench"}) == []


def test_every_package_of_the_project_has_a_floor() -> None:
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    assert packages - set(ALLOWED) - {"bench"} == set()


def test_the_checks_find_a_backward_arrow_and_a_hidden_circle(tmp_path: Path) -> None:
    (tmp_path / "low").mkdir()
    (tmp_path / "high").mkdir()
    (tmp_path / "low" / "__init__.py").write_text("")
    (tmp_path / "high" / "__init__.py").write_text("")
    (tmp_path / "low" / "service.py").write_text("def enqueue():\n    from low.tasks import task\n")
    (tmp_path / "low" / "tasks.py").write_text("from low import service\nfrom low.service import enqueue\n")
    (tmp_path / "low" / "upward.py").write_text("import high.views\n")
    (tmp_path / "high" / "views.py").write_text("from low.tasks import enqueue\n")
    graph = import_graph(tmp_path, {"low", "high"})

    assert backward_arrows(graph, {"low": set(), "high": {"low"}}) == [
        "low.upward (line 1) imports high.views: low may not import high"
    ]
    assert circles(graph) == [["low.service", "low.tasks"]]
    assert second_hand_imports(tmp_path, {"low", "high"}) == [
        "high/views.py:1 imports enqueue from low.tasks, not its home"
    ]
