"""Detection quality on three modalities, calibrated with 4 and with 20 clean control retrains.

For each example (image: digits; tabular and text: examples/tabular, examples/text), trains
  clean     - 20 retrains of varied recipes (new seeds, 85-100% of the data, epoch and
              learning-rate nudges);
  labelflip - targeted label flips of 10% and 20% of a class over four class pairs;
  instance  - instance-targeted dirty-label attacks on unprotected canaries: 5-20 near-copies
              of one to five canaries injected with another label (half aimed at the blessed
              model's runner-up class, half at a random one); the canaries never train;
  cleanlabel - clean-label attacks on one canary (image, tabular): 60-120 training rows of the
              attacker's class, correctly labelled, with the target canary blended in
              (watermarking, alpha 0.35-0.5);
  collision - clean-label feature-collision attacks on one canary (image): 50 or 100 training
              images of the attacker's class, correctly labelled, each optimised from a
              watermarked base (opacity 0.2-0.3), every pixel within 0.1 of it, toward the
              blessed model's penultimate features of the target (Shafahi et al. 2018, "Poison
              Frogs", end-to-end variant: the attacker knows the deployed model, not the
              retrain's seed);
predicts and probes each model once, and judges it with the real gate (`evaluate`, the pure
part of `modelgate check`, with the example config: probes, inversion, alpha 0.01 over the
whole gate) against two calibration records of the same baseline, made from the first 4 and
from all 20 controls, and without any calibration. Prints false alarms, detection (a
detection counts when a failing finding names the attacked pair or canary) with Wilson 95%
intervals, the checks that fired, and the controls' leave-one-out pass rate (each control
judged against the others by `calibrate`).
Run: python benchmarks/detection.py [--modality image|tabular|text|all] [--seed-offset N]
     [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "digits"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import digits_data  # noqa: E402
import train as digits  # noqa: E402
from backdoor import load_example  # noqa: E402
from intervals import wilson  # noqa: E402

from modelgate.config import Config, HistorySpec, load_config, with_candidate_path  # noqa: E402
from modelgate.engine.calibrate import calibrate_controls  # noqa: E402
from modelgate.engine.candidate import predict_with_model  # noqa: E402
from modelgate.engine.evaluate import evaluate  # noqa: E402
from modelgate.engine.inputs import load_inputs  # noqa: E402
from modelgate.probes.run import triggers_for  # noqa: E402
from modelgate.result import GateResult  # noqa: E402

FRACTIONS = (0.10, 0.20)
CONTROL_SIZES = (0, 4, 20)  # 0: no calibration record, every null from the pair itself
EPS = 0.1  # feature collision: the largest change of any pixel (in [0, 1]) beyond the watermark


@dataclass(frozen=True)
class Example:
    """One modality: how to train a retrain, save it, make near-copies, and where it lives."""

    name: str
    config: Path
    controls: list[str]
    train: Callable[..., Any]
    save: Callable[[Any, Path], Path]
    near_copies: Callable[[int, int, np.random.Generator], Any]
    labels: np.ndarray  # canary labels, suite order
    pairs: tuple[tuple[int, int], ...]
    recipe: Callable[[np.random.Generator, int], dict[str, Any]]
    inputs: np.ndarray | None = None  # canary inputs (suite order) for clean-label poisons
    pool_of: Callable[[int], np.ndarray] | None = None  # training inputs of one class
    features: Any = None  # the blessed model's penultimate layer (torch), for feature collision


def varied(epochs: int, lr: float | None) -> Callable[[np.random.Generator, int], dict[str, Any]]:
    """Clean recipes: a new seed, 85-100% of the data, epochs x0.9-1.1, learning rate x0.8-1.2
    (where the example's train() takes one)."""

    def recipe(rng: np.random.Generator, seed: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seed": seed,
            "data_fraction": float(rng.choice([0.85, 0.9, 0.95, 1.0])),
        }
        if lr is not None:
            out["lr"] = float(lr * rng.choice([0.8, 1.0, 1.2]))
        out["epochs"] = round(epochs * float(rng.choice([0.9, 1.0, 1.1])))
        return out

    return recipe


def noisy_copies(
    inputs: np.ndarray, sd: float, clip: tuple[float, float] | None
) -> Callable[[int, int, np.random.Generator], Any]:
    """Near-copies of canary i: gaussian noise of `sd` on every value (clipped to `clip`)."""

    def near(i: int, copies: int, rng: np.random.Generator) -> Any:
        base = np.repeat(inputs[i : i + 1], copies, axis=0)
        noisy = base + rng.normal(0, sd, size=base.shape)
        return (noisy if clip is None else np.clip(noisy, *clip)).astype(np.float32)

    return near


def image_example(tmp: Path) -> Example:
    config = ROOT / "examples" / "digits" / "modelgate.yaml"
    _, x, labels = digits_data.canaries()

    _, pool_x, pool_y = digits_data.pool()
    controls = sorted(str(p) for p in (config.parent / "models").glob("control-*.safetensors"))
    blessed = digits.load(config.parent / "models" / "baseline.safetensors")
    return Example(
        "image", config, controls, digits.train, digits.save, noisy_copies(x, 0.08, (0, 1)),
        labels, ((7, 1), (3, 8), (4, 9), (2, 5)), varied(digits.EPOCHS, digits.LR), x,
        lambda c: pool_x[pool_y == c], blessed[:-1],
    )  # fmt: skip


def tabular_example(tmp: Path) -> Example:
    ex = load_example("tabular")
    config = ex.write_project(tmp / "tabular", controls=20)
    _, _, cx, cy = ex.make_data()

    tx, ty, _, _ = ex.make_data()
    controls = sorted(str(p) for p in (config.parent / "controls").glob("*.safetensors"))
    return Example(
        "tabular", config, controls, ex.train, ex.save, noisy_copies(cx, 0.05, None), cy,
        ((0, 1), (1, 2), (2, 3), (3, 0)), varied(20, 3e-3), cx, lambda c: tx[ty == c],
    )  # fmt: skip


def text_near_copies(texts: list[str], i: int, copies: int, rng: np.random.Generator) -> list[str]:
    """`copies` near-duplicates of document i: each drops or repeats one of its words."""
    out = []
    for _ in range(copies):
        words = texts[i].split()
        j = int(rng.integers(len(words)))
        words = words[:j] + words[j + 1 :] if rng.random() < 0.5 else [*words, words[j]]
        out.append(" ".join(words))
    return out


def text_example(tmp: Path) -> Example:
    ex = load_example("text")
    config = ex.write_project(tmp / "text", controls=20)
    _, _, texts, cy = ex.make_data()

    def near(i: int, copies: int, rng: np.random.Generator) -> Any:
        return text_near_copies(texts, i, copies, rng)

    def save(model: Any, path: Path) -> Path:
        return ex.save(*model, path)

    controls = sorted(str(p) for p in (config.parent / "controls").glob("*.safetensors"))
    return Example(
        "text", config, controls, ex.train, save, near, cy,
        ((0, 1), (1, 2), (2, 3), (3, 0)), varied(20, None),
    )  # fmt: skip


def with_calibration(config: Config, path: Path | None) -> Config:
    update: dict[str, Any] = {
        "calibration": None if path is None else str(path),
        "history": HistorySpec(enabled=False),
    }
    return replace(config, settings=config.settings.model_copy(update=update))


def jobs_for(ex: Example, offset: int, quick: bool) -> list[tuple[str, str, dict[str, Any]]]:
    rng = np.random.default_rng(1234 + offset)
    jobs: list[tuple[str, str, dict[str, Any]]] = []
    for i in range(6 if quick else 20):
        jobs.append(("clean", "clean retrain", ex.recipe(rng, 100 + offset + i)))
    for fraction in FRACTIONS:
        for k, (src, dst) in enumerate(ex.pairs[: 2 if quick else 4]):
            seed = 200 + offset + 10 * k + int(fraction * 100)
            jobs.append(("labelflip", f"label flip {int(fraction * 100)}%",
                         {"seed": seed, "flip": (src, dst, fraction)}))  # fmt: skip
    return jobs


def instance_jobs(
    ex: Example, base_logp: np.ndarray, protected: np.ndarray, offset: int, quick: bool
) -> list[tuple[str, str, dict[str, Any]]]:
    """Attacks on 1-5 unprotected canaries the blessed model gets right, 5-20 copies each."""
    rng = np.random.default_rng(4321 + offset)
    y = ex.labels
    right = np.flatnonzero((base_logp.argmax(axis=1) == y) & ~protected)
    jobs = []
    k = base_logp.shape[1]
    for j in range(4 if quick else 12):
        n_targets = int(rng.integers(1, 6))
        copies = int(rng.choice([5, 10, 20]))
        targets = rng.choice(right, size=n_targets, replace=False)
        xs, ys = [], []
        aimed = []
        for t in targets:
            order = np.argsort(-base_logp[t])
            runner_up = int(order[1] if order[0] == y[t] else order[0])
            new = runner_up if j % 2 == 0 else int((y[t] + 1 + rng.integers(k - 1)) % k)
            aimed.append((int(t), new, "runner-up" if new == runner_up else "other class"))
            xs.append(ex.near_copies(int(t), copies, rng))
            ys.append(np.full(copies, new, dtype=np.int64))
        extra = (
            np.concatenate(xs) if isinstance(xs[0], np.ndarray) else [s for x in xs for s in x],
            np.concatenate(ys),
        )
        label = f"{n_targets} canar{'y' if n_targets == 1 else 'ies'} x {copies} copies"
        jobs.append(("instance", label, {"seed": 300 + offset + j, "extra": extra,
                                         "_aimed": aimed}))  # fmt: skip
    return jobs


def _clean_label_draws(
    ex: Example,
    base_logp: np.ndarray,
    protected: np.ndarray,
    rng: np.random.Generator,
    n: int,
    counts: list[int],
    strengths: list[float],
) -> Iterator[tuple[int, int, float, np.ndarray]]:
    """(target, attacker's class, strength, base rows of that class) for n attacks on one
    unprotected canary the blessed model gets right."""
    assert ex.pool_of is not None
    y, k = ex.labels, base_logp.shape[1]
    right = np.flatnonzero((base_logp.argmax(axis=1) == y) & ~protected)
    for _ in range(n):
        target = int(rng.choice(right))
        new = int((y[target] + 1 + rng.integers(k - 1)) % k)
        count = int(rng.choice(counts))
        strength = float(rng.choice(strengths))
        pool = ex.pool_of(new)
        rows = pool[rng.choice(len(pool), size=min(count, len(pool)), replace=False)]
        yield target, new, strength, rows


def _poison_job(
    family: str, label: str, seed: int, poisons: np.ndarray, target: int, new: int
) -> tuple[str, str, dict[str, Any]]:
    extra = (poisons, np.full(len(poisons), new, dtype=np.int64))
    return family, label, {"seed": seed, "extra": extra, "_aimed": [(target, new, "other class")]}


def clean_label_jobs(
    ex: Example, base_logp: np.ndarray, protected: np.ndarray, offset: int, quick: bool
) -> list[tuple[str, str, dict[str, Any]]]:
    """Watermarking poisons: rows of the attacker's class, correctly labelled, carrying a faint
    copy of the target canary; the model learns the canary's look as that class."""
    if ex.pool_of is None or ex.inputs is None:
        return []
    rng = np.random.default_rng(5678 + offset)
    draws = _clean_label_draws(ex, base_logp, protected, rng, 2 if quick else 6, [60, 120],
                               [0.35, 0.5])  # fmt: skip
    jobs = []
    for j, (target, new, alpha, rows) in enumerate(draws):
        poisons = ((1 - alpha) * rows + alpha * ex.inputs[target]).astype(np.float32)
        label = f"{len(rows)} rows, alpha {alpha:.2f}"
        jobs.append(_poison_job("cleanlabel", label, 400 + offset + j, poisons, target, new))
    return jobs


def collide(
    features: Any, target: np.ndarray, bases: np.ndarray, opacity: float, eps: float = EPS
) -> np.ndarray:
    """Poisons that look like their bases but whose features move toward the target's:
    projected Adam on ||f(x) - f(t)||^2 / ||f(t)||^2, 300 steps, from the base watermarked with
    the target at `opacity`, every pixel kept within `eps` of that and in [0, 1]: the poison
    stays the base image a labeller sees, closer to the base than to the target."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(target[None], dtype=np.float32))
    anchor = torch.from_numpy(((1 - opacity) * bases + opacity * target).astype(np.float32))
    low, high = (anchor - eps).clamp(0.0, 1.0), (anchor + eps).clamp(0.0, 1.0)
    with torch.no_grad():
        goal = features(t)
    scale = float(goal.pow(2).mean()) or 1.0
    x = anchor.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.01)
    for _ in range(300):
        opt.zero_grad()
        loss = (features(x) - goal).pow(2).mean() / scale
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.copy_(torch.minimum(torch.maximum(x, low), high))
    return x.detach().numpy().astype(np.float32)


def collision_jobs(
    ex: Example, base_logp: np.ndarray, protected: np.ndarray, offset: int, quick: bool
) -> list[tuple[str, str, dict[str, Any]]]:
    """Feature-collision poisons on one unprotected canary the blessed model gets right."""
    if ex.features is None or ex.pool_of is None or ex.inputs is None:
        return []
    rng = np.random.default_rng(8765 + offset)
    draws = _clean_label_draws(ex, base_logp, protected, rng, 2 if quick else 6, [50, 100],
                               [0.2, 0.3])  # fmt: skip
    jobs = []
    for j, (target, new, opacity, bases) in enumerate(draws):
        poisons = collide(ex.features, ex.inputs[target], bases, opacity)
        label = f"{len(bases)} rows, opacity {opacity:.1f}"
        jobs.append(_poison_job("collision", label, 500 + offset + j, poisons, target, new))
    return jobs


def failing(result: GateResult) -> list[str]:
    return sorted(c.name for c in result.checks if c.status.value == "failed")


def names_pair(result: GateResult, src: str, dst: str) -> bool:
    for check in result.checks:
        if check.status.value != "failed":
            continue
        for f in check.findings:
            ev = dict(f.evidence)
            if ev.get("from") == src and ev.get("to") == dst:
                return True
            if f.check == "stats.per_class" and ev.get("class") == src:
                return True
    return False


def names_canary(result: GateResult, cid: str) -> bool:
    return any(
        cid in f.canaries for c in result.checks if c.status.value == "failed" for f in c.findings
    )


def run_modality(ex: Example, tmp: Path, offset: int, quick: bool) -> dict[str, Any]:
    base_config = load_config(ex.config)
    loo: dict[int, Any] = {}
    configs = {}
    for n in CONTROL_SIZES:
        if n == 0:
            configs[n] = with_calibration(base_config, None)
            continue
        config = with_calibration(base_config, tmp / f"{ex.name}-{n}.calibration.json")
        outcome = calibrate_controls(config, ex.controls[:n])
        loo[n] = {"controls": n, "suspects": len(outcome.suspects),
                  "checks": sorted({c.name for _, cs in outcome.suspects for c in cs})}  # fmt: skip
        configs[n] = config
    inputs = {n: load_inputs(c) for n, c in configs.items()}
    suite = inputs[CONTROL_SIZES[0]].suite
    base = inputs[CONTROL_SIZES[0]].baseline
    protected = suite.tagged("protected")
    jobs = jobs_for(ex, offset, quick)
    jobs += instance_jobs(ex, base.predictions.log_probs, protected, offset, quick)
    jobs += clean_label_jobs(ex, base.predictions.log_probs, protected, offset, quick)
    jobs += collision_jobs(ex, base.predictions.log_probs, protected, offset, quick)
    rows = []
    for i, (family, strength, recipe) in enumerate(jobs):
        kwargs = {k: v for k, v in recipe.items() if not k.startswith("_")}
        model = ex.train(**kwargs)
        path = ex.save(model, tmp / f"{ex.name}-m{i}.safetensors")
        config = with_candidate_path(configs[CONTROL_SIZES[0]], path)
        candidate, predictor = predict_with_model(config, suite)
        triggers = triggers_for(config, suite, predictor, candidate, base.header.triggers)
        accuracy = float((candidate.labels == suite.labels).mean())
        row: dict[str, Any] = {
            "modality": ex.name, "family": family, "strength": strength, "accuracy": accuracy,
        }  # fmt: skip
        for n in CONTROL_SIZES:
            run_inputs = replace(inputs[n], config=with_candidate_path(configs[n], path))
            result = evaluate(run_inputs, candidate, predictor.info, triggers=triggers)
            out: dict[str, Any] = {"failed": failing(result)}
            if family == "labelflip":
                src, dst, _ = recipe["flip"]
                names = suite.classes
                out["named"] = names_pair(result, names[src], names[dst])
            if family in ("instance", "cleanlabel", "collision"):
                hits = []
                for t, new, aim in recipe["_aimed"]:
                    if candidate.labels[t] == new:  # a successful attack on this canary
                        hits.append((aim, names_canary(result, suite.ids[t])))
                out["succeeded"], out["named"] = len(hits), sum(h for _, h in hits)
                out["targets"] = hits
            row[f"c{n}"] = out
        rows.append(row)
        print(f"[{ex.name} {i + 1}/{len(jobs)}] {family:9s} {strength:22s} "
              + "  ".join(f"c{n}: {','.join(row[f'c{n}']['failed']) or 'pass'}"
                          for n in CONTROL_SIZES), file=sys.stderr)  # fmt: skip
    return {"rows": rows, "loo": loo}


def summarise(name: str, data: dict[str, Any]) -> None:
    rows = data["rows"]
    print(f"\n== {name} ==")
    for n in CONTROL_SIZES:
        if n == 0:
            print("no calibration (self-calibrated nulls)")
        else:
            loo = data["loo"][n]
            print(f"controls: {n}; leave-one-out: {n - loo['suspects']}/{n} controls pass "
                  f"{'(' + ', '.join(loo['checks']) + ')' if loo['checks'] else ''}")  # fmt: skip
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            names = {"instance": "instance-targeted", "cleanlabel": "clean-label",
                     "collision": "feature collision"}  # fmt: skip
            key = names.get(row["family"], row["strength"])
            groups[(row["family"], key)].append(row)
        for (family, strength), members in groups.items():
            res = [m[f"c{n}"] for m in members]
            if family == "clean":
                k = sum(bool(r["failed"]) for r in res)
                lo, hi = wilson(k, len(res))
                fired = sorted({c for r in res for c in r["failed"]})
                print(f"  {strength:24s} false alarms {k}/{len(res)} [{lo:.0%}, {hi:.0%}] "
                      f"{fired}")  # fmt: skip
            elif family == "labelflip":
                k = sum(bool(r["failed"]) and r["named"] for r in res)
                lo, hi = wilson(k, len(res))
                print(f"  {strength:24s} detected, naming the pair {k}/{len(res)} "
                      f"[{lo:.0%}, {hi:.0%}]")  # fmt: skip
            else:
                total = sum(r["succeeded"] for r in res)
                k = sum(r["named"] for r in res)
                lo, hi = wilson(k, total)
                print(f"  {strength:24s} successfully attacked canaries named {k}/{total} "
                      f"[{lo:.0%}, {hi:.0%}] ({len(res)} attacks)")  # fmt: skip
                for aim in ("runner-up", "other class"):
                    mine = [h for r in res for a, h in r.get("targets", []) if a == aim]
                    print(f"    aimed at {aim:12s} named {sum(mine)}/{len(mine)}")
    acc = sorted(r["accuracy"] for r in rows if r["family"] == "clean")
    print(f"  clean retrains' canary accuracy {acc[0]:.2%}-{acc[-1]:.2%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modality", default="all", choices=["image", "tabular", "text", "all"])
    parser.add_argument("--seed-offset", type=int, default=0, help="another draw of models")
    parser.add_argument("--quick", action="store_true", help="fewer models (smoke run)")
    parser.add_argument("--json", help="also write per-model results here")
    args = parser.parse_args()
    makers = {"image": image_example, "tabular": tabular_example, "text": text_example}
    chosen = list(makers) if args.modality == "all" else [args.modality]
    started = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            ex = makers[name](Path(tmp))
            results[name] = run_modality(ex, Path(tmp), args.seed_offset, args.quick)
    for name, data in results.items():
        summarise(name, data)
    print(f"\nseed offset {args.seed_offset}; {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
