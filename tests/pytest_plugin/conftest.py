"""Fixtures of the pytest plugin's tests: a blessed tiny project as a user's repository root,
driven through `pytester` as the user's own pytest run would drive it. Each test module loads
pytester itself (`pytest_plugins`): pytest refuses that in a conftest below the rootdir."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest
from projects import Project, build_project

from modelgate.config import load_config
from modelgate.engine.check import run_gate


@pytest.fixture(scope="session", autouse=True)
def _import_the_engine_first(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Run the gate once before any in-process pytester run.

    pytester removes the modules an inner run imported when it ends; torch and scipy cannot be
    imported a second time in one interpreter, so they must already be loaded by then.
    """
    root = tmp_path_factory.mktemp("warm")
    run_gate(load_config(build_project(root, name="warm")))


@pytest.fixture
def project(project: Project, pytester: pytest.Pytester) -> Project:
    """The blessed tiny project, moved into pytester's folder: a user's repository root."""
    shutil.copytree(project.root, pytester.path, dirs_exist_ok=True)
    return Project(root=pytester.path, config=pytester.path / "modelgate.yaml")


@pytest.fixture
def ledger_runs(project: Project) -> Callable[[], list[tuple[str, str]]]:
    """`ledger_runs()`: the (kind, verdict) of every run the project's ledger recorded."""
    from modelgate.history.ledger import open_ledger

    def runs() -> list[tuple[str, str]]:
        with open_ledger(project.root / ".modelgate" / "history.sqlite", create=False) as ledger:
            return [(r.kind.value, r.verdict) for r in ledger.runs()]

    return runs
