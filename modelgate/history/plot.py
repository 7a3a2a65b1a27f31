"""`modelgate history --plot`: accuracy and flip counts per version, and the per-class flow of
the latest run, as one PNG. matplotlib is an optional extra (`pip install "modelgate[plot]"`)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from modelgate.analysis.churn import regression_matrix
from modelgate.atomic import write_bytes_atomic
from modelgate.errors import HistoryError, UsageError
from modelgate.history.ledger import Ledger, RunKind


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display in CI
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib, which is not installed",
            hint='pip install "modelgate[plot]"',
        ) from None
    return plt


def flow_series(ledger: Ledger) -> dict[str, Any]:
    """Per run of the latest suite: accuracy, flips against the blessing before it, and
    regressions against the first run (the shift that built up)."""
    digests = ledger.suite_digests()
    if not digests:
        raise HistoryError("no runs recorded yet", file=ledger.path)
    digest = ledger.runs()[-1].suite_digest
    suite = ledger.suite(digest)
    runs = ledger.runs(suite_digest=digest)
    y = suite.labels
    blessed: np.ndarray | None = None
    first: np.ndarray | None = None
    names, failed, accuracy, negative, positive, since = [], [], [], [], [], []
    for run in runs:
        pred = ledger.predictions(run).labels
        first = pred if first is None else first
        names.append(f"{'B' if run.kind is RunKind.BLESS else 'C'}#{run.run_id}")
        failed.append(run.verdict == "failed")
        accuracy.append(float((pred == y).mean()))
        before = blessed if blessed is not None else pred
        negative.append(int(((before == y) & (pred != y)).sum()))
        positive.append(int(((before != y) & (pred == y)).sum()))
        since.append(int(((first == y) & (pred != y)).sum()))
        if run.kind is RunKind.BLESS:
            blessed = pred
    assert first is not None
    flow = regression_matrix(y, first, pred, len(suite.classes))
    return {"names": names, "failed": failed, "accuracy": accuracy, "negative": negative,
            "positive": positive, "since": since, "flow": flow, "classes": suite.classes,
            "first": runs[0].name, "latest": runs[-1].name,
            "suite": f"{suite.name} v{suite.version}"}  # fmt: skip


def write_plot(ledger: Ledger, out: Path) -> Path:
    """Write the PNG atomically; the same ledger always gives the same picture."""
    from modelgate.errors import OutputError

    if out.is_dir():
        raise OutputError("the plot path is a folder", file=out, key="--plot")
    plt = _pyplot()
    s = flow_series(ledger)
    x = np.arange(len(s["names"]))
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(max(8, len(x) * 0.35), 11))
    acc = np.array(s["accuracy"]) * 100
    top.plot(x, acc, color="tab:blue")
    colors = ["tab:red" if f else "tab:blue" for f in s["failed"]]
    top.scatter(x, acc, c=colors, zorder=3, label="red: the gate failed this check")
    top.legend(loc="lower left")
    top.set_ylabel("canary accuracy (%)")
    top.set_title(f"suite {s['suite']}: runs in the ledger (B = bless, C = check)")
    middle.bar(x - 0.2, s["negative"], width=0.4, color="tab:red", label="right -> wrong")
    middle.bar(x + 0.2, s["positive"], width=0.4, color="tab:green", label="wrong -> right")
    middle.plot(
        x, s["since"], color="black", marker=".", label="right -> wrong since the first run"
    )
    middle.set_ylabel("flips vs the previous blessing")
    middle.legend(loc="upper left")
    for ax in (top, middle):
        ax.set_xticks(x, s["names"], rotation=90, fontsize=7)
    classes, flow = s["classes"], s["flow"]
    bottom.imshow(flow, cmap="Reds", vmin=0, vmax=max(1, int(flow.max())))
    for (a, b), count in np.ndenumerate(flow):
        if count:
            shade = "white" if count > flow.max() / 2 else "black"
            bottom.text(b, a, str(count), ha="center", va="center", fontsize=7, color=shade)
    bottom.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    bottom.set_yticks(range(len(classes)), classes, fontsize=7)
    bottom.set_xlabel("now predicted")
    bottom.set_ylabel("true class (right before)")
    bottom.set_title(f"per-class flow from {s['first']}\nto {s['latest']}", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    try:
        write_bytes_atomic(out, buffer.getvalue())
    except OSError as exc:  # named as the user wrote it, not as the hidden file beside it
        message = f"cannot write the plot: {exc.strerror or exc}"
        raise OutputError(message, file=out, key="--plot") from None
    return out
