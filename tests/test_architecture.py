"""The architecture's rules, checked on the source so they stay true (README: Architecture).

Every ``import`` counts, wherever it stands (module level, inside a function, under
``TYPE_CHECKING``): a deferred import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "protocols", "search_spaces", "workloads", "orchestrator", "synth")
#: Layers, lowest first: a module imports only from its own layer's package or lower layers.
LAYERS = {"core": 0, "protocols": 1, "search_spaces": 1, "workloads": 2, "orchestrator": 4}
#: The experiments layer inside the orchestrator: specs, the registry and the built-ins.
EXPERIMENT_MODULES = ("orchestrator.specs", "orchestrator.experiments", "orchestrator.catalog")
#: The synthetic generator imports only the leaves and the datasets' layout constants, and only
#: the settings and the CLI (and validation, which names its sizes) import it.
SYNTH_MAY_IMPORT = ("core", "protocols.layouts", "synth")
SYNTH_IMPORTERS = ("orchestrator.settings", "orchestrator.cli_data", "orchestrator.validation")
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources(folders: tuple[str, ...]) -> dict[str, Path]:
    return {
        _module_name(p): p
        for folder in folders
        for p in sorted((ROOT / folder).rglob("*.py"))
        if ".venv" not in p.parts
    }


MODULES = _sources(PACKAGES)


def _imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import statement of a module."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".")
                if path.name != "__init__.py":
                    package = package[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([node.module] if node.module else []))
            names = [alias.name for alias in node.names]
            submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
            out += [(m, []) for m in submodules]
            taken = [n for n in names if f"{base}.{n}" not in MODULES]
            if taken or not submodules:  # ``from . import a`` depends on ``a``, not on ``.``
                out.append((base, taken))
    return out


def _ours(module: str) -> str | None:
    """The module of ours an import names (its longest known prefix), else None."""
    while module and module not in MODULES:
        module = module.rpartition(".")[0]
    return module or None


GRAPH = {
    name: {t for m, _ in _imports(name, path) if (t := _ours(m)) and t != name}
    for name, path in MODULES.items()
}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_checker_sees_cycles_and_relative_imports() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    assert "core.registry" in GRAPH["protocols.datasets"]  # absolute
    assert "synth.clips" in GRAPH["synth.plans"]  # relative


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_imports_point_down_the_layers() -> None:
    upward = []
    for name, targets in GRAPH.items():
        package = name.split(".")[0]
        if package == "synth":
            continue
        for target in targets:
            other = target.split(".")[0]
            if other == "synth":
                continue  # its own test below
            if other != package and LAYERS[other] >= LAYERS[package]:
                upward.append(f"{name} -> {target}")
    assert upward == []


def test_the_experiments_layer_sits_below_the_driver() -> None:
    allowed = ("core", "protocols", "search_spaces", "workloads", *EXPERIMENT_MODULES)
    bad = [
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        if _within(name, EXPERIMENT_MODULES)
        for target in targets
        if not _within(target, allowed)
    ]
    assert bad == []


def test_the_generator_is_a_separate_package() -> None:
    bad = [
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if (name.startswith("synth") and not _within(target, SYNTH_MAY_IMPORT))
        or (
            target.startswith("synth")
            and not name.startswith("synth")
            and not _within(name, SYNTH_IMPORTERS)
        )
    ]
    assert bad == []


def test_code_version_hashes_no_generator_code() -> None:
    from orchestrator.jobs import RESULT_PACKAGES

    assert "synth" not in RESULT_PACKAGES and "orchestrator" not in RESULT_PACKAGES


@pytest.mark.parametrize(
    ("library", "home"), [("ray", "orchestrator.backend"), ("mlflow", "orchestrator.tracking")]
)
def test_one_home_per_service_library(library: str, home: str) -> None:
    importers = sorted(
        name
        for name, path in MODULES.items()
        if any(m == library or m.startswith(library + ".") for m, _ in _imports(name, path))
    )
    assert importers and all(_within(name, (home,)) for name in importers), importers


def test_no_private_name_crosses_a_module() -> None:
    sources = {**MODULES, **_sources(("tests", "bench"))}
    crossing = [
        f"{name}: {module}.{n}"
        for name, path in sources.items()
        for module, names in _imports(name, path)
        if _ours(module) and _ours(module) != name
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert crossing == []


def test_modules_stay_small() -> None:
    long = {
        name: n
        for name, path in MODULES.items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
