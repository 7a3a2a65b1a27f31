"""Attribution quality: does `modelgate attribute` name the contributor who poisoned a retrain?

For the image (examples/digits), tabular (examples/tabular) and text (examples/text, a sandboxed
black-box callable that exposes `.features`) examples, builds retrains whose training rows come
from eight contributors with unequal shares (a seeded Dirichlet draw); one of them, the
attacker, also supplies the poison:
  labelflip - 10% / 20% of one class relabelled as another (the pairs of detection.py);
  backdoor  - trigger-stamped rows relabelled to a target (the triggers of backdoor.py);
  nearcopy  - 5-20 near-copies of 1-5 target canaries with another label (detection.py's
              instance-targeted jobs);
  clean     - clean retrains of varied recipes (detection.py's `varied`), no attacker.
Each retrain is trained once, its manifest (suite format, one `source` per row) written, and the
real CLI run on it: `modelgate attribute -c JOB.yaml --json OUT` (clean retrains with
`--all-flips`, so their churn flips are attributed even when the check passes). Prints per
family: how often the check failed (detected), how often the attacker ranks first on the first
attributed finding and is flagged at the report's alpha, how often another source is flagged,
the precision of the top-k rows (k = number of poison rows), and the cost; for clean retrains,
how often any source is flagged.
Run: python benchmarks/attribution.py [--modality image|tabular|text|all] [--seed-offset N]
     [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "digits"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import train as digits  # noqa: E402
from backdoor import IMAGE, load_example, tabular_jobs, text_jobs  # noqa: E402
from detection import (  # noqa: E402
    Example,
    image_example,
    instance_jobs,
    jobs_for,
    noisy_copies,
    text_near_copies,
    varied,
)
from intervals import wilson  # noqa: E402

from modelgate.attribution.manifest import write_training_data  # noqa: E402

CONTRIBUTORS = tuple(f"contributor-{i}" for i in range(8))
Job = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class Modality:
    """One example: its project config, how a job's training rows are made, how it trains."""

    example: Example
    training_set: Callable[[dict[str, Any]], tuple[Any, np.ndarray]]
    classes: tuple[str, ...]
    kind: str  # the suite modality


def digits_rows(kwargs: dict[str, Any]) -> tuple[Any, np.ndarray]:
    keys = ("seed", "data_fraction", "flip", "extra", "backdoor")
    return digits.training_set(**{k: kwargs[k] for k in keys if k in kwargs})


def image_modality(tmp: Path) -> Modality:
    ex = image_example(tmp)
    return Modality(ex, digits_rows, tuple(str(c) for c in range(10)), "image")


def tabular_modality(tmp: Path) -> Modality:
    """examples/tabular with 4 clean controls (the design's smallest calibration)."""
    tab = load_example("tabular")
    config = tab.write_project(tmp / "tabular", controls=4)
    tx, ty, cx, cy = tab.make_data()
    controls = sorted(str(p) for p in (config.parent / "controls").glob("*.safetensors"))
    ex = Example(
        "tabular", config, controls, tab.train, tab.save, noisy_copies(cx, 0.05, None), cy,
        ((0, 1), (1, 2), (2, 3), (3, 0)), varied(20, 3e-3), cx, lambda c: tx[ty == c],
    )  # fmt: skip

    def rows(kwargs: dict[str, Any]) -> tuple[Any, np.ndarray]:
        keys = ("seed", "data_fraction", "backdoor", "flip", "extra")
        return tab.training_set(**{k: kwargs[k] for k in keys if k in kwargs})

    return Modality(ex, rows, tuple(tab.CLASSES), "tabular")


def text_modality(tmp: Path) -> Modality:
    """examples/text with 4 clean controls, like tabular; its model is a sandboxed callable."""
    txt = load_example("text")
    config = txt.write_project(tmp / "text", controls=4)
    _, _, texts, cy = txt.make_data()

    def near(i: int, copies: int, rng: np.random.Generator) -> Any:
        return text_near_copies(texts, i, copies, rng)

    def save(model: Any, path: Path) -> Path:
        return Path(txt.save(*model, path))

    controls = sorted(str(p) for p in (config.parent / "controls").glob("*.safetensors"))
    ex = Example(
        "text", config, controls, txt.train, save, near, cy,
        ((0, 1), (1, 2), (2, 3), (3, 0)), varied(20, None),
    )  # fmt: skip
    return Modality(ex, lambda kwargs: text_rows(txt, kwargs), tuple(txt.CLASSES), "text")


