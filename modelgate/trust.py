"""Verify the trust anchors (baseline and calibration records) before the gate compares anything.

The gate judges a candidate against the baseline record and the churn the calibration record
measured, so whoever can rewrite those files can make a poisoned model pass. Three independent
anchors can vouch for them, each switched on by the config:

- signatures (`trust.public_key`): `RECORD.sig` must be an ed25519 signature of the exact bytes;
- the run ledger (`trust.ledger`): `bless` and `calibrate` note each record's digest there, and
  a record the ledger never saw is refused once it knows any record for that path;
- the blessed model (`trust.blessed_model`): re-predict canaries and refuse a record that says
  anything else, or that names another model.

A record no anchor vouched for is read as given; the README says what that cannot detect.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelgate.errors import CalibrationError, TrustError
from modelgate.jsonfile import parse_record, read_bytes

if TYPE_CHECKING:
    from modelgate.baseline import BaselineRecord
    from modelgate.config import Config
    from modelgate.suite.format import Suite

# Recorded log-probabilities are rounded to 4 decimals; another machine's float arithmetic may
# move the last digit. An edit smaller than this changes no statistic the gate computes.
LOGP_TOLERANCE = 2e-3
LOGP_RELATIVE = 1e-4
RESTORE = "restore the record `modelgate bless` wrote, or bless the production model again"
RESTORE_CALIBRATION = (
    "restore the record `modelgate calibrate` wrote, or calibrate again on clean controls"
)


@dataclass(frozen=True)
class Anchors:
    """Which anchors vouched for each record (empty: read as given)."""

    baseline: tuple[str, ...]
    calibration: tuple[str, ...]


@dataclass(frozen=True)
class _Record:
    path: Path
    key: str  # the config key that names it
    raw: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def verify_records(
    config: Config, suite: Suite, baseline: BaselineRecord, *, calibration: bool = True
) -> Anchors:
    """Refuse a baseline or calibration record an enabled anchor does not vouch for (exit 2).

    Runs before any candidate is loaded. The calibration's tie to the baseline is checked here
    too, so that a changed baseline is blamed on the baseline, never "fixed" by calibrating
    against it. `calibration=False` (for `calibrate`, which replaces it) checks the baseline."""
    trust = config.settings.trust
    base = _Record(baseline.path, "baseline", _raw_of(baseline.path))
    calib = _calibration(config) if calibration else None
    public_key = None
    if trust.public_key:
        from modelgate.signing import load_public_key

        public_key = load_public_key(config.resolve(trust.public_key), key="trust.public_key")
    anchors: dict[str, list[str]] = {"baseline": [], "calibration": []}
    # A signature, or re-predicting every canary, vouches for a record on its own: the ledger
    # then learns it (a teammate's bless, made on another machine) instead of refusing it.
    full: dict[str, bool] = {"baseline": False, "calibration": False}
    records = (("baseline", base), ("calibration", calib))
    for kind, record in records:
        if record is not None and public_key is not None:
            from modelgate.signing import verify_record

            verify_record(record.path, record.raw, kind, public_key)
            anchors[kind].append("signature")
            full[kind] = True
    if trust.blessed_model is not None:
        vouched = repredict(config, suite, baseline)
        anchors["baseline"].append(vouched)
        full["baseline"] = full["baseline"] or vouched == "blessed model"
    for kind, record in records:
        if record is not None and _known_to_ledger(config, kind, record, learn=full[kind]):
            anchors[kind].append("ledger")
    if calib is not None:
        _check_tie(calib, baseline, vouched=bool(anchors["baseline"]))
    return Anchors(tuple(anchors["baseline"]), tuple(anchors["calibration"]))


def _raw_of(path: Path) -> bytes:
    from modelgate.errors import BaselineError

    return read_bytes(path, BaselineError, what="baseline record", key="baseline", hint=RESTORE)


def _calibration(config: Config) -> _Record | None:
    if not config.settings.calibration:
        return None
    path = config.resolve(config.settings.calibration)
    raw = read_bytes(
        path,
        CalibrationError,
        what="calibration record",
        key="calibration",
        hint="run `modelgate calibrate --control ...`",
    )
    return _Record(path, "calibration", raw)


def _check_tie(calib: _Record, baseline: BaselineRecord, *, vouched: bool) -> None:
    """A calibration made for another baseline record: blame the baseline unless it is vouched."""
    data = parse_record(calib.raw, calib.path, CalibrationError, what="calibration record")
    made_for = data.get("baseline_sha256")
    if made_for == baseline.sha256 or vouched:
        return  # a vouched baseline: a stale calibration, which read_calibration names
    raise TrustError(
        f"is not the baseline record {calib.path.name} was made for (baseline sha256 "
        f"{baseline.sha256[:12]}, calibrated for {str(made_for)[:12]}): it was re-blessed or "
        "edited since, and no trust anchor (trust.public_key, trust.blessed_model, a ledger "
        "that saw the bless) can tell which",
        file=baseline.path,
        key="baseline",
        hint="if `modelgate bless` wrote it, review its diff before you calibrate on it; "
        "otherwise " + RESTORE,
    )


def _known_to_ledger(config: Config, kind: str, record: _Record, *, learn: bool) -> bool:
    """True when the ledger vouches for the record; refuse one it does not know, unless
    another anchor fully vouched for it (`learn`): then note its digest in the ledger."""
    mode = config.settings.trust.ledger
    if mode == "off":
        return False
    from modelgate.history.config_ledger import ledger_path
    from modelgate.history.ledger import open_ledger

    name = config.settings.baseline if kind == "baseline" else str(config.settings.calibration)
    where = ledger_path(config)
    known: set[str] = set()
    if where is not None and where.exists():
        with open_ledger(where, create=False) as ledger:
            known = ledger.record_digests(kind, name)
    if not known:
        if mode == "require":
            raise TrustError(
                f"trust.ledger is require, but no run ledger recorded a {kind} record for {name!r}",
                file=record.path,
                key="trust.ledger",
                hint=f"run `modelgate {'bless' if kind == 'baseline' else 'calibrate'}` where "
                "the ledger is kept",
            )
        return False
    if record.sha256 not in known and learn:
        assert where is not None
        with open_ledger(where) as ledger:
            ledger.remember_record(kind, name, record.sha256, time=_now())
        return False
    if record.sha256 not in known:
        what = "bless" if kind == "baseline" else "calibrate"
        raise TrustError(
            f"{kind} record unknown to the run ledger {where}: no `modelgate {what}` recorded "
            f"sha256 {record.sha256[:12]} (it knows {len(known)} other version(s))",
            file=record.path,
            key="trust.ledger",
            hint=(RESTORE if kind == "baseline" else RESTORE_CALIBRATION)
            + "; a record made on another machine is learnt once a signature or "
            "trust.blessed_model vouches for it",
        )
    return True


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def remember_calibration(config: Config, path: Path) -> None:
    """Note a calibration record's digest in the ledger (after `calibrate` wrote it)."""
    from modelgate.digest import file_sha256
    from modelgate.history.config_ledger import ledger_path
    from modelgate.history.ledger import open_ledger

    where = ledger_path(config)
    if where is None or not config.settings.calibration:
        return
    with open_ledger(where) as ledger:
        ledger.remember_record(
            "calibration", config.settings.calibration, file_sha256(path), time=_now()
        )


