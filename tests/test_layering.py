"""The import graph of `modelgate/`: no cycles, and every import points down the layers.

front ends (cli, action, pytest_plugin, api) -> engine -> the layers that do one job each
(analysis, probes, history, models, report, suite, attribution...) -> plain records (config,
result, errors...). Every import counts, also those inside functions and under TYPE_CHECKING:
a cycle hidden in a function is still a cycle for the reader.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "modelgate"
FRONT_ENDS = {"modelgate.cli", "modelgate.action", "modelgate.pytest_plugin", "modelgate.api"}
FRONT_ENDS |= {"modelgate", "modelgate.__main__"}  # `modelgate.check` is the api, lazily
# Plain records every layer may use; they import nothing above themselves.
RECORDS = {
    "modelgate._version",
    "modelgate.baseline_header",
    "modelgate.errors",
    "modelgate.result",
    "modelgate.validation",
    "modelgate.yamlfile",
    "modelgate.probe_settings",
    "modelgate.config",
    "modelgate.paths",  # a leaf: paths from untrusted text, made absolute safely
    "modelgate.regularfile",  # a leaf: the one bounded reader of regular files
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The modelgate modules `path` imports, wherever the import statement is."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            targets = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        else:
            continue
        # `from modelgate import __version__` reaches the package itself, not its lazy api.
        found |= {t for t in targets if t in known and t != name}
    if name != "modelgate":
        found.discard("modelgate")
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(f) for f in files}
    return {module_name(f): imports_of(f, known) for f in files}


def top(module: str) -> str:
    """The package or top-level module a module belongs to (`modelgate.probes`, ...)."""
    return ".".join(module.split(".")[:2])


def test_the_graph_is_read(graph: dict[str, set[str]]) -> None:
    assert "modelgate.engine.check" in graph["modelgate.engine.session"]
    assert "modelgate.result" in graph["modelgate.policy"]


def test_no_module_imports_itself_back(graph: dict[str, set[str]]) -> None:
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


def test_no_package_imports_itself_back(graph: dict[str, set[str]]) -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        packages.setdefault(top(module), set()).update(
            top(t) for t in targets if top(t) != top(module)
        )
    graphlib.TopologicalSorter(packages).prepare()


def test_only_front_ends_import_front_ends(graph: dict[str, set[str]]) -> None:
    wrong = {
        (module, target)
        for module, targets in graph.items()
        for target in targets & FRONT_ENDS
        if module not in FRONT_ENDS
    }
    assert not wrong


def test_only_front_ends_import_the_engine(graph: dict[str, set[str]]) -> None:
    wrong = {
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if top(target) == "modelgate.engine"
        and top(module) != "modelgate.engine"
        and module not in FRONT_ENDS
    }
    assert not wrong


def test_records_import_only_records(graph: dict[str, set[str]]) -> None:
    wrong = {(m, t) for m in RECORDS for t in graph[m] if t not in RECORDS}
    assert not wrong
