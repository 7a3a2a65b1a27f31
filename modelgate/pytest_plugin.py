"""The pytest front end: `pytest --modelgate modelgate.yaml` adds one test item per check
(`modelgate::stats.destination`), so the gate lands in the test report, JUnit output and `-k`
selection teams already use.

Collection only reads the config: the items are the checks this config can run, named before any
model runs, so `--collect-only` and `-m "not modelgate"` never load the model. The gate runs
once, through `modelgate.run_check` (the same reports and ledger entry as `modelgate check`), when
the first modelgate item runs; under pytest-xdist the controller runs it before it hands out any
test, and the workers read its result. Nothing heavy is imported at module level: without
`--modelgate` (or the `modelgate_config` ini key) the plugin only registers its options.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from modelgate.config import Config
    from modelgate.result import BlessOutcome, Check, GateResult

PLUGIN_NAME = "modelgate-session"
NODE = "modelgate"  # every item's id is `modelgate::<check name>`, wherever pytest runs from
_SHARED_KEY = "modelgate_shared"  # xdist workerinput: the file the controller's result is in


def _safe(text: str) -> str:
    """Untrusted text for pytest's output, which CI logs show: no workflow command, one line."""
    from modelgate.report.escape import terminal_text

    return terminal_text(text)


class ModelgateWarning(UserWarning):
    """A check that warned: the item passes, and the warning summary says why."""


class CheckFailed(Exception):
    """Raised by a failing check item; rendered as the check's findings, never a traceback."""


class GateUndecided(Exception):
    """Raised by every item when the gate could not decide; rendered as its one line."""


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
        "--modelgate-candidate",
        metavar="PATH",
        dest="modelgate_candidate",
        default=None,
        help="model file to gate instead of the config's candidate.path (relative to the "
        "current folder), as `modelgate check --candidate`",
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
    candidate = config.getoption("modelgate_candidate")
    if path is None:
        if bless_wanted or candidate:
            option = "--modelgate-bless" if bless_wanted else "--modelgate-candidate"
            raise pytest.UsageError(f"{option} needs --modelgate CONFIG")
        return
    if bless_wanted and os.environ.get("CI"):
        raise pytest.UsageError(
            "--modelgate-bless is refused when CI is set: bless on a workstation, review the "
            "baseline diff and commit it"
        )
    from modelgate.api import load_check_config
    from modelgate.errors import ModelgateError

    if candidate:
        candidate = str(Path(config.invocation_params.dir, candidate))
    try:
        gate_config = load_check_config(path, candidate)
    except ModelgateError as exc:
        raise pytest.UsageError(f"modelgate: {_safe(exc.one_line())}") from None
    gate = GateSession(gate_config, path, candidate=candidate, bless=bless_wanted)
    config.pluginmanager.register(gate, PLUGIN_NAME)
    _keep_ids_clean(config)


def _keep_ids_clean(config: pytest.Config) -> None:
    """Show `modelgate::accuracy` as it is, not `../modelgate::accuracy`.

    pytest prints every node id relative to the current folder, taking its first part for a path
    under the rootdir; the gate's node is no file, so run from a subfolder its id would read as
    one. Only ids of the gate's node are left alone.
    """
    relative = config.cwd_relative_nodeid

    def cwd_relative_nodeid(nodeid: str) -> str:
        if nodeid == NODE or nodeid.startswith(f"{NODE}::"):
            return nodeid
        return relative(nodeid)

    config.cwd_relative_nodeid = cwd_relative_nodeid  # type: ignore[method-assign]


def planned_checks(config: Config) -> tuple[str, ...]:
    """Every check a run of this config can report, named from the config alone (sorted, as
    the result's checks are): an item for each, before any model runs. A new `CheckName` gets
    an item without a change here; only the checks that run for some configs are left out when
    this one's `AlphaPlan` does not run them."""
    from modelgate.policy import CONDITIONAL_CHECKS, alpha_plan
    from modelgate.result import CheckName, tag_budget

    names = (set(CheckName) - CONDITIONAL_CHECKS) | {n for n, _ in alpha_plan(config).modes}
    planned = {str(name) for name in names}
    for tag, budget in config.policy.tags.items():
        if budget.max_flips is not None:
            planned.add(tag_budget(tag))
        if budget.max_negative_flips is not None:
            planned.add(tag_budget(tag, negative=True))
    return tuple(sorted(planned))


