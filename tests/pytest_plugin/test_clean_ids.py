"""Check ids read `modelgate::accuracy` wherever pytest runs from, as the README documents."""

from __future__ import annotations

import pytest
from projects import Project

pytest_plugins = ["pytester"]


def test_ids_from_a_subfolder_of_the_rootdir(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\n")  # the rootdir is the project root
    (project.root / "tests").mkdir()
    (project.root / "tests" / "test_mine.py").write_text("def test_mine():\n    pass\n")
    monkeypatch.chdir(project.root / "tests")
    result = pytester.runpytest("--modelgate", "../modelgate.yaml", "-v", "-rA")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "test_mine.py::test_mine PASSED*",
            "modelgate::accuracy PASSED*",
            "modelgate::stats.destination PASSED*",
        ]
    )
    result.stdout.fnmatch_lines(["PASSED modelgate::accuracy"])  # the short summary too
    assert "../modelgate" not in result.stdout.str()
