"""The pytest front end: `pytest --modelgate modelgate.yaml` runs the gate once per session and
turns each check into a test item (`modelgate::stats.destination`), so the gate lands in the
test report, JUnit output and `-k` selection teams already use.

Nothing heavy is imported at module level: without `--modelgate` (or the `modelgate_config` ini
key) the plugin only registers its options, and torch is never loaded.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from modelgate.config import Config
    from modelgate.engine.bless import BlessOutcome
    from modelgate.result import Check, GateResult

MAX_CANARIES = 10
PLUGIN_NAME = "modelgate-session"


def _safe(text: str) -> str:
    """Untrusted text for pytest's output, which CI logs show: no workflow command, one line."""
    from modelgate.report.escape import terminal_text

    return terminal_text(text)


class ModelgateWarning(UserWarning):
    """A check that warned: the item passes, and the warning summary says why."""


class CheckFailed(Exception):
    """Raised by a failing check item; rendered as the check's findings, never a traceback."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("modelgate", "modelgate: gate a retrained model")
    group.addoption(
        "--modelgate",
        metavar="CONFIG",
        dest="modelgate_config",
        default=None,
        help="run the modelgate gate with this config; one test item per check",
    )
    group.addoption(
        "--modelgate-bless",
        action="store_true",
        dest="modelgate_bless",
        help="record the candidate as the new baseline and report which canaries changed "
        "(refused when the CI environment variable is set)",
    )
    parser.addini(
        "modelgate_config", "modelgate config to gate on (as --modelgate, relative to rootdir)"
    )


def _config_path(config: pytest.Config) -> Path | None:
    given = config.getoption("modelgate_config")
    if given:
        return Path(config.invocation_params.dir, given)
    ini = config.getini("modelgate_config")
    if ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return base / str(ini)
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "modelgate: a check of the modelgate gate (-m modelgate)")
    path = _config_path(config)
    bless_wanted = bool(config.getoption("modelgate_bless"))
    if path is None:
        if bless_wanted:
            raise pytest.UsageError("--modelgate-bless needs --modelgate CONFIG")
        return
    if bless_wanted and os.environ.get("CI"):
        raise pytest.UsageError(
            "--modelgate-bless is refused when CI is set: bless on a workstation, review the "
            "baseline diff and commit it"
        )
    from modelgate.config import load_config
    from modelgate.errors import ModelgateError

    try:
        gate_config = load_config(path)
    except ModelgateError as exc:
        raise pytest.UsageError(f"modelgate: {_safe(exc.one_line())}") from None
    config.pluginmanager.register(GateSession(gate_config, bless=bless_wanted), PLUGIN_NAME)


class GateSession:
    """Runs the gate at most once per pytest session and hands the result to items and fixture."""

    def __init__(self, config: Config, *, bless: bool) -> None:
        self.config = config
        self.bless = bless
        self.outcome: BlessOutcome | None = None
        self._result: GateResult | None = None
        self._error: Exception | None = None

    def result(self) -> GateResult:
        """The session's GateResult; a ModelgateError is raised again to every caller."""
        if self._error is not None:
            raise self._error
        if self._result is None:
            from modelgate.engine.bless import bless
            from modelgate.engine.check import run_gate

            try:
                if self.bless:
                    self.outcome = bless(self.config)
                    # The check against the old baseline; a first bless has none to show.
                    self._result = self.outcome.previous or run_gate(self.config)
                else:
                    self._result = run_gate(self.config)
            except Exception as exc:
                self._error = exc
                raise
        return self._result

    @pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so they apply to checks too
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        from modelgate.errors import ModelgateError

        if self.bless:
            try:
                self.result()
            except ModelgateError as exc:
                message = f"modelgate: not blessed: {_safe(exc.one_line())}"
                raise pytest.UsageError(message) from None
        collector = GateCollector.from_parent(
            session, name="modelgate", nodeid="modelgate", path=self.config.path, gate=self
        )
        items.extend(session.genitems(collector))

    def pytest_report_header(self) -> str:
        return f"modelgate: {self.config.path}" + (" (blessing)" if self.bless else "")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        write = terminalreporter.write_line
        if self._result is not None and self._result.notes:
            from modelgate.report.escape import terminal_text

            terminalreporter.section("modelgate notes")
            for note in self._result.notes:
                write(terminal_text(note))
        outcome = self.outcome
        if outcome is None:
            return
        from modelgate.report.bless import bless_lines

        terminalreporter.section("modelgate bless")
        model = self.config.candidate.path or self.config.candidate.callable or "the candidate"
        for line in bless_lines(outcome, str(model)):
            write(line)