@dataclass(frozen=True)
class Shared:
    """What the run handed to every item: the result, or the one line of why there is none.
    Under xdist the controller writes it to a private file that each worker reads."""

    result: GateResult | None = None
    error: str | None = None
    ran: bool = True  # False: the controller had no modelgate item to run the gate for


def _write_shared(path: Path, shared: Shared) -> None:
    """JSON through pydantic's dataclass support, never pickle: the whole GateResult, so the
    fixture on a worker holds what it holds on the controller."""
    import dataclasses
    import json

    from pydantic import TypeAdapter

    from modelgate.result import GateResult

    result = None
    if shared.result is not None:  # a FlippedCanaries view becomes plain records
        plain = dataclasses.replace(shared.result, flips=tuple(shared.result.flips))
        result = TypeAdapter(GateResult).dump_python(plain, mode="json")
    record = {"result": result, "error": shared.error, "ran": shared.ran}
    path.with_suffix(".tmp").write_text(json.dumps(record), encoding="utf-8")
    path.with_suffix(".tmp").replace(path)


def _read_shared(path: Path) -> Shared:
    import dataclasses
    import json

    from pydantic import TypeAdapter

    from modelgate.result import GateResult

    record = json.loads(path.read_text(encoding="utf-8"))
    result = None
    if record["result"] is not None:
        result = TypeAdapter(GateResult).validate_python(record["result"])
        result = dataclasses.replace(result, flips=tuple(result.flips))
    return Shared(result=result, error=record["error"], ran=record["ran"])


