"""The GitHub Action's entry point: `python -m modelgate.action`, configured by environment only.

`action.yml` hands every input over as an `INPUT_*` variable (never pasted into script text), and
this runs the same pipeline as the CLI (`modelgate.run_check`: the same reports and trigger
pictures), then GitHub's renderings: annotations, step summary, step outputs (never GITHUB_ENV).
Exit codes are the gate's: 0 passed, 1 findings (0 when fail-on-findings is false), 2 could not
decide, 3 internal error.

In a CI matrix, `shard: K/N` is `modelgate check --shard K/N` (one slice predicted, its part
written into `part-dir` and named in the outputs; no verdict, no report, exit 0) and `merge:
PARTS` is `modelgate merge` (the parts verified, then the one check pipeline and every rendering
above), through the same engine functions as the CLI.
"""

from __future__ import annotations

import os
import secrets
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from modelgate.errors import (
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_PASSED,
    EXIT_UNDECIDED,
    ModelgateError,
    UsageError,
)
from modelgate.paths import resolved
from modelgate.report import github
from modelgate.report.markdown import escape_md
from modelgate.result import CheckName, WaiverState, budget_tag

if TYPE_CHECKING:
    from modelgate.config import Config
    from modelgate.result import Check, Finding, GateResult

# The outputs of a `shard:` step (a `merge:` step has the gate's outputs).
SHARD_OUTPUTS = ("exit-code", "part", "part-files", "part-dir")
DEFAULT_PART_DIR = "modelgate-parts"

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}

# The config keys an annotation of each check points at, most specific first: the budget or test
# mode when the config sets one, else the false-alarm budget; the candidate line is the last resort.
_CHECK_KEYS: dict[str, tuple[str, ...]] = {
    CheckName.ACCURACY: ("policy.accuracy.max_drop", "policy.accuracy"),
    CheckName.PROTECTED_BUDGET: ("policy.protected.max_flips", "policy.protected"),
    CheckName.MARGIN_COLLAPSE: ("policy.protected.margin_collapse", "policy.alpha"),
    CheckName.MCNEMAR: ("policy.tests.mcnemar", "policy.alpha"),
    CheckName.PER_CLASS: ("policy.tests.per_class", "policy.alpha"),
    CheckName.DESTINATION: ("policy.tests.destination", "policy.alpha"),
    CheckName.ATTRACTION: ("policy.tests.attraction", "policy.alpha"),
    CheckName.REVERSAL: ("policy.tests.reversal", "policy.alpha"),
    CheckName.TRIGGERS: ("policy.triggers.probes", "policy.alpha"),
    CheckName.INVERSION: ("policy.triggers.inversion", "policy.alpha"),
    CheckName.DRIFT: ("policy.drift.mode", "policy.alpha"),
}


@dataclass(frozen=True)
class Inputs:
    """The action's inputs, read from the environment `action.yml` sets."""

    config: str
    working_directory: str
    candidate: str
    report_dir: str
    fail_on_findings: bool
    artifact_name: str
    shard: str = ""  # `K/N`: predict that slice and write its part (no verdict)
    merge: tuple[str, ...] = ()  # parts (files, folders, globs) to decide on
    part_dir: str = DEFAULT_PART_DIR

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Inputs:
        raw = env.get("INPUT_FAIL_ON_FINDINGS", "true").strip().lower() or "true"
        if raw not in _TRUE | _FALSE:
            raise UsageError(f"fail-on-findings must be true or false, not {raw!r}")
        shard = env.get("INPUT_SHARD", "").strip()
        # One part, folder or glob per line, as upload-artifact's `path:` takes them.
        merge = tuple(line.strip() for line in env.get("INPUT_MERGE", "").splitlines())
        merge = tuple(line for line in merge if line)
        if shard and merge:
            raise UsageError(
                "shard and merge are both set: a shard step predicts one slice, the merge step "
                "decides on every part",
                key="merge",
            )
        if shard and env.get("INPUT_REPORT_DIR", "").strip():
            raise UsageError(
                "a shard writes no report (report-dir given)",
                key="shard",
                hint="set report-dir on the merge step, which decides",
            )
        return cls(
            config=env.get("INPUT_CONFIG", "").strip() or "modelgate.yaml",
            working_directory=env.get("INPUT_WORKING_DIRECTORY", "").strip() or ".",
            candidate=env.get("INPUT_CANDIDATE", "").strip(),
            report_dir=env.get("INPUT_REPORT_DIR", "").strip(),
            fail_on_findings=raw in _TRUE,
            artifact_name=env.get("INPUT_ARTIFACT_NAME", "").strip() or "modelgate-report",
            shard=shard,
            merge=merge,
            part_dir=env.get("INPUT_PART_DIR", "").strip() or DEFAULT_PART_DIR,
        )