class GateCollector(pytest.Collector):
    """The synthetic `modelgate` node whose children are the checks of one gate run."""

    def __init__(self, *, gate: GateSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate

    def collect(self) -> list[pytest.Item]:
        result = self.gate.result()
        return [
            CheckItem.from_parent(self, name=c.name, nodeid=f"modelgate::{c.name}", check=c)
            for c in result.checks
        ]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        from modelgate.errors import ModelgateError

        if isinstance(excinfo.value, ModelgateError):
            return f"modelgate could not decide: {_safe(excinfo.value.one_line())}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.gate.config.path, None, "modelgate"


class CheckItem(pytest.Item):
    """One check of the gate: fails with its findings, warns, skips or passes as the check did."""

    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.add_marker("modelgate")

    def runtest(self) -> None:
        from modelgate.result import Status

        status = self.check.status
        if status is Status.FAILED:
            raise CheckFailed(self.check.name)
        if status is Status.SKIPPED:
            pytest.skip(self.check.summary)
        if status is Status.WARNED:
            # Attributed to the config file, not to this plugin's source line.
            warnings.warn_explicit(
                ModelgateWarning(failure_text(self.check, None)), None, str(self.path), 0
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, CheckFailed):
            gate = self.parent.gate if isinstance(self.parent, GateCollector) else None
            return failure_text(self.check, gate.result() if gate else None)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"modelgate: {self.check.name}"


def failure_text(check: Check, result: GateResult | None) -> str:
    """The check's summary, each finding's sentence and its top flipped canaries, on lines."""
    from modelgate.report.escape import terminal_text

    lines = [f"{terminal_text(check.name)}: {terminal_text(check.summary)}"]
    flips: dict[str, Any] = {}
    if result is not None:
        from modelgate.flipped import FlippedCanaries

        wanted = {c for finding in check.findings for c in finding.canaries[:MAX_CANARIES]}
        flips = (
            result.flips.lookup(wanted)
            if isinstance(result.flips, FlippedCanaries)
            else {f.id: f for f in result.flips if f.id in wanted}
        )
    for finding in check.findings:
        lines.append(f"- {terminal_text(finding.message)}")
        if finding.p_value is not None:
            test = terminal_text(finding.test or "?")
            lines.append(f"  test: {test}, p-value: {finding.p_value}")
        shown = finding.canaries[:MAX_CANARIES]
        flipped = [flips[c] for c in shown if c in flips]
        others = [terminal_text(c) for c in shown if c not in flips]
        lines += [
            f"  {terminal_text(f.id)}  label {terminal_text(f.label)}: "
            f"{terminal_text(f.baseline)} -> {terminal_text(f.candidate)}  "
            f"margin {f.baseline_margin:.4g} -> {f.candidate_margin:.4g}"
            for f in flipped
        ]
        if others:
            lines.append(f"  canaries: {', '.join(others)}")
        if len(finding.canaries) > len(shown):
            lines.append(f"  ... and {len(finding.canaries) - len(shown)} more in the report")
    return "\n".join(lines)


@pytest.fixture(scope="session")
def modelgate_result(request: pytest.FixtureRequest) -> GateResult:
    """The session's GateResult, for custom assertions (`result.check("accuracy")`, flips...)."""
    gate = request.config.pluginmanager.get_plugin(PLUGIN_NAME)
    if not isinstance(gate, GateSession):
        pytest.skip("modelgate_result needs --modelgate CONFIG or the modelgate_config ini key")
    from modelgate.errors import ModelgateError

    try:
        return gate.result()
    except ModelgateError as exc:
        pytest.fail(f"modelgate could not decide: {_safe(exc.one_line())}", pytrace=False)
