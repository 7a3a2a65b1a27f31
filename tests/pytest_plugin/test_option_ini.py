"""The `modelgate_config` ini key: `--modelgate` without typing it, relative to the ini file."""

from __future__ import annotations

import pytest
from outcomes import CORE, check_outcomes
from projects import Project

pytest_plugins = ["pytester"]


def test_ini_key(pytester: pytest.Pytester, project: Project) -> None:
    pytester.makeini("[pytest]\nmodelgate_config = modelgate.yaml\n")
    result = pytester.runpytest("-q")
    assert set(check_outcomes(result)) >= CORE and result.ret == pytest.ExitCode.OK


def test_the_option_wins_over_the_ini_key(pytester: pytest.Pytester, project: Project) -> None:
    pytester.makeini("[pytest]\nmodelgate_config = missing.yaml\n")
    result = pytester.runpytest("-q", "--modelgate", "modelgate.yaml")
    assert result.ret == pytest.ExitCode.OK