def repo_path(path: str | Path, env: Mapping[str, str]) -> str:
    """`path` relative to the repository root when it lies inside it: GitHub's annotation form."""
    resolved_path = resolved(path)
    workspace = env.get("GITHUB_WORKSPACE")
    if workspace:
        try:
            return resolved_path.relative_to(resolved(workspace)).as_posix()
        except ValueError:
            pass
    return resolved_path.as_posix()


def config_locator(config: Config, result: GateResult, env: Mapping[str, str]) -> github.Locator:
    """Point a finding at the policy line that set its budget, or the waiver that expired."""
    config_file = repo_path(config.path, env)
    waivers_file = (
        repo_path(config.resolve(config.settings.waivers), env) if config.settings.waivers else None
    )
    expired = [w.line for w in result.waivers if w.state is WaiverState.EXPIRED and w.line]

    def locate(check: Check, finding: Finding) -> github.Location:
        if check.name == CheckName.WAIVERS and waivers_file:
            return github.Location(waivers_file, expired[0] if expired else None)
        keys: tuple[str, ...] = _CHECK_KEYS.get(check.name, ())
        tag = budget_tag(check.name)
        if tag is not None:
            keys = (f"policy.tags.{tag}",)
        lines = config.located.lines if config.located else {}
        line = next((lines[k] for k in keys if k in lines), None)
        return github.Location(config_file, line or config.line_of("candidate"))

    return locate


def _stop_commands(out: TextIO) -> str:
    """Switch off workflow-command parsing; returns the token that switches it back on.

    The console report repeats untrusted labels, so it is printed while the runner ignores
    commands: no line of it can become an annotation, a mask or an `add-path`.
    """
    token = secrets.token_hex(16)
    print(f"::stop-commands::{token}", file=out, flush=True)
    return token


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")


def _publish(env: Mapping[str, str], values: dict[str, str]) -> None:
    # Step outputs only: GITHUB_ENV would set variables in every later step of the user's job.
    if env.get("GITHUB_OUTPUT"):
        github.write_outputs(env["GITHUB_OUTPUT"], values)


def _undecided(exc: ModelgateError, env: Mapping[str, str], out: TextIO, report_dir: str) -> int:
    file = repo_path(exc.file, env) if exc.file else None
    print(
        github.command(
            "error", exc.one_line(), file=file, line=exc.line, title="modelgate could not decide"
        ),
        file=out,
    )
    _append(
        env.get("GITHUB_STEP_SUMMARY"),
        f"# modelgate: ⛔ could not decide\n\n{escape_md(exc.one_line())}\n",
    )
    _publish(
        env,
        {
            "verdict": "undecided",
            "exit-code": str(EXIT_UNDECIDED),
            "findings": "0",
            "failed-checks": "",
            "unexplained-flips": "",
            "report-dir": report_dir,
        },
    )
    return EXIT_UNDECIDED


