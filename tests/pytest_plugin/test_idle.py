"""Without `--modelgate` the plugin registers its options and does nothing else."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_plugin_is_registered_by_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        ["*--modelgate=CONFIG*", "*--modelgate-candidate=PATH*", "*--modelgate-bless*"]
    )


def test_idle_without_the_option_and_imports_no_torch(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_nothing_heavy_loaded(request):
            assert request.config.pluginmanager.has_plugin("modelgate")
            assert "torch" not in sys.modules and "modelgate.engine" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_fixture_without_the_option_skips(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_custom(modelgate_result):\n    pass\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*modelgate_result needs --modelgate CONFIG*"])


@pytest.mark.parametrize("option", [["--modelgate-bless"], ["--modelgate-candidate", "m.pt"]])
def test_gate_options_need_a_config(pytester: pytest.Pytester, option: list[str]) -> None:
    result = pytester.runpytest(*option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {option[0]} needs --modelgate CONFIG"])