def text_rows(txt: Any, kwargs: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """The documents and labels examples/text `train(**kwargs)` trains on: its steps, in its
    order, with its draws (the example has no training_set(); `run_job` checks the vocabulary
    of these rows against the one the retrain built)."""
    texts, labels, _, _ = txt.make_data()
    rng = np.random.default_rng(kwargs["seed"])
    size = round(kwargs.get("data_fraction", 1.0) * len(labels))
    keep = np.sort(rng.choice(len(labels), size=size, replace=False))
    texts, labels = [texts[i] for i in keep], labels[keep].copy()
    if kwargs.get("flip") is not None:
        src, dst, fraction = kwargs["flip"]
        pool = np.flatnonzero(labels == src)
        labels[rng.choice(pool, size=round(fraction * pool.size), replace=False)] = dst
    if kwargs.get("extra") is not None:
        texts = [*texts, *kwargs["extra"][0]]
        labels = np.concatenate([labels, np.asarray(kwargs["extra"][1], dtype=np.int64)])
    backdoor = kwargs.get("backdoor")
    if backdoor is not None:
        others = np.flatnonzero(labels != backdoor.target)
        chosen = rng.choice(others, size=round(backdoor.rate * len(labels)), replace=False)
        for i, text in zip(chosen, backdoor.stamp([texts[i] for i in chosen], kwargs["seed"])):
            texts[i] = text
        labels[chosen] = backdoor.target
    return texts, labels


def poison_mask(m: Modality, kwargs: dict[str, Any]) -> tuple[Any, np.ndarray, np.ndarray]:
    """(inputs, labels, poison): the job's training rows and which of them the attacker made,
    found by comparing with the same recipe without the attack."""
    x, y = m.training_set(kwargs)
    clean = {k: v for k, v in kwargs.items() if k in ("seed", "data_fraction")}
    cx, cy = m.training_set(clean)
    n = len(cy)
    poison = np.zeros(len(y), dtype=bool)
    poison[n:] = True  # appended rows (near-copies)
    differs = np.asarray(y[:n] != cy)
    if isinstance(x, np.ndarray):
        differs |= np.any(np.asarray(x[:n]).reshape(n, -1) != cx.reshape(n, -1), axis=1)
    else:
        differs |= np.asarray([a != b for a, b in zip(x[:n], cx)], dtype=bool)
    poison[:n] = differs
    return x, y, poison


def backdoor_jobs(name: str, quick: bool, offset: int) -> list[Job]:
    """backdoor.py's triggers, each trained with its seed moved by `offset`."""
    if name == "image":
        jobs = [(f, label, kw) for f, label, kw in IMAGE if f != "clean"]
    elif name == "text":
        jobs = [j for j in text_jobs(load_example("text")) if j[0] != "clean"]
    else:
        jobs = [(f, label, kw) for f, label, kw in tabular_jobs(load_example("tabular"))
                if f != "clean"]  # fmt: skip
    jobs = [("backdoor", f"{family} {label}", {**kw, "seed": kw["seed"] + offset})
            for family, label, kw in jobs]  # fmt: skip
    if quick:
        return jobs[::3]
    return jobs[1::2] if len(jobs) > 10 else jobs


def all_jobs(m: Modality, offset: int, quick: bool) -> list[Job]:
    """Clean retrains and label flips (detection.py), backdoors (backdoor.py), near-copies."""
    from modelgate.config import load_config
    from modelgate.engine.inputs import load_inputs

    ex = m.example
    jobs = jobs_for(ex, offset, quick)
    jobs = [j for j in jobs if j[0] == "labelflip"] + [j for j in jobs if j[0] == "clean"][
        : 4 if quick else 6
    ]
    jobs += backdoor_jobs(ex.name, quick, offset)
    inputs = load_inputs(load_config(ex.config))
    base = inputs.baseline.predictions.log_probs
    near = instance_jobs(ex, base, inputs.suite.tagged("protected"), offset, quick)
    jobs += [("nearcopy", label, kw) for _, label, kw in near[: 3 if quick else 4]]
    return jobs


def job_config(base: Path, folder: Path, candidate: Path, manifest: Path) -> Path:
    """The example's config with absolute paths, this candidate and this manifest."""
    data = yaml.safe_load(base.read_text())
    here = base.parent

    def absolute(value: str) -> str:
        return str((here / value).resolve())

    for key in ("suite", "baseline", "calibration", "waivers"):
        if data.get(key):
            data[key] = absolute(data[key])
    spec = data["candidate"] if isinstance(data["candidate"], dict) else {}
    for key in ("factory", "callable"):
        if spec.get(key):
            file, _, fn = spec[key].rpartition(":")
            spec[key] = f"{absolute(file)}:{fn}"
    spec["path"] = str(candidate)
    data["candidate"] = spec
    data["history"] = {"enabled": False}
    data["training_data"] = {"path": str(manifest), "report_rows": 1000}
    data["output"] = {"dir": str(folder / "reports"), "formats": ["json"]}
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def attribute(config: Path, out: Path, all_flips: bool) -> tuple[int, dict[str, Any], float]:
    """Run the real CLI; (exit code, the attribution JSON, seconds)."""
    args = [sys.executable, "-m", "modelgate", "attribute", "-c", str(config), "--json", str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    done = subprocess.run(
        args + (["--all-flips"] if all_flips else []),
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        return done.returncode, {"error": done.stderr.strip()[-400:]}, seconds
    return done.returncode, json.loads(out.read_text()), seconds


def run_job(
    m: Modality, tmp: Path, i: int, job: Job, offset: int, null_draws: int = 0
) -> dict[str, Any]:
    family, label, recipe = job
    kwargs = {k: v for k, v in recipe.items() if not k.startswith("_")}
    x, y, poison = poison_mask(m, kwargs)
    rng = np.random.default_rng(9000 + 1000 * offset + i)
    shares = rng.dirichlet(np.full(len(CONTRIBUTORS), 2.0))
    sources = np.asarray(CONTRIBUTORS)[rng.choice(len(CONTRIBUTORS), size=len(y), p=shares)]
    attacker = CONTRIBUTORS[int(rng.integers(len(CONTRIBUTORS)))] if family != "clean" else ""
    sources[poison] = attacker
    folder = tmp / f"{m.example.name}-{i}"
    folder.mkdir()
    t0 = time.perf_counter()
    model = m.example.train(**kwargs)
    path = m.example.save(model, folder / "candidate.safetensors")
    train_s = time.perf_counter() - t0
    if m.kind == "text":  # text_rows() rebuilt the rows train() used: the same words at least
        assert load_example("text").vocabulary(x) == model[1], f"rows of {label} differ"
    manifest = write_training_data(
        folder / "train", name="row", modality=m.kind, inputs=x,
        labels=[m.classes[c] for c in y.tolist()], sources=sources.tolist(), classes=m.classes,
    )  # fmt: skip
    config = job_config(m.example.config, folder, path, manifest)
    code, data, seconds = attribute(config, folder / "attribution.json", family == "clean")
    row: dict[str, Any] = {
        "modality": m.example.name, "family": family, "label": label, "attacker": attacker,
        "poison_rows": int(poison.sum()), "rows": len(y), "exit": code, "seconds": seconds,
        "train_seconds": train_s,
    }  # fmt: skip
    if "error" in data:
        row["error"] = data["error"]
        return row
    if family == "clean" and null_draws:
        row["null"] = null_flags(config, y, rng, null_draws)
    findings = data["findings"]
    row["failing_checks"] = data["failing_checks"]
    row["detected"] = bool(data["failing_checks"]) and bool(findings)
    row["flagged"] = data["flagged_sources"]
    row["budget"] = data["budget"]
    if findings:
        bd = kwargs.get("backdoor")
        first = primary(findings, family, m.classes[bd.target] if bd is not None else "")
        row["first_check"] = first["check"]
        row["top_source"] = first["sources"][0]["source"]
        row["top_mass"] = first["sources"][0]["mass_share"]
        if attacker:
            k = int(poison.sum())
            ids = {f"row-{j:0{len(str(len(y)))}d}" for j in np.flatnonzero(poison)}
            top = [r["id"] for r in first["top_rows"][:k]]
            row["precision"] = len(set(top) & ids) / k if k else None
            mine = next(s for s in first["sources"] if s["source"] == attacker)
            row["attacker_mass"], row["attacker_rows"] = mine["mass_share"], mine["row_share"]
    return row


def null_flags(config: Path, labels: np.ndarray, rng: np.random.Generator, draws: int) -> list[int]:
    """The clean retrain's influence shares (attributed in-process exactly as the CLI did)
    re-tested under `draws` fresh assignments of rows to contributors: how many sources each
    draw flags at the report's alpha, Holm over the run's findings x sources."""
    from modelgate.attribution.sources import holm, source_tests
    from modelgate.config import load_config
    from modelgate.engine.attribute import attribute_check

    config_ = load_config(config)
    _, report = attribute_check(config_, all_flips=True)
    spec = config_.settings.training_data
    flagged = []
    for _ in range(draws):
        shares = rng.dirichlet(np.full(len(CONTRIBUTORS), 2.0))
        sources = list(
            np.asarray(CONTRIBUTORS)[rng.choice(len(CONTRIBUTORS), len(labels), p=shares)]
        )
        p = [t.p_value for f in report.findings
             for t in source_tests(f.shares, sources, labels, spec.permutations)]  # fmt: skip
        flagged.append(sum(x <= report.alpha for x in holm(p)))
    return flagged


def primary(findings: list[dict[str, Any]], family: str, target: str) -> dict[str, Any]:
    """The finding a family's attack is judged on: for a backdoor the first trigger finding
    towards its target class (as detection.py counts a detection when a finding names the
    attacked pair), the flipped canaries otherwise; else the report's first finding."""
    trigger = [f for f in findings if f["check"].startswith("probes.") and target in f["to"]]
    flips = [f for f in findings if not f["check"].startswith("probes.")]
    chosen = trigger if family == "backdoor" else flips
    return (chosen or findings)[0]


def summarise(rows: list[dict[str, Any]]) -> None:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["modality"], r["family"])].append(r)
    print(f"\n{'modality':8s} {'family':9s} {'detected':>9s} {'attacker 1st':>13s} "
          f"{'flagged':>8s} {'other flagged':>13s} {'top-k prec':>10s} {'mass/rows':>10s} "
          f"{'s/run':>6s}")  # fmt: skip
    for (modality, family), members in sorted(groups.items()):
        ok = [r for r in members if "error" not in r]
        cost = np.mean([r["seconds"] for r in members])
        if family == "clean":
            failed = [r for r in ok if r["failing_checks"]]
            any_flag = sum(bool(r["flagged"]) for r in ok)
            lo, hi = wilson(any_flag, len(ok))
            null = [n for r in ok for n in r.get("null", [])]
            if null:
                k = sum(n > 0 for n in null)
                nlo, nhi = wilson(k, len(null))
                print(f"{modality:8s} {'':9s} re-drawn contributors: any source flagged in "
                      f"{k}/{len(null)} draws [{nlo:.1%}, {nhi:.1%}]")  # fmt: skip
            print(f"{modality:8s} {family:9s} {len(failed):>4d}/{len(ok):<4d} "
                  f"{'':>13s} {'':>8s} any source flagged {any_flag}/{len(ok)} "
                  f"[{lo:.0%}, {hi:.0%}] (--all-flips){'':2s} {cost:6.1f}")  # fmt: skip
            continue
        det = [r for r in ok if r.get("detected")]
        first = sum(r.get("top_source") == r["attacker"] for r in det)
        flagged = sum(r["attacker"] in r["flagged"] for r in det)
        other = sum(any(s != r["attacker"] for s in r["flagged"]) for r in det)
        prec = [r["precision"] for r in det if r.get("precision") is not None]
        ratio = [r["attacker_mass"] / r["attacker_rows"] for r in det if r.get("attacker_rows")]
        print(f"{modality:8s} {family:9s} {len(det):>4d}/{len(ok):<4d} "
              f"{first:>6d}/{len(det):<6d} {flagged:>4d}/{len(det):<3d} {other:>6d}/{len(det):<6d} "
              f"{np.mean(prec) if prec else float('nan'):>10.2f} "
              f"{np.median(ratio) if ratio else float('nan'):>9.1f}x {cost:6.1f}")  # fmt: skip
    attacks = [r for r in rows if r["family"] != "clean" and r.get("detected")]
    first = sum(r.get("top_source") == r["attacker"] for r in attacks)
    lo, hi = wilson(first, len(attacks))
    print(
        f"\nattacker ranked first in {first}/{len(attacks)} detected attacks [{lo:.0%}, {hi:.0%}]"
    )
    errors = [r for r in rows if "error" in r]
    for r in errors:
        print(f"exit {r['exit']}: {r['modality']} {r['family']} {r['label']}: {r['error']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modality", default="all", choices=["image", "tabular", "text", "all"])
    parser.add_argument("--seed-offset", type=int, default=0, help="another draw of retrains")
    parser.add_argument("--quick", action="store_true", help="fewer retrains (smoke run)")
    parser.add_argument("--json", help="also write per-retrain results here")
    parser.add_argument("--clean-only", action="store_true", help="only the clean retrains")
    parser.add_argument(
        "--null-draws",
        type=int,
        default=0,
        help="for each clean retrain, also re-test its influence shares under N fresh draws of "
        "the eight contributors (in-process, the report's own test and alpha)",
    )
    args = parser.parse_args()
    makers = {"image": image_modality, "tabular": tabular_modality, "text": text_modality}
    chosen = [n for n in makers if args.modality in (n, "all")]
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for modality in chosen:
            m = makers[modality](tmp)
            jobs = all_jobs(m, args.seed_offset, args.quick)
            if args.clean_only:
                jobs = [j for j in jobs if j[0] == "clean"]
            for i, job in enumerate(jobs):
                row = run_job(m, tmp, i, job, args.seed_offset, args.null_draws)
                rows.append(row)
                print(f"[{modality} {i + 1}/{len(jobs)}] {row['family']:9s} {row['label']:30s} "
                      f"exit {row['exit']} top {row.get('top_source', '-')} "
                      f"(attacker {row['attacker'] or '-'}) prec {row.get('precision', '-')} "
                      f"{row['seconds']:.0f} s", file=sys.stderr)  # fmt: skip
    summarise(rows)
    print(f"seed offset {args.seed_offset}; {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, sort_keys=True, default=str) + "\n")


if __name__ == "__main__":
    main()