def run(env: Mapping[str, str], out: TextIO) -> int:
    """Run the gate as the action does; returns the exit code."""
    report_dir = ""
    try:
        inputs = Inputs.from_environ(env)
        folder = Path(inputs.working_directory)
        if not folder.is_dir():
            raise UsageError("working-directory is not a folder", file=folder)
        os.chdir(folder)
        if inputs.report_dir:
            report_dir = str(resolved(inputs.report_dir))
        if inputs.shard:
            return _run_shard(inputs, env, out)
        return _run_gate(inputs, env, out)
    except ModelgateError as exc:
        return _undecided(exc, env, out, report_dir)
    except OSError as exc:  # a file the system refused (a report path under a file...): exit 2
        from modelgate.errors import OutputError

        error = OutputError(str(exc.strerror or exc), file=exc.filename)
        return _undecided(error, env, out, report_dir)


def _run_shard(inputs: Inputs, env: Mapping[str, str], out: TextIO) -> int:
    """`shard: K/N`: predict the slice, write its part, name its files in the outputs."""
    from modelgate.engine.shard import parse_shard, run_shard

    shard = parse_shard(inputs.shard, key="shard")
    done = run_shard(
        inputs.config, shard, candidate=inputs.candidate or None, part_dir=inputs.part_dir
    )
    files = [resolved(path) for path in done.files]
    rows = (
        f"canaries {done.start}..{done.stop - 1}"
        if done.stop > done.start
        else "no canaries (the suite has fewer batches than shards)"
    )
    label = f"shard {shard.index}/{shard.count}"
    message = f"{label}: {rows} predicted; part written to {files[0]}"
    print(
        github.command("notice", f"{message} (the merge step decides)", title="modelgate"), file=out
    )
    _append(
        env.get("GITHUB_STEP_SUMMARY"),
        f"# modelgate: {label} predicted\n\n{escape_md(message)}. No verdict yet: the merge "
        "step decides on every shard's part.\n",
    )
    _publish(
        env,
        {
            "exit-code": str(EXIT_PASSED),
            "part": str(files[0]),
            "part-files": "\n".join(map(str, files)),
            "part-dir": str(files[0].parent),
        },
    )
    return EXIT_PASSED


def _run_gate(inputs: Inputs, env: Mapping[str, str], out: TextIO) -> int:
    from modelgate.api import ReportRequest, run_check
    from modelgate.report import console

    given = None
    if inputs.merge:  # `modelgate merge`: the shards' predictions, verified inside the run
        from modelgate.engine.merge import merged_source

        given = merged_source(inputs.merge)
    folder = Path(inputs.report_dir) if inputs.report_dir else None
    run = run_check(
        inputs.config,
        candidate=inputs.candidate or None,
        reports=ReportRequest(folder=folder),
        given=given,
    )
    config, result, written = run.config, run.result, run.reports
    folder = run.report_dir or Path.cwd()  # reports are always on in the Action

    token = _stop_commands(out)
    print(console.render(result, color=False), file=out)
    print(f"::{token}::", file=out, flush=True)

    for line in github.annotation_lines(result, locate=config_locator(config, result, env)):
        print(line, file=out)
    pointer = f"in the {inputs.artifact_name} artifact of this run"
    _append(env.get("GITHUB_STEP_SUMMARY"), github.step_summary(result, pointer))
    values = github.outputs(result, {k: resolved(p) for k, p in written.items()})
    values["report-dir"] = str(resolved(folder))
    _publish(env, values)
    if result.exit_code == EXIT_FINDINGS and not inputs.fail_on_findings:
        print(
            github.command(
                "notice",
                "the gate found problems, but fail-on-findings is false: the step passes and "
                "the verdict output says failed",
                title="modelgate",
            ),
            file=out,
        )
        return EXIT_PASSED
    return result.exit_code


def main(env: Mapping[str, str] | None = None, out: TextIO | None = None) -> int:
    env = os.environ if env is None else env
    out = sys.stdout if out is None else out
    try:
        return run(env, out)
    except Exception as exc:  # a bug in modelgate, not in the user's input
        token = _stop_commands(out)
        traceback.print_exc(file=out)
        print(f"::{token}::", file=out, flush=True)
        print(
            github.command(
                "error",
                f"internal error: {type(exc).__name__}: {exc} (please report it)",
                title="modelgate internal error",
            ),
            file=out,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
