"""The `modelgate` command: the only module that parses arguments, prints and exits.

Heavy modules (torch, numpy, the engine) are imported inside the commands so `--help` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modelgate._version import __version__
from modelgate.errors import (
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_UNDECIDED,
    ModelgateError,
    UsageError,
)

EXIT_CODES_HELP = """\
exit codes:
  0  passed: no finding
  1  findings: the gate failed the candidate (see the report)
  2  could not decide: bad config, missing or tampered input, a record no trust anchor
     vouches for, a model that fails to load, hangs or returns NaN (fail closed; one line
     names the file and key; no report is left behind)
  3  internal error in modelgate (please report it; --debug shows the traceback)
"""


def _err(message: str) -> None:
    from modelgate.report.escape import terminal_text

    if sys.stderr is not None:  # `2>&-` leaves no stream at all
        print(f"modelgate: error: {terminal_text(message)}", file=sys.stderr)


def _note(message: str) -> None:
    from modelgate.report.escape import terminal_text

    if sys.stderr is not None:
        print(terminal_text(message), file=sys.stderr)


def _out(text: str = "") -> None:
    """One line (or block) of results on stdout; untrusted text is already escaped."""
    if sys.stdout is not None:  # `>&-` leaves no stream at all
        print(text)


def _safe(text: object) -> str:
    from modelgate.report.escape import terminal_text

    return terminal_text(text)


def _progress(label: str, unit: str = "canaries") -> Callable[[int, int], None] | None:
    """A one-line progress counter on stderr, only when stderr is a terminal."""
    if sys.stderr is None or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        print(f"\r{label} {done}/{total} {unit}", end=end, file=sys.stderr, flush=True)

    return show


# What each stage of a run counts, as its progress line says it.
STAGE_UNITS = {"predicting": "canaries", "probing": "stamped canaries", "inverting": "classes"}


def _stages(stage: str) -> Callable[[int, int], None] | None:
    """The progress counter of one stage of a run (see `engine.candidate.Stages`)."""
    return _progress(stage, STAGE_UNITS.get(stage, "steps"))


def _load_config(args: argparse.Namespace) -> Any:
    from modelgate.api import load_check_config

    return load_check_config(args.config, getattr(args, "candidate", None))


def cmd_check(args: argparse.Namespace) -> int:
    from modelgate.api import ReportRequest, run_check
    from modelgate.report import console

    if getattr(args, "shard", None):
        return _check_shard(args)
    if getattr(args, "part_dir", None):
        raise UsageError("only with --shard K/N", key="--part-dir")
    request = ReportRequest(
        enabled=not args.no_reports,
        folder=Path(args.output_dir) if args.output_dir else None,
        paths={"json": args.json, "junit": args.junit_xml, "markdown": args.markdown},
    )
    run = run_check(
        args.config,
        candidate=args.candidate,
        reports=request,
        progress=_stages,
        given=getattr(args, "merged", None),  # `modelgate merge`: the shards' predictions
    )
    result = run.result
    try:
        if not args.quiet or result.exit_code != 0:
            _out(console.render(result, color=console.use_color(sys.stdout)))
            for fmt, path in sorted(run.reports.items()):
                _note(f"{fmt} report: {path}")
    except BrokenPipeError:  # `| head`: the verdict stands, its reports are written
        _silence_stdout()
    return result.exit_code


def _check_shard(args: argparse.Namespace) -> int:
    """`check --shard K/N`: predict one slice of the suite and write its part for `merge`."""
    from modelgate.engine.shard import parse_shard, run_shard

    shard = parse_shard(args.shard)
    reports = {"--json": args.json, "--junit-xml": args.junit_xml, "--markdown": args.markdown}
    given = [
        option for option, value in {**reports, "--output-dir": args.output_dir}.items() if value
    ]
    if given:
        raise UsageError(
            f"a shard writes no report ({given[0]} given)",
            key="--shard",
            hint="pass the report options to `modelgate merge`, which decides",
        )
    done = run_shard(
        args.config,
        shard,
        candidate=args.candidate,
        part_dir=args.part_dir,
        progress=_progress(f"shard {shard.index}/{shard.count}: predicting"),
    )
    rows = (
        f"canaries {done.start}..{done.stop - 1}"
        if done.stop > done.start
        else "no canaries (the suite has fewer batches than shards)"
    )
    _note(
        f"shard {shard.index}/{shard.count}: {rows} predicted; part written to "
        f"{_safe(done.part)} (run `modelgate merge` on every shard's part)"
    )
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    """`merge PARTS...`: the shards' predictions, verified, through the one `check` pipeline."""
    from modelgate.engine.merge import merged_source

    args.merged = merged_source(args.parts)
    args.shard = None
    return cmd_check(args)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's exit-time flush cannot fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass


def cmd_bless(args: argparse.Namespace) -> int:
    from modelgate.api import bless
    from modelgate.report.bless import bless_lines

    config = _load_config(args)
    outcome = bless(
        args.config,
        args.candidate,
        force=args.force,
        reason=args.reason,
        progress=_stages,
    )
    for line in bless_lines(outcome, str(config.candidate.path or config.candidate.callable)):
        _out(line)
    from modelgate.baseline import sidecar_path

    if sidecar_path(outcome.path).exists():
        _note(
            f"modelgate: note: the scores of this large suite are in {sidecar_path(outcome.path)}"
            f" (its sha256 is in the record): commit it with {outcome.path.name}"
        )
    if config.settings.calibration:
        _note(
            f"modelgate: note: {config.settings.calibration} was made for the previous baseline: "
            "run `modelgate calibrate --control ...` on this baseline before the next check"
        )
    _sign(args, outcome.path, required=False)
    if config.settings.trust.public_key and not args.sign_key:
        _note(f"modelgate: note: sign the new record: modelgate sign {outcome.path}")
    return 0


SIGNING_KEY_ENV = "MODELGATE_SIGNING_KEY"
SIGNING_KEY_HELP = "PEM private key file (default: the key text in $MODELGATE_SIGNING_KEY)"


def _signing_key(args: argparse.Namespace) -> Any:
    """The private key from --key FILE, else the PEM text in $MODELGATE_SIGNING_KEY (a CI
    secret); None when neither is given."""
    from modelgate.signing import load_private_key

    path = getattr(args, "key", None) or getattr(args, "sign_key", None)
    if path:
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read the key: {exc.strerror or exc}", file=path) from None
        return load_private_key(pem, path)
    text = os.environ.get(SIGNING_KEY_ENV, "")
    return load_private_key(text.encode(), f"${SIGNING_KEY_ENV}") if text.strip() else None


def _sign(args: argparse.Namespace, record: Path, *, required: bool) -> None:
    from modelgate.signing import sign_record

    if not (required or getattr(args, "sign_key", None)):
        return
    key = _signing_key(args)
    if key is None:
        raise UsageError(f"give --key FILE, or the PEM private key in ${SIGNING_KEY_ENV}")
    out = sign_record(record, key)
    _out(_safe(f"signed {record}: {out}"))


