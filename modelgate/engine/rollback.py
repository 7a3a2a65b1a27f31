"""`modelgate history --last-good`: the newest blessed model that still passes the gate.

In the engine because it judges stored predictions with the gate itself (`evaluate`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from modelgate.baseline import BaselineRecord
from modelgate.baseline_header import BaselineHeader, BlessedModel, SuiteRef
from modelgate.config import Config
from modelgate.engine.evaluate import evaluate
from modelgate.engine.inputs import load_inputs
from modelgate.errors import HistoryError
from modelgate.history.ledger import Ledger, Run, RunKind
from modelgate.history.timeline import LastGood
from modelgate.result import ModelInfo


def last_good(config: Config, ledger: Ledger, *, today: dt.date | None = None) -> LastGood:
    """The most recent blessed model whose stored behaviour on the current suite still passes
    the gate against the first blessing on that suite (the anchor); no model is run."""
    inputs = load_inputs(config)
    suite = inputs.suite
    blessings = ledger.runs(
        kind=RunKind.BLESS, suite_digest=suite.digest, baseline_path=config.settings.baseline
    )
    if not blessings:
        raise HistoryError(
            f"no blessing on suite {suite.manifest.name} v{suite.manifest.version} in the ledger",
            file=ledger.path,
            hint="`modelgate bless` records one",
        )
    anchor = blessings[0]
    record = BaselineRecord(
        path=ledger.path,
        sha256="",
        header=BaselineHeader(  # the anchor as the ledger remembers it, without trigger results
            suite=SuiteRef(suite.manifest.name, suite.manifest.version, suite.digest),
            model=BlessedModel(
                anchor.model_path, anchor.model_format, anchor.model_sha256, anchor.carries_code
            ),
            blessed_at=anchor.time,
            git_commit=anchor.git_commit,
        ),
        predictions=ledger.predictions(anchor),
    )
    anchored = replace(inputs, baseline=record)
    rejected: list[tuple[Run, tuple[str, ...]]] = []
    tried: set[str] = set()
    for run in reversed(blessings[1:]):
        if run.model_sha256 in tried or run.model_sha256 == anchor.model_sha256:
            continue
        tried.add(run.model_sha256)
        info = ModelInfo(run.model_path, run.model_format, run.model_sha256, run.carries_code)
        result = evaluate(anchored, ledger.predictions(run), info, today=today)
        if result.exit_code == 0:
            return LastGood(anchor, run, tuple(rejected))
        rejected.append((run, result.failed_checks))
    return LastGood(anchor, anchor, tuple(rejected))