class GateSession:
    """Runs the gate at most once per pytest session and hands the result to items and fixture."""

    def __init__(
        self, config: Config, config_path: Path, *, candidate: str | None, bless: bool
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.candidate = candidate
        self.bless = bless
        self.outcome: BlessOutcome | None = None
        self.reports: dict[str, Path] = {}
        # Known on the xdist controller too, which collects nothing but renders the summary.
        self.planned = planned_checks(config)
        self._shared: Shared | None = None
        self._handoff: Path | None = None  # xdist controller: the folder of the shared file

    # --- running the gate -------------------------------------------------------------------

    def shared(self, pytest_config: pytest.Config) -> Shared:
        """The session's result: read from the controller on an xdist worker, else run here."""
        if self._shared is None:
            workerinput = getattr(pytest_config, "workerinput", None)
            if workerinput is not None and _SHARED_KEY in workerinput:
                self._shared = _read_shared(Path(workerinput[_SHARED_KEY]))
            else:
                self._shared = self._run()
        return self._shared

    def result(self, pytest_config: pytest.Config) -> GateResult:
        """The session's GateResult; GateUndecided when the gate could not decide."""
        shared = self.shared(pytest_config)
        if shared.result is None:
            raise GateUndecided(shared.error or "modelgate did not run")
        return shared.result

    def _run(self) -> Shared:
        from modelgate import api
        from modelgate.errors import ModelgateError

        try:
            if self.bless:
                try:
                    self.outcome = api.bless(self.config_path, self.candidate)
                except ModelgateError as exc:
                    return Shared(error=f"modelgate: not blessed: {_safe(exc.one_line())}")
                if self.outcome.previous is not None:
                    return Shared(result=self.outcome.previous)
                # A first bless has no old baseline to show: the check against the new one.
                # Like `modelgate bless`, blessing writes no report.
                request = api.ReportRequest(enabled=False)
            else:
                request = api.ReportRequest()
            run = api.run_check(self.config_path, candidate=self.candidate, reports=request)
        except ModelgateError as exc:
            return Shared(error=f"modelgate could not decide: {_safe(exc.one_line())}")
        except Exception as exc:  # a bug in modelgate: every item says so, none passes
            return Shared(error=_safe(f"modelgate internal error: {type(exc).__name__}: {exc}"))
        self.reports = dict(run.reports)
        return Shared(result=run.result)

    # --- pytest-xdist: the controller runs the gate once, before any test is handed out ------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self._handoff is None:
            self._handoff = Path(tempfile.mkdtemp(prefix="modelgate-xdist-"))
        node.workerinput[_SHARED_KEY] = str(self._handoff / "shared.json")

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        # Called before the scheduler hands out tests, so the file exists before any worker
        # runs an item; a worker that collected no modelgate item (-m, -k) does not start it.
        if self._handoff is None or (self._shared is not None and self._shared.ran):
            return
        wanted = any(i == NODE or i.startswith(f"{NODE}::") for i in ids)
        shared = self._run() if wanted else Shared(ran=False, error=_NOT_RUN)
        if wanted or self._shared is None:
            self._shared = shared
            _write_shared(self._handoff / "shared.json", shared)

    def pytest_unconfigure(self) -> None:
        if self._handoff is not None:
            shutil.rmtree(self._handoff, ignore_errors=True)

    # --- collection and reporting -----------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so they apply to checks too
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        collector = GateCollector.from_parent(
            session, name=NODE, nodeid=NODE, path=self.config.path, gate=self
        )
        items.extend(session.genitems(collector))

    def pytest_report_header(self) -> str:
        return _safe(f"modelgate: {self.config.path}") + (" (blessing)" if self.bless else "")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        write = terminalreporter.write_line
        shared = self._shared
        result = shared.result if shared is not None else None
        if result is not None:
            from modelgate.report.escape import terminal_text

            unplanned = [c.name for c in result.checks if c.name not in self.planned]
            if unplanned:  # never expected; a check no item shows must not pass unseen
                terminalreporter.section("modelgate: checks without a test item", red=True)
                write(terminal_text(", ".join(unplanned)))
            if result.notes:
                terminalreporter.section("modelgate notes")
                for note in result.notes:
                    write(terminal_text(note))
            if self.reports:
                terminalreporter.section("modelgate reports")
                for fmt, path in sorted(self.reports.items()):
                    write(terminal_text(f"{fmt} report: {path}"))
        outcome = self.outcome
        if outcome is None:
            return
        from modelgate.report.bless import bless_lines

        terminalreporter.section("modelgate bless")
        model = self.config.candidate.path or self.config.candidate.callable or "the candidate"
        for line in bless_lines(outcome, str(model)):
            write(line)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        result = self._shared.result if self._shared is not None else None
        if result is None or session.exitstatus != pytest.ExitCode.OK:
            return
        if any(name not in self.planned for name in result.failed_checks):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


_NOT_RUN = "modelgate did not run: no modelgate item was selected (-m / -k) in this xdist session"


class GateCollector(pytest.Collector):
    """The synthetic `modelgate` node whose children are the checks this config can run."""

    def __init__(self, *, gate: GateSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate

    def collect(self) -> list[pytest.Item]:
        return [
            CheckItem.from_parent(self, name=name, nodeid=f"{NODE}::{name}", gate=self.gate)
            for name in self.gate.planned
        ]

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.gate.config.path, None, NODE


class CheckItem(pytest.Item):
    """One check of the gate: fails with its findings, warns, skips or passes as the check did."""

    def __init__(self, *, gate: GateSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate
        self.add_marker("modelgate")

    @property
    def check(self) -> Check | None:
        """This item's check in the session's result (runs the gate if nothing has yet)."""
        result = self.gate.result(self.config)
        return next((c for c in result.checks if c.name == self.name), None)

    def runtest(self) -> None:
        from modelgate.result import Status

        check = self.check
        if check is None:  # e.g. drift before there are blessings to compare with
            pytest.skip(f"{self.name}: not run for this config and ledger")
        status = check.status
        if status is Status.FAILED:
            raise CheckFailed(check.name)
        if status is Status.SKIPPED:
            pytest.skip(_safe(check.summary))
        if status is Status.WARNED:
            from modelgate.report.failure import failure_text

            # Attributed to the config file, not to this plugin's source line.
            warnings.warn_explicit(
                ModelgateWarning(failure_text(check, None)), None, str(self.path), 0
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, GateUndecided):
            return str(excinfo.value)
        check = self.check if isinstance(excinfo.value, CheckFailed) else None
        if check is not None:
            from modelgate.report.failure import failure_text

            return failure_text(check, self.gate.result(self.config))
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        # The domain must not end with the check's name, or pytest rewrites its dots as `::`.
        return self.path, None, f"{NODE}: {self.name}"


@pytest.fixture(scope="session")
def modelgate_result(request: pytest.FixtureRequest) -> GateResult:
    """The session's GateResult, for custom assertions (`result.check("accuracy")`, flips...)."""
    gate = request.config.pluginmanager.get_plugin(PLUGIN_NAME)
    if not isinstance(gate, GateSession):
        pytest.skip("modelgate_result needs --modelgate CONFIG or the modelgate_config ini key")
    shared = gate.shared(request.config)
    if not shared.ran:
        pytest.skip(_NOT_RUN)
    if shared.result is None:
        pytest.fail(shared.error or "modelgate did not run", pytrace=False)
    return shared.result