def cmd_keygen(args: argparse.Namespace) -> int:
    from modelgate.signing import generate_keys

    prefix = Path(args.out)
    if not args.out.strip() or args.out.endswith(("/", os.sep)) or prefix.is_dir():
        raise UsageError(
            "a file prefix is needed, not a folder or nothing",
            key="--out",
            hint=f"e.g. --out {prefix / 'modelgate-signing' if prefix.is_dir() else 'keys/ci'}",
        )
    private, public = generate_keys(prefix, force=args.force)
    _out(_safe(f"wrote {private} (private: keep it as a CI secret; never commit it)"))
    _out(_safe(f"wrote {public} (public: commit it and set trust.public_key: {public})"))
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    for record in args.records:
        _sign(args, Path(record), required=True)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from modelgate.api import calibrate
    from modelgate.engine.screen import MIN_CONTROLS

    config = _load_config(args)
    outcome = calibrate(args.config, args.control, strict=args.strict, progress=_stages)
    n = len(outcome.controls)
    kept = "not written (--strict)" if outcome.refused else "the record includes it"
    for control, checks in outcome.suspects:
        first = checks[0].findings[0].message if checks[0].findings else checks[0].summary
        names = ", ".join(c.name for c in checks)
        _note(
            f"modelgate: warning: {control}: fails {names} against the other {n - 1} controls: "
            f"it may not be a clean retrain of the baseline's recipe ({kept}; calibrate again "
            f"without it if so). {first}"
        )
    if outcome.refused:
        return EXIT_FINDINGS
    inverted = (
        f", {outcome.inverted} inverted for the trigger-size floor" if outcome.inverted else ""
    )
    _out(_safe(f"calibrated churn on {n} control retrain(s){inverted}: {outcome.path}"))
    if n < MIN_CONTROLS:
        _note(
            f"modelgate: note: {n} control(s) cannot be screened against each other (that takes "
            f"{MIN_CONTROLS}); ten to twenty give the statistics a sharp null"
        )
    _sign(args, outcome.path, required=False)
    if config.settings.trust.public_key and not args.sign_key:
        _note(f"modelgate: note: sign the new record: modelgate sign {outcome.path}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from modelgate.engine.rollback import last_good
    from modelgate.history.render import history_command

    config = _load_config(args)
    out = history_command(
        config,
        canary=args.canary,
        tag=args.tag,
        find_last_good=(lambda ledger: last_good(config, ledger)) if args.last_good else None,
        plot=args.plot,
        as_json=args.json,
    )
    from modelgate.report.escape import log_json, terminal_lines

    if sys.stdout is not None:
        sys.stdout.write(log_json(out.stdout) if args.json else terminal_lines(out.stdout))
    for note in out.notes:
        _note(note)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from modelgate.config import json_schema_text

    if sys.stdout is not None:
        sys.stdout.write(json_schema_text())
    return 0


def cmd_waive(args: argparse.Namespace) -> int:
    import datetime as dt

    from modelgate.suite.format import load_suite
    from modelgate.waivers import WaiverEntry, append_waiver

    config = _load_config(args)
    if not config.settings.waivers:
        raise UsageError(
            "the config names no waivers file",
            file=config.path,
            key="waivers",
            hint="add `waivers: waivers.yaml`",
        )
    suite = load_suite(config.suite_path)
    if args.canary not in set(suite.ids):
        raise UsageError(
            f"canary {args.canary!r} is not in suite {suite.manifest.name}", key="canary"
        )
    if args.to not in suite.classes:
        raise UsageError(
            f"label {args.to!r} is not one of the suite's classes ({', '.join(suite.classes)})",
            key="--to",
        )
    for value, option in ((args.reason, "--reason"), (args.by, "--by")):
        if not value.strip():
            raise UsageError(
                "a waiver needs a reason and an approver; this one is blank", key=option
            )
    expires = None
    if args.expires is not None:  # `--expires ''` is a mistake, not "never"
        try:
            expires = dt.date.fromisoformat(args.expires)
        except ValueError:
            raise UsageError(
                f"{args.expires!r} is not a date (YYYY-MM-DD)", key="--expires"
            ) from None
    entry = WaiverEntry(
        canary=args.canary, to=args.to, reason=args.reason, approved_by=args.by, expires=expires
    )
    path = config.resolve(config.settings.waivers)
    append_waiver(path, entry)
    _out(_safe(f"waived {args.canary} -> {args.to} in {path}"))
    return 0


def cmd_suite_freeze(args: argparse.Namespace) -> int:
    from modelgate.suite.freeze import freeze_suite

    manifest, changed = freeze_suite(args.folder)
    if changed:
        _out(_safe(f"froze suite {manifest.name} at version {manifest.version}"))
    else:
        _out(_safe(f"suite {manifest.name} v{manifest.version} unchanged"))
    return 0


def cmd_suite_verify(args: argparse.Namespace) -> int:
    from modelgate.suite.format import load_suite

    suite = load_suite(args.folder)
    _out(
        _safe(
            f"suite {suite.manifest.name} v{suite.manifest.version}: {len(suite)} canaries, "
            f"digest {suite.digest[:12]}, all files verified"
        )
    )
    return 0


def _init_error_at_its_source(exc: UsageError, args: argparse.Namespace) -> UsageError:
    """Name the option or input file behind a refused `suite init` argument."""
    if exc.file is not None or exc.key not in {"classes", "labels", "ids", "name"}:
        return exc
    if exc.key == "classes" and args.classes:
        return UsageError(exc.message, key="--classes")
    if exc.key == "name":
        return UsageError(exc.message, key="--name")
    # Labels, and classes read from them, come from the labels file (.npy inputs) or the table.
    if exc.key in {"labels", "classes"} and args.labels:
        return UsageError(exc.message, file=args.labels)
    column = "id" if exc.key == "ids" else args.label_column
    hint = "give --classes in the model's output order" if exc.key == "labels" else None
    return UsageError(exc.message, file=args.inputs, key=column, hint=hint)


def cmd_suite_init(args: argparse.Namespace) -> int:
    from modelgate.suite.freeze import init_suite
    from modelgate.suite.ingest import read_canaries

    canaries = read_canaries(
        Path(args.inputs),
        labels=args.labels,
        label_column=args.label_column,
        modality=args.modality,
    )
    try:
        manifest = init_suite(
            args.folder,
            name=args.name,
            modality=args.modality,
            inputs=canaries.inputs,
            labels=canaries.labels,
            classes=[c.strip() for c in args.classes.split(",")] if args.classes else None,
            ids=canaries.ids,
            tags=canaries.tags,
            curated_by=args.curated_by,
            source=args.source,
            license=args.license,
        )
    except UsageError as exc:
        raise _init_error_at_its_source(exc, args) from None
    _out(
        _safe(
            f"created suite {manifest.name} v{manifest.version} in {args.folder} "
            f"({len(canaries.labels)} canaries, {len(manifest.classes)} classes)"
        )
    )
    # The class order is the model's output order: say it, so a wrong guess is seen at once.
    _out(_safe(f"classes, in model output order: {', '.join(manifest.classes)}"))
    if not args.classes:
        _note("modelgate: note: if your model orders its outputs otherwise, pass --classes")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from modelgate.scaffold import init_project

    written = init_project(
        args.dir,
        suite=args.suite,
        modality=args.modality,
        candidate=args.candidate,
        factory=args.factory,
        action_sha=args.action_sha,
        force=args.force,
    )
    for path in written:
        _out(_safe(f"wrote {path}"))
    suite_readme = Path(args.dir) / "canaries" / args.suite / "README.md"
    _out(_safe(f"next: create the canary suite as {suite_readme} explains, then `modelgate bless`"))
    if not args.action_sha:
        workflow = Path(args.dir) / ".github" / "workflows" / "modelgate.yml"
        _out(
            _safe(
                f"then: pin the action in {workflow} to the full commit SHA of the modelgate "
                "release you reviewed (the job fails until you do), or run init with --action-sha"
            )
        )
    return 0


def cmd_attribute(args: argparse.Namespace) -> int:
    from modelgate.attribution.command import run_attribute
    from modelgate.engine.attribute import attribute_check

    return run_attribute(args, attribute_check)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelgate",
        description="Gate a retrained model before deploy: compare it canary by canary with the "
        "blessed baseline and fail on unexplained flips and new trigger behaviour.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"modelgate {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(
        name: str,
        handler: Callable[[argparse.Namespace], int],
        help: str,
        parent: Any = commands,
        config: bool = True,
    ) -> argparse.ArgumentParser:
        sub = parent.add_parser(
            name,
            help=help,
            description=help,
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        if config:
            sub.add_argument(
                "-c",
                "--config",
                default="modelgate.yaml",
                help="config file (default: modelgate.yaml)",
            )
        if name in ("check", "bless"):
            sub.add_argument(
                "--candidate",
                metavar="PATH",
                help="model file to use instead of candidate.path (relative to the current folder)",
            )
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
        )
        return sub

    def add_report_options(sub: argparse.ArgumentParser) -> None:
        """The options of a command that decides: where its reports go, and how loud it is."""
        sub.add_argument("--output-dir", help="report folder (default: output.dir of the config)")
        sub.add_argument("--json", metavar="PATH", help="also write the JSON report here")
        sub.add_argument("--junit-xml", metavar="PATH", help="also write JUnit XML here")
        sub.add_argument("--markdown", metavar="PATH", help="also write the Markdown report here")
        sub.add_argument(
            "--no-reports",
            action="store_true",
            help="write no report files (only the explicit paths above)",
        )
        sub.add_argument(
            "-q", "--quiet", action="store_true", help="print nothing when the gate passes"
        )

    check = add("check", cmd_check, "run the gate on the candidate named in the config")
    add_report_options(check)
    check.add_argument(
        "--shard",
        metavar="K/N",
        help="predict only shard K of N of the suite and write its part (no verdict, no "
        "reports); `modelgate merge` decides on all the parts",
    )
    check.add_argument(
        "--part-dir", metavar="DIR", help="with --shard: where the part goes (default: output.dir)"
    )

    merge = add(
        "merge",
        cmd_merge,
        "decide as one check on the parts `check --shard K/N` jobs wrote",
    )
    merge.add_argument(
        "parts",
        nargs="+",
        metavar="PART",
        help="part-K-of-N.json files, folders of them or glob patterns",
    )
    merge.add_argument(
        "--candidate",
        metavar="PATH",
        help="the model file the shards checked, instead of candidate.path (for the probes)",
    )
    add_report_options(merge)

    bless_cmd = add("bless", cmd_bless, "record the candidate as the new blessed baseline")
    bless_cmd.add_argument(
        "--force", action="store_true", help="bless even though the candidate fails the gate"
    )
    bless_cmd.add_argument("--reason", help="why (required with --force; kept in the record)")
    bless_cmd.add_argument(
        "--sign-key", metavar="FILE", help="sign the new record with this ed25519 key"
    )

    calibrate = add(
        "calibrate", cmd_calibrate, "measure clean churn on control retrains of the baseline"
    )
    calibrate.add_argument(
        "--control",
        nargs="+",
        required=True,
        metavar="MODEL",
        help="clean control retrains (same recipe, other seeds), in the candidate's format",
    )
    calibrate.add_argument(
        "--strict",
        action="store_true",
        help="write nothing and exit 1 when a control fails the gate against the others",
    )
    calibrate.add_argument(
        "--sign-key", metavar="FILE", help="sign the new record with this ed25519 key"
    )

    keygen = add(
        "keygen",
        cmd_keygen,
        "make an ed25519 key pair for signing the baseline and calibration records",
        config=False,
    )
    keygen.add_argument("--out", default="modelgate-signing", help="writes OUT.key and OUT.pub")
    keygen.add_argument("--force", action="store_true", help="overwrite existing key files")
    sign = add(
        "sign",
        cmd_sign,
        "sign baseline or calibration records (writes RECORD.sig); sign only records you made",
        config=False,
    )
    sign.add_argument("records", nargs="+", metavar="RECORD")
    sign.add_argument("--key", metavar="FILE", help=SIGNING_KEY_HELP)

    waive = add("waive", cmd_waive, "explain an expected flip (appends to the waivers file)")
    waive.add_argument("canary", help="canary id")
    waive.add_argument("--to", required=True, help="the new label the canary is expected to get")
    waive.add_argument("--reason", required=True, help="why the flip is expected")
    waive.add_argument("--by", required=True, help="who approved it")
    waive.add_argument("--expires", help="last day the waiver applies (YYYY-MM-DD)")

    history = add("history", cmd_history, "runs and blessings in the ledger; canary timelines")
    question = history.add_mutually_exclusive_group()
    question.add_argument("--canary", metavar="ID", help="one canary's timeline across versions")
    question.add_argument("--tag", metavar="TAG", help="the timeline of the canaries with a tag")
    question.add_argument(
        "--last-good",
        action="store_true",
        help="the latest blessed model that still passes against the first blessing (anchor)",
    )
    history.add_argument("--plot", metavar="OUT.png", help="also write accuracy and flips per run")
    history.add_argument("--json", action="store_true", help="JSON instead of a table")

    add("schema", cmd_schema, "print the JSON Schema of modelgate.yaml", config=False)

    init_cmd = add(
        "init",
        cmd_init,
        "scaffold a config, waivers, a suite folder, a GitHub workflow and .gitignore lines "
        "(asks nothing)",
        config=False,
    )
    init_cmd.add_argument("--dir", default=".", help="project (repository) root (default: .)")
    init_cmd.add_argument("--suite", default="main", help="suite name (default: main)")
    init_cmd.add_argument(
        "--modality", default="image", choices=["image", "tabular", "text"], help="default: image"
    )
    init_cmd.add_argument(
        "--candidate",
        default="models/candidate.safetensors",
        help="candidate model file (default: models/candidate.safetensors)",
    )
    init_cmd.add_argument(
        "--factory", default="model.py:build", help="module:function building the model"
    )
    init_cmd.add_argument(
        "--action-sha",
        metavar="SHA",
        help="full commit SHA of the modelgate action release the workflow runs (default: a "
        "placeholder the job fails on until it is edited)",
    )
    init_cmd.add_argument("--force", action="store_true", help="overwrite existing files")

    from modelgate.attribution.command import add_attribute_command

    add_attribute_command(add, cmd_attribute)
    suite = commands.add_parser("suite", help="create, freeze and verify canary suites")
    suite_commands = suite.add_subparsers(dest="suite_command", metavar="COMMAND", required=True)
    init = add(
        "init",
        cmd_suite_init,
        "create a suite from an array or a table plus labels",
        parent=suite_commands,
        config=False,
    )
    init.add_argument("folder")
    init.add_argument(
        "--inputs",
        required=True,
        help=".npy array, .csv table (tabular) or .jsonl with a text field",
    )
    init.add_argument("--labels", help="a text file with one label per line (for .npy inputs)")
    init.add_argument(
        "--label-column",
        default="label",
        help="column / field holding the label in a .csv or .jsonl (default label)",
    )
    init.add_argument("--modality", required=True, choices=["image", "tabular", "text"])
    init.add_argument("--name", required=True)
    init.add_argument("--classes", help="comma-separated class names in model output order")
    init.add_argument("--curated-by", required=True)
    init.add_argument("--source", required=True, help="where the canaries come from")
    init.add_argument("--license")
    freeze = add(
        "freeze",
        cmd_suite_freeze,
        "record file digests and bump the version",
        parent=suite_commands,
        config=False,
    )
    freeze.add_argument("folder")
    verify = add(
        "verify",
        cmd_suite_verify,
        "check every file against its recorded digest",
        parent=suite_commands,
        config=False,
    )
    verify.add_argument("folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return EXIT_UNDECIDED
    debug = bool(args.debug) or os.environ.get("MODELGATE_DEBUG") == "1"
    try:
        return int(args.handler(args))
    except ModelgateError as exc:
        if debug:
            traceback.print_exc()
        _err(exc.one_line())
        return exc.exit_code
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:  # stdout closed early (`| head`): the output could not be given
        _silence_stdout()
        _err("standard output was closed before the results were written")
        return EXIT_UNDECIDED
    except OSError as exc:  # the file system refused a file the user named: not our bug
        if debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        _err(f"{where}{exc.strerror or exc}")
        return EXIT_UNDECIDED
    except BaseException as exc:  # a bug in modelgate, not in the user's input (never exit 1)
        if isinstance(exc, SystemExit):  # argparse's own exits
            raise
        if debug:
            traceback.print_exc()
        _err(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