def sample_indices(suite: Suite, baseline: BaselineRecord, n: int | str) -> np.ndarray:
    """The canaries to re-predict: all, or the protected ones plus `n` keyed by the record's
    digest (so the sample is the same on every machine, and moves when the record changes)."""
    total = len(suite)
    if n == "all" or int(n) >= total:
        return np.arange(total)
    protected = np.flatnonzero(suite.tagged("protected"))
    rng = np.random.default_rng(int(baseline.sha256[:16], 16))
    drawn = rng.choice(total, size=int(n), replace=False)
    return np.unique(np.concatenate([protected, drawn])).astype(np.int64)


def repredict(config: Config, suite: Suite, baseline: BaselineRecord) -> str:
    """Re-predict canaries with the blessed model; refuse a record that disagrees with it."""
    from modelgate.config import blessed_model_spec
    from modelgate.models import load_predictor
    from modelgate.predict import predict_suite

    spec = blessed_model_spec(config)
    assert spec is not None
    key = "trust.blessed_model"
    predictor = load_predictor(
        spec,
        config.folder,
        config_file=config.path,
        key=key,
        timeout_s=config.settings.inference.timeout_s,
        classes=suite.classes,
    )
    from modelgate.devices import place

    predictor = place(predictor, config.settings.inference.device, config_file=config.path)
    named = baseline.header.model.sha256
    actual = predictor.info.sha256
    if actual and named != actual:
        raise TrustError(
            f"names model sha256 {named[:12] or '(none)'}, but trust.blessed_model is "
            f"{actual[:12]}: the record was not blessed from that model",
            file=baseline.path,
            key="header.model.sha256",
            hint=f"{RESTORE}; after a bless, point trust.blessed_model at the blessed file",
        )
    indices = sample_indices(suite, baseline, config.settings.trust.repredict)
    subset = _subset(suite, indices)
    source = config.resolve(spec.path) if spec.path else config.path
    fresh = predict_suite(
        predictor, subset, batch_size=config.settings.inference.batch_size, source=source
    )
    _compare(suite, baseline, indices, fresh.log_probs, fresh.labels)
    return "blessed model" if len(indices) == len(suite) else f"blessed model ({len(indices)})"


def _subset(suite: Suite, indices: np.ndarray) -> Suite:
    if len(indices) == len(suite):
        return suite
    inputs: Any = (
        [suite.inputs[int(i)] for i in indices]
        if isinstance(suite.inputs, list)
        else np.asarray(suite.inputs[indices])
    )
    return replace(
        suite,
        ids=tuple(suite.ids[int(i)] for i in indices),
        labels=suite.labels[indices],
        tags=tuple(suite.tags[int(i)] for i in indices),
        inputs=inputs,
    )


def _compare(
    suite: Suite,
    baseline: BaselineRecord,
    indices: np.ndarray,
    log_probs: np.ndarray,
    labels: np.ndarray,
) -> None:
    recorded = baseline.predictions
    classes = suite.classes
    for row, i in sorted(enumerate(indices.tolist()), key=lambda p: suite.ids[p[1]]):
        was, now = recorded.log_probs[i].astype(np.float64), log_probs[row].astype(np.float64)
        gap = float(np.max(np.abs(was - now)))
        limit = LOGP_TOLERANCE + LOGP_RELATIVE * float(np.max(np.abs(was)))
        top2 = np.sort(now)[-2:]
        near_tie = len(top2) == 2 and float(top2[1] - top2[0]) < LOGP_TOLERANCE
        canary = suite.ids[i]
        if recorded.labels[i] != labels[row] and not near_tie:
            raise TrustError(
                f"canary {canary!r} is recorded as predicted {classes[recorded.labels[i]]!r}, "
                f"but the blessed model predicts {classes[labels[row]]!r}: the record is not "
                "what the blessed model does",
                file=baseline.path,
                key="canaries",
                hint=RESTORE,
            )
        if gap > limit:
            raise TrustError(
                f"canary {canary!r}: recorded log-probabilities differ from the blessed "
                f"model's by up to {gap:.4g}: the record is not what the blessed model does",
                file=baseline.path,
                key="canaries",
                hint=RESTORE,
            )
