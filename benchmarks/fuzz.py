"""Mutation fuzz of every file the gate reads, thousands of times: how many runs end in exit 3?

    python benchmarks/fuzz.py [--runs 1000] [--seed 0] [--cli 200]

Builds the tiny blessed and calibrated project of tests/projects.py in a temporary folder, then
for each file the gate reads (config, waivers, suite manifest, samples table, baseline and
calibration records) writes `--runs` seeded mutations (tests/fuzzing.py: deletes, inserts and
replacements with YAML 1.1 words, impossible dates, aliases, deep nesting, huge numbers, NaN,
control characters) and loads it as `check` does. `--cli N` also runs N mutated configs through
the real `modelgate check` (in process). Prints the exit codes per file and every exit 3 with
the mutation that caused it; exits 1 if there was any.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzzing import OPS, TARGETS, TOKENS, build_fuzz_project, mutate, outcome


def _edits(rng: random.Random) -> list[tuple[int, str, int, int]]:
    return [
        (rng.randrange(100_000), rng.choice(OPS), rng.randrange(len(TOKENS)), rng.randrange(100))
        for _ in range(rng.randint(1, 4))
    ]


def _cli(root: Path, text: str) -> int:
    from modelgate.cli import main

    (root / "cli.yaml").write_text(text)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(["check", "-q", "--no-reports", "-c", str(root / "cli.yaml")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="mutations per file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cli", type=int, default=0, help="mutated configs run through check")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    bugs: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_fuzz_project(root)
        print(f"{'file':16} {'runs':>6} {'exit 0':>7} {'exit 2':>7} {'exit 3':>7} {'s/run':>7}")
        total = Counter[int]()
        for name, target in sorted(TARGETS.items()):
            text = (root / target.file).read_text()
            codes = Counter[int]()
            started = time.perf_counter()
            for _ in range(args.runs):
                edits = _edits(rng)
                code, what = outcome(target, root, mutate(text, edits))
                codes[code] += 1
                if code == 3:
                    bugs.append(f"{name} {edits}: {what}")
            per_run = (time.perf_counter() - started) / max(args.runs, 1)
            total += codes
            print(
                f"{name:16} {args.runs:>6} {codes[0]:>7} {codes[2]:>7} {codes[3]:>7} "
                f"{per_run:>7.4f}"
            )
        if args.cli:
            config = (root / "modelgate.yaml").read_text()
            codes = Counter(_cli(root, mutate(config, _edits(rng))) for _ in range(args.cli))
            print(f"{'check (CLI)':16} {args.cli:>6} {codes[0]:>7} {codes[2]:>7} {codes[3]:>7}")
            print(f"  all CLI exit codes: {dict(sorted(codes.items()))}")
            total += Counter({3: codes[3]})
            if codes[3]:
                bugs.append(
                    f"{codes[3]} CLI run(s) ended in exit 3 (rerun with --seed {args.seed})"
                )
    print(f"total: {sum(total.values())} runs, {total[3]} exit 3")
    for bug in bugs[:20]:
        print("EXIT 3:", bug)
    print(f"reproduce: python benchmarks/fuzz.py --runs {args.runs} --seed {args.seed}")
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
