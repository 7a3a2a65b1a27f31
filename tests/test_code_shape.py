"""The shape rules of STYLE.md that issue 11 found broken, read from the package source: no dead
code or test-only helper in the package (`policy.margin_collapse_mask`, `probes/run.probe_of`,
`read_png`, `list_flips`), no parameter a function ignores (`run_triggers`' progress), no long
runs of positional parameters (`invert`, `run_triggers`, `list_flips`, `init_suite` took 10-13),
and the validated config named for what it is (`Config.settings`, not `Config.model`)."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "modelgate"
MAX_POSITIONAL = 5  # STYLE.md: more than five parameters want a small frozen dataclass
# Outside the package, what counts as a use of a package name: entry points, the Action,
# the README's API, and the examples and benchmarks that call it.
USERS = ("pyproject.toml", "action.yml", ".pre-commit-hooks.yaml", "README.md")
USER_FOLDERS = ("examples", "benchmarks")

# Known and left to the owners of those modules (issue 11's audit); each is a name only tests use.
ONLY_TESTS_USE = {
    "modelgate.analysis.stats.size_for_overdispersion": "analysis: only its tests call it",
}
# Parameters a function takes and does not read, for a reason.
IGNORED_PARAMETERS = {
    ("modelgate.action", "locate", "finding"): "a github.Locator: every locator takes both",
    ("modelgate.cli", "cmd_schema", "args"): "every command function takes the parsed args",
    ("modelgate.pytest_plugin", "pytest_xdist_node_collection_finished", "node"): "pytest hook",
    ("modelgate.pytest_plugin", "pytest_collection_modifyitems", "config"): "pytest hook",
    # Left to the owners of these modules:
    ("modelgate.baseline", "read_baseline", "config_file"): "baseline.py: unused today",
    ("modelgate.models.sandbox", "_failure", "detail"): "models: unused today",
}
# The modules this rule is enforced in; the rest of the package still has functions with six
# to twelve positional parameters (analysis, probes, flipped, waivers, baseline, attribution).
POSITIONAL_RULE = (
    "modelgate.cli",
    "modelgate.action",
    "modelgate.pytest_plugin",
    "modelgate.api",
    "modelgate.scaffold",
    "modelgate.policy",
    "modelgate.result",
    "modelgate.engine.",
    "modelgate.report.",
    "modelgate.history.",
)


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, ast.parse(path.read_text(encoding="utf-8"))


def functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def outside_words() -> set[str]:
    texts = [(ROOT / name).read_text(encoding="utf-8") for name in USERS]
    for folder in USER_FOLDERS:
        texts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / folder).rglob("*.py"))]
    return set(_WORD.findall("\n".join(texts)))


_WORD = re.compile(r"\w+")


def test_every_top_level_name_is_used_outside_the_tests() -> None:
    """A function or class no module, entry point, example or README names is dead code or a
    test helper: it belongs in tests/ (or nowhere)."""
    package_words = Counter(
        word for p in PACKAGE.rglob("*.py") for word in _WORD.findall(p.read_text("utf-8"))
    )
    outside = outside_words()
    unused = set()
    for module, tree in modules():
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if node.decorator_list or node.name.startswith("pytest_"):  # registered, or a hook
                continue
            if package_words[node.name] <= 1 and node.name not in outside:  # its definition only
                unused.add(f"{module}.{node.name}")
    assert sorted(unused - set(ONLY_TESTS_USE)) == []


def _reads(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {n.id for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.Name)}


def _is_stub(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = [
        s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
    ]
    return all(isinstance(s, (ast.Pass, ast.Raise)) for s in body)  # an interface method


def test_no_function_ignores_a_parameter() -> None:
    ignored = set()
    for module, tree in modules():
        for node in functions(tree):
            if _is_stub(node) or node.name.startswith("__"):  # a protocol fixes the signature
                continue
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
            every += [a for a in (args.vararg, args.kwarg) if a is not None]
            read = _reads(node)
            ignored |= {
                (module, node.name, arg.arg)
                for arg in every
                if arg.arg not in read and arg.arg not in ("self", "cls")
                and not arg.arg.startswith("_")
            }  # fmt: skip
    assert sorted(ignored - set(IGNORED_PARAMETERS)) == []


def test_no_long_runs_of_positional_parameters() -> None:
    long = []
    for module, tree in modules():
        if not any(module == m or module.startswith(m) for m in POSITIONAL_RULE if m):
            continue
        if module.startswith("modelgate.engine.calibrate"):
            continue  # the calibration pipeline has its own owner
        for node in functions(tree):
            positional = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
            positional = [a for a in positional if a not in ("self", "cls")]
            if len(positional) > MAX_POSITIONAL:
                long.append(f"{module}.{node.name}: {len(positional)}")
    assert long == []


@pytest.mark.parametrize(
    "where",
    [
        "modelgate.probes.invert:invert",
        "modelgate.probes.run:run_triggers",
        "modelgate.suite.freeze:init_suite",
        "modelgate.flipped:FlippedCanaries.from_masks",
    ],
)
def test_the_functions_issue_11_named_take_their_options_by_keyword(where: str) -> None:
    module, _, name = where.partition(":")
    function = importlib.import_module(module)
    for part in name.split("."):
        function = getattr(function, part)
    kinds = [p.kind for p in inspect.signature(function).parameters.values()]
    positional = [k for k in kinds if k in (k.POSITIONAL_ONLY, k.POSITIONAL_OR_KEYWORD)]
    assert len(positional) <= MAX_POSITIONAL - 1, where
    assert len(kinds) - len(positional) >= 3, where  # the options have names at the call


def test_the_validated_config_is_called_settings() -> None:
    """`Config.settings: Settings` is the validated YAML; `model` means an ML model only."""
    import dataclasses

    from modelgate import config

    fields = {f.name: f.type for f in dataclasses.fields(config.Config)}
    assert fields["settings"] in ("Settings", config.Settings)
    assert "model" not in fields and not hasattr(config.Config, "model")
    assert not hasattr(config, "ConfigModel")


def test_the_statistics_never_see_the_whole_config() -> None:
    """`analysis/` takes the values it needs (an AlphaPlan, a Calibration), and no module builds
    a Config of its own to lower an alpha (`analysis/screen.py` once did): only config.py does."""
    built, imported = [], []
    for module, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Config":
                built.append(module)
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "modelgate.config"
                and module.startswith("modelgate.analysis")
            ):
                imported.append(module)
    assert built == ["modelgate.config"]
    assert imported == []


# Modules that still spell check names as literals, left to their owners.
CHECK_NAME_LITERALS = {"modelgate.attribution.behaviours"}


def test_check_names_are_spelled_only_in_result() -> None:
    """`CheckName` (and `tag_budget`) in result.py is the one spelling of a check's name; a
    literal elsewhere drifts from it unseen."""
    from modelgate.result import CheckName

    dotted = {name.value for name in CheckName if "." in name.value}  # `accuracy` is also a key
    spelled = {
        module
        for module, tree in modules()
        for node in ast.walk(tree)
        if module != "modelgate.result"
        and isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and (node.value in dotted or node.value.startswith("flips.tag."))
    }
    assert sorted(spelled - CHECK_NAME_LITERALS) == []
