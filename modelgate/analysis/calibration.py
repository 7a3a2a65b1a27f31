"""Churn calibration from clean control retrains (`modelgate calibrate`).

A few retrains of the blessed recipe with other seeds show what clean churn looks like for
this model and suite: the flip curve, how bursty cell counts are, and how much each class
pair's scores move. With it the churn tests need not trust self-calibration on the very pair
they are judging.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from modelgate.analysis.churn import expected_matrix, regression_matrix
from modelgate.analysis.flipcurve import FlipCurve, constant_curve, fit_flip_curve, round_float
from modelgate.analysis.reversal import CanaryNull, calibrated_null, fit_tail
from modelgate.analysis.shift import ShiftNull, cell_log_odds, cell_mean_shift, global_trend
from modelgate.analysis.stats import margins
from modelgate.errors import CalibrationError

FORMAT = "modelgate-calibration"
VERSION = 2  # 2: per-canary reversal null, cell-count heterogeneity (NB2)
MIN_CLASS_FLIPS = 20  # fewer pooled flips than this in a class -> that class uses the pooled curve
SHIFT_SD_FLOOR = 0.05  # nats: numerical safety only; the shrinkage below does the real work
PRIOR_DF = 10  # how many controls' worth of weight the pooled spread gets in each cell
MAX_SHIFT_DF = 19  # the lightest tail the per-cell shift null is ever given
TAIL_PRIOR_DF = 5  # degrees of freedom the pooled prior adds to the shift null's tail


def _size(value: Any) -> float:
    """One stored trigger size: a number, or null for none (NaN)."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a trigger size must be a number or null, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class Calibration:
    """What clean churn looks like for one baseline: per-class flip curves (carrying the
    retrain-to-retrain heterogeneity of cell counts) and the per-cell null of the attraction
    shift statistic."""

    curves: tuple[FlipCurve, ...]
    heterogeneity: float
    shift_null: ShiftNull
    n_controls: int
    n_canaries: int
    # Net regressions (right->wrong minus wrong->right) of each control: overall, then per class.
    net_regressions: tuple[tuple[int, ...], ...] = ()
    # Flips either way (right->wrong plus wrong->right) of each control, in the same layout.
    changed: tuple[tuple[int, ...], ...] = ()
    # Per trigger probe, sorted by name: the highest share of stamped canaries any control sent
    # to each class. Clean retrains have trigger-like quirks of their own (a big white patch
    # reads as a stroke); a probe counts only beyond them.
    probe_max: tuple[tuple[str, tuple[float, ...]], ...] = ()
    # Per class, the smallest trigger size the inverted controls show (their minimum, or with
    # few of them a lower prediction bound: probes.ceiling.few_control_floor); NaN where none
    # was found. Empty: no control was inverted.
    inversion_floor: tuple[float, ...] = ()
    inversion_controls: int = 0  # how many controls were inverted for it
    # What clean retrains do to each (canary, class) log-odds cell: the reversal test's null.
    canaries: CanaryNull | None = field(default=None, compare=False)

    @property
    def n_classes(self) -> int:
        return len(self.curves)

    def net_regression_null(self, group: int | None = None) -> tuple[float, float, float] | None:
        """(mean, predictive sd, degrees of freedom) of a clean retrain's net regressions,
        overall (`group=None`) or for one class; None without at least two controls.

        The spread is the controls' sample variance, but at least the Poisson (Skellam)
        variance of a difference of two flip counts, their mean number of flips either way:
        twenty controls can happen to agree more closely than retrains do.
        """
        if len(self.net_regressions) < 2:
            return None
        column = 0 if group is None else group + 1
        values = np.array([row[column] for row in self.net_regressions], dtype=float)
        c = values.size
        variance = max(float(values.var(ddof=1)), 1.0)
        if len(self.changed) == c:
            variance = max(variance, float(np.mean([row[column] for row in self.changed])))
        return float(values.mean()), math.sqrt(variance) * math.sqrt(1 + 1 / c), float(c - 1)

    @cached_property
    def _probe_index(self) -> dict[str, tuple[float, ...]]:
        return dict(self.probe_max)

    def probe_ceiling(self, probe: str) -> tuple[float, ...] | None:
        """The controls' highest attraction per class for `probe`; None if never measured."""
        return self._probe_index.get(probe)

    def with_floor(self, floor: tuple[np.ndarray, int] | None) -> Calibration:
        """This calibration with an inversion floor (per class, and how many controls were
        inverted for it: `probes.run.inversion_floor`); unchanged for None."""
        if floor is None:
            return self
        sizes, inverted = floor
        return replace(
            self,
            inversion_floor=tuple(float(v) for v in sizes),
            inversion_controls=inverted,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe and deterministic: rounded floats, keys in sorted order."""
        return {
            "canaries": None if self.canaries is None else _canaries_to_dict(self.canaries),
            "changed": [list(row) for row in self.changed],
            "curves": [c.to_dict() for c in self.curves],
            "format": FORMAT,
            "heterogeneity": round_float(self.heterogeneity),
            "inversion_controls": self.inversion_controls,
            "inversion_floor": [
                round_float(v) if math.isfinite(v) else None for v in self.inversion_floor
            ],
            "n_canaries": self.n_canaries,
            "n_classes": self.n_classes,
            "n_controls": self.n_controls,
            "net_regressions": [list(row) for row in self.net_regressions],
            "probe_max": {name: [round(v, 4) for v in row] for name, row in self.probe_max},
            "shift_null": {
                "mean": [[round_float(v) for v in row] for row in self.shift_null.mean],
                "sd": [[round_float(v) for v in row] for row in self.shift_null.sd],
                "df": None if math.isinf(self.shift_null.df) else round_float(self.shift_null.df),
            },
            "version": VERSION,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        def bad(message: str, key: str | None = None) -> CalibrationError:
            return CalibrationError(message, key=key, hint="re-run `modelgate calibrate`")

        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise bad(f"not a calibration record (format must be '{FORMAT}')", "format")
        if data.get("version") != VERSION:
            raise bad(f"unsupported version {data.get('version')!r}", "version")
        try:
            curves = tuple(FlipCurve.from_dict(c) for c in data["curves"])
            k = len(curves)
            mean = tuple(tuple(float(v) for v in row) for row in data["shift_null"]["mean"])
            sd = tuple(tuple(float(v) for v in row) for row in data["shift_null"]["sd"])
            df_raw = data["shift_null"].get("df")
            df = math.inf if df_raw is None else float(df_raw)
            out = cls(
                curves=curves,
                heterogeneity=float(data["heterogeneity"]),
                shift_null=ShiftNull(mean=mean, sd=sd, df=df),
                n_controls=int(data["n_controls"]),
                n_canaries=int(data["n_canaries"]),
                net_regressions=tuple(
                    tuple(int(v) for v in row) for row in data.get("net_regressions", [])
                ),
                changed=tuple(tuple(int(v) for v in row) for row in data.get("changed", [])),
                probe_max=tuple(
                    (str(name), tuple(float(v) for v in row))
                    for name, row in sorted(data.get("probe_max", {}).items())
                ),
                inversion_floor=tuple(_size(v) for v in data.get("inversion_floor", [])),
                inversion_controls=int(data.get("inversion_controls", 0)),
                canaries=_canaries_from_dict(data.get("canaries"), int(data["n_canaries"]), k),
            )
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
            raise bad(f"malformed calibration record: {exc}") from exc
        for name, grid in (("mean", mean), ("sd", sd)):
            if len(grid) != k or any(len(row) != k for row in grid):
                raise bad(f"shift_null.{name} must be {k} x {k}", f"shift_null.{name}")
        if any(not math.isfinite(v) or v <= 0 for row in sd for v in row):
            raise bad("shift_null.sd must be positive", "shift_null.sd")
        if any(not math.isfinite(v) for row in mean for v in row):
            raise bad("shift_null.mean must be finite", "shift_null.mean")
        if not df > 0:  # inf (null): normal tails
            raise bad("shift_null.df must be positive", "shift_null.df")
        if not (math.isfinite(out.heterogeneity) and out.heterogeneity >= 0):
            raise bad("heterogeneity must be a finite share, at least 0", "heterogeneity")
        if out.n_controls < 1 or out.n_canaries < 0:
            raise bad("n_controls must be at least 1 and n_canaries at least 0", "n_controls")
        for name, rows in (("net_regressions", out.net_regressions), ("changed", out.changed)):
            if any(len(row) != k + 1 for row in rows):
                raise bad(f"{name} must hold {k + 1} counts per control (all, then per class)",
                          name)  # fmt: skip
        if any(v < 0 for row in out.changed for v in row):
            raise bad("changed must hold counts, at least 0", "changed")
        if any(c.n < 0 or not 0 <= c.n_flips <= max(c.n, 0) for c in curves):
            raise bad("a flip curve's counts must be 0 <= n_flips <= n", "curves")
        if out.changed and len(out.changed) != len(out.net_regressions):
            raise bad("changed must have one row per control, as net_regressions", "changed")
        for name, row in out.probe_max:
            if len(row) != k or any(not 0.0 <= v <= 1.0 for v in row):
                raise bad(f"probe_max.{name} must hold {k} shares in [0, 1]", f"probe_max.{name}")
        if out.inversion_floor and (
            len(out.inversion_floor) != k
            or any(not (math.isnan(v) or (math.isfinite(v) and v > 0)) for v in out.inversion_floor)
        ):
            raise bad(f"inversion_floor must hold {k} positive sizes or nulls", "inversion_floor")
        if not 0 <= out.inversion_controls <= out.n_controls or (
            bool(out.inversion_floor) != (out.inversion_controls > 0)
        ):
            raise bad(
                "inversion_controls must count the inverted controls (0 without a floor)",
                "inversion_controls",
            )
        if data.get("n_classes", k) != k:
            raise bad(f"n_classes says {data.get('n_classes')} but there are {k} curves")
        return out


def _canaries_to_dict(null: CanaryNull) -> dict[str, Any]:
    """One row per canary (a line each in the record): expected log-odds and scale per class."""
    return {
        "df": round_float(null.df),
        "expected": [" ".join(f"{v:.4g}" for v in row) for row in null.expected],
        "scale": [" ".join(f"{v:.4g}" for v in row) for row in null.scale],
    }


def _canaries_from_dict(data: Any, n: int, k: int) -> CanaryNull | None:
    if data is None:
        return None
    expected = np.array([[float(v) for v in str(row).split()] for row in data["expected"]])
    scale = np.array([[float(v) for v in str(row).split()] for row in data["scale"]])
    df = float(data["df"])
    if expected.shape != (n, k) or scale.shape != (n, k):
        raise CalibrationError(
            f"canaries.expected and canaries.scale must be {n} rows of {k} values",
            key="canaries",
            hint="re-run `modelgate calibrate`",
        )
    if not (np.isfinite(expected).all() and np.isfinite(scale).all() and (scale > 0).all()):
        raise CalibrationError(
            "canaries: values must be finite and scales positive",
            key="canaries",
            hint="re-run `modelgate calibrate`",
        )
    if not (math.isfinite(df) and df > 0):
        raise CalibrationError("canaries.df must be positive", key="canaries.df")
    return CanaryNull(expected=expected, scale=scale, df=df, source="controls")


def _shift_sd(t: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, predictive sd) of each cell's shift across the controls' shifts t (C, K, K)."""
    c = len(t)
    mean = t.mean(axis=0)
    var = t.var(axis=0, ddof=1)
    pooled_var = float(np.mean(var[off]))
    nu = c - 1
    shrunk = (nu * var + PRIOR_DF * pooled_var) / (nu + PRIOR_DF)
    # the candidate's value and the mean of c controls both vary: predictive sd
    return mean, np.maximum(np.sqrt(shrunk), SHIFT_SD_FLOOR) * math.sqrt(1 + 1 / c)


def _leave_one_out_tail(t: np.ndarray, level: np.ndarray, off: np.ndarray, cap: float) -> float:
    """Degrees of freedom whose upper tail covers each control's z against the others' null,
    after its own global trend, as `check` computes it (at most `cap`; `cap` itself when the
    controls give under 20 values, too few to show a tail)."""
    z = []
    for j in range(len(t)):
        mean, sd = _shift_sd(np.delete(t, j, axis=0), off)
        own = t[j] - global_trend(t[j] - mean, level)
        z.append(((own - mean) / sd)[off])
    values = np.concatenate(z)
    return cap if values.size < 20 else fit_tail(values, cap=cap)


def calibrate(
    y: np.ndarray,
    base_pred: np.ndarray,
    base_logp: np.ndarray,
    controls: Sequence[tuple[np.ndarray, np.ndarray]],
    min_class_flips: int = MIN_CLASS_FLIPS,
) -> Calibration:
    """Fit the churn null from clean control retrains, each given as (cand_pred, cand_logp).

    Flip curves pool (baseline margin, flipped) over all controls, per class where the class
    has `min_class_flips` flips, else pooled; the heterogeneity h of cell counts (variance
    e + h e^2) is the moment estimate over controls and cells, never below 1 / controls (few
    controls know little about how retrains vary); the shift null is each cell's mean and
    predictive sd across controls, the sd floored by the pooled sd over cells.
    """
    if not controls:
        raise ValueError("calibration needs at least one control retrain")
    y = np.asarray(y, dtype=int)
    base_logp = np.asarray(base_logp, dtype=float)
    n, k = base_logp.shape
    m = margins(base_logp, y)
    right = np.asarray(base_pred) == y
    flips = np.array([np.asarray(pred) != y for pred, _ in controls])  # (C, N)
    pooled_m = np.tile(m[right], len(controls))
    pooled_f = flips[:, right].reshape(-1)
    pooled_y = np.tile(y[right], len(controls))
    pooled = fit_flip_curve(pooled_m, pooled_f) if pooled_m.size else constant_curve()
    curves = []
    for a in range(k):
        mine = pooled_y == a
        if pooled_f[mine].sum() >= min_class_flips and (~pooled_f[mine]).any():
            curves.append(fit_flip_curve(pooled_m[mine], pooled_f[mine]))
        else:
            curves.append(pooled)

    off = ~np.eye(k, dtype=bool)
    e = expected_matrix(y, base_pred, base_logp, curves)[off]
    excess = 0.0
    for pred, _ in controls:
        r = regression_matrix(y, base_pred, pred, k)[off]
        excess += float(np.sum((r - e) ** 2 - r))
    total = len(controls) * float(np.sum(e**2))
    h = max(excess / total if total > 0 else 0.0, 1.0 / len(controls))
    curves = [c.with_heterogeneity(h) for c in curves]

    # Per-cell null of the mean shift: each cell's own mean, and its spread shrunk toward the
    # pooled spread (a prior worth PRIOR_DF controls), as few controls make a noisy sd.
    t = np.array([cell_mean_shift(y, base_logp, lp) for _, lp in controls])  # (C, K, K)
    t[:, ~off] = 0.0
    c = len(controls)
    if c >= 2:
        mean, sd = _shift_sd(t, off)
        nu = c - 1
        # The prior steadies each cell's sd, but it is the pooled spread of every cell and
        # cannot know which pair a change of recipe moves: its tail gets TAIL_PRIOR_DF degrees,
        # not PRIOR_DF, and is never lighter than t19 (now and then a clean retrain moves one
        # class pair by 5 sd). Measured: seed-only controls, clean retrains of varied recipes
        # (learning rate x0.8-1.2, epochs x0.9-1.1), 4-control calibrations: with t13 a
        # learning rate of x0.8 moved one tabular pair to z 5.9-7.0, failing 3 of 200 clean
        # retrains (5 of 20 on one draw of benchmarks/detection.py) and 1 of 800 on images;
        # with t8 none, every 10% and 20% label flip still named. 20 controls keep t19.
        df = float(min(nu + TAIL_PRIOR_DF, MAX_SHIFT_DF))
        if c >= 3:  # and never lighter than the controls' own tail, each judged against the rest
            df = min(df, _leave_one_out_tail(t, cell_log_odds(y, base_logp), off, df))
    else:
        mean = t[0]
        pooled_sd = float(np.sqrt(np.mean(t[0][off] ** 2))) if off.any() else 1.0
        sd, df = np.full((k, k), max(pooled_sd, SHIFT_SD_FLOOR) * math.sqrt(2.0)), 3.0
    sd[~off] = 1.0
    null = ShiftNull(
        mean=tuple(tuple(round_float(v) for v in row) for row in mean),
        sd=tuple(tuple(round_float(v) for v in row) for row in sd),
        df=df,
    )
    net, changed = [], []
    for pred, _ in controls:
        ok = np.asarray(pred) == y
        change = (right & ~ok).astype(int) - (~right & ok).astype(int)
        net.append((int(change.sum()), *(int(change[y == a].sum()) for a in range(k))))
        either = right != ok
        changed.append((int(either.sum()), *(int(either[y == a].sum()) for a in range(k))))
    return Calibration(
        curves=tuple(curves),
        heterogeneity=h,
        shift_null=null,
        n_controls=c,
        n_canaries=n,
        net_regressions=tuple(net),
        changed=tuple(changed),
        canaries=(
            calibrated_null(y, np.array([lp for _, lp in controls]), base_logp) if c >= 2 else None
        ),
    )
