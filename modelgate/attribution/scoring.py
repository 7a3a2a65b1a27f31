"""Each training row's influence on a behaviour. Flipped canaries: captum's TracInCPFast, the dot
product of last-layer loss gradients (training row on its trained label; canary on its new
class) at one checkpoint, the candidate itself. A trigger: a last-layer gradient step along the
trigger's activation shift (`trigger_shares`, our own: see there why). Imported only by the
attribution command.

Two kinds of candidate reach the same scoring: a state dict in the team's own module (TracIn
runs the module, its last linear layer found by its output), and a callable that exposes
`.features` (TracIn runs the final layer fitted from features and scores, `features.py`, on
the features; every batch checked against the model's own scores).

Why captum: it is maintained (0.9.0, 2026), installs with torch alone (plus matplotlib), and
TracInCPFast needs one forward pass per training row and no Hessian, so 10^5 rows cost seconds
on a CPU. kronfluence and traker want many checkpoints or a projection pass over the whole
model and were last released in 2024; dattri's TracIn works on full gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from modelgate.attribution.features import OPT_IN, FeaturesRefused, FittedHead
from modelgate.attribution.manifest import TrainingData
from modelgate.attribution.result import Behaviour
from modelgate.models.features import features_of

WHITE_BOX_FORMATS = ("state_dict",)  # weights in the team's own module; nothing else runs
CALLABLE = "callable"  # black box, scored when it exposes `.features`
FITTED = "callable features"  # Scorer.kind of a callable scored through its features


class NotWhiteBox(Exception):
    """The candidate offers no weights this attribution can differentiate; skip, with why."""


class _ScoreLoss(nn.Module):
    """Cross-entropy on whatever the model outputs (logits, probs or log-probs), summed: the
    reduction captum's last-layer gradients are defined for."""

    reduction = "sum"

    def __init__(self, output: str) -> None:
        super().__init__()
        self.output = output

    def forward(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.output == "logits":
            logp = torch.log_softmax(scores, dim=1)
        elif self.output == "probs":
            logp = torch.log(scores.clamp_min(1e-12))
        else:
            logp = scores
        return nn.functional.nll_loss(logp, labels, reduction="sum")


class _Batches(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """The scored manifest rows as (model inputs, labels) batches, read from the memory map one
    batch at a time: the training set is never in memory whole."""

    def __init__(
        self, data: TrainingData, positions: np.ndarray, batch_size: int, scorer: Scorer
    ) -> None:
        self.inputs, self.labels = data.rows.inputs, data.rows.labels
        self.chunks = [positions[a : a + batch_size] for a in range(0, len(positions), batch_size)]
        self.scorer = scorer

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        at = self.chunks[i]
        x = self.scorer.inputs(take(self.inputs, at))
        return x, torch.from_numpy(np.asarray(self.labels[at], dtype=np.int64))


def take(inputs: Any, at: np.ndarray) -> Any:
    """Rows `at` of an inputs memory map (a copy) or of a list of texts."""
    if isinstance(inputs, list):
        return [inputs[i] for i in at.tolist()]
    return np.array(inputs[at])


@dataclass(frozen=True)
class Scorer:
    """A candidate ready for scoring: the module TracIn runs and its last linear layer, how a
    batch of suite-format inputs becomes that module's input, and the layer's input (float64)
    for a batch: the last-layer features both methods work on."""

    module: nn.Module
    output: str  # how the loss reads the module's output
    layer: nn.Module
    inputs: Callable[[Any], torch.Tensor]
    activations: Callable[[Any], np.ndarray]
    kind: str = "state_dict"


def scorer_for(
    predictor: Any,
    samples: Sequence[Any],
    n_classes: int,
    rows: Callable[[], Any] | None = None,
) -> Scorer:
    """The candidate's scorer, checked on `samples` (batches of the behaviours' canary inputs)
    and, for a callable, on `rows()` (a batch of training inputs) too; raises NotWhiteBox for
    formats that hide their weights and callables without (or with untrue) features."""
    fmt = predictor.info.format
    if fmt == CALLABLE and features_of(predictor.score) is not None:
        return _fitted_scorer(predictor, samples, n_classes, rows)
    module = predictor.module
    if fmt not in WHITE_BOX_FORMATS or not isinstance(module, nn.Module):
        hint = f"; {OPT_IN}" if fmt == CALLABLE else ""
        raise NotWhiteBox(
            f"the candidate is not white-box (format {fmt}): attribution needs weights in the "
            "team's own module (format state_dict, a safetensors or weights-only torch file)" + hint
        )
    sample = samples[0]
    if isinstance(sample, list):
        raise NotWhiteBox("text inputs need a tokenizer the state_dict format does not have")
    layer = _last_layer(module, torch.from_numpy(np.array(sample[:2])), n_classes)
    module = module.eval()

    def inputs(batch: Any) -> torch.Tensor:
        return torch.from_numpy(np.array(batch))

    def activations(batch: Any) -> np.ndarray:
        return _hooked(module, layer, inputs(batch))

    return Scorer(module, predictor.output, layer, inputs, activations)


def _fitted_scorer(
    predictor: Any, samples: Sequence[Any], n_classes: int, rows: Callable[[], Any] | None
) -> Scorer:
    """A callable with `.features`: TracIn on its fitted final layer, fed the checked features."""
    head = FittedHead(predictor, n_classes)
    try:
        layer = head.fit([*samples, *([rows()] if rows is not None else [])])
    except FeaturesRefused as exc:
        raise NotWhiteBox(f"the candidate's features were refused: {exc}") from None

    def activations(batch: Any) -> np.ndarray:
        try:
            return head.checked(batch)
        except FeaturesRefused as exc:
            raise NotWhiteBox(f"the candidate's features were refused: {exc}") from None

    def inputs(batch: Any) -> torch.Tensor:
        return torch.from_numpy(activations(batch))

    return Scorer(layer, "logits", layer, inputs, activations, kind=FITTED)


def _last_layer(module: nn.Module, x: torch.Tensor, n_classes: int) -> nn.Module:
    """The linear layer whose output is the model's output (else the last linear layer with one
    output per class, e.g. before a softmax)."""
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    seen: dict[int, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda mod, _i, out: seen.__setitem__(id(mod), out))
        for m in linears
    ]
    try:
        with torch.no_grad():
            out = module(x)
    except Exception as exc:  # the check ran it on the same inputs: say why, do not crash
        raise NotWhiteBox(f"the model cannot be run for attribution: {exc}") from None
    finally:
        for h in hooks:
            h.remove()
    exact = [m for m in linears if id(m) in seen and seen[id(m)].shape == out.shape
             and torch.equal(seen[id(m)], out)]  # fmt: skip
    if exact:
        return exact[-1]
    shaped = [m for m in linears if m.out_features == n_classes]
    if not shaped:
        raise NotWhiteBox("the model has no final linear layer with one output per class")
    return shaped[-1]


def influence_shares(
    scorer: Scorer, data: TrainingData, positions: np.ndarray, behaviour: Behaviour,
    batch_size: int,
) -> np.ndarray:  # fmt: skip
    """(len(positions),) float64 summing to 1: each row's share of the positive influence mass
    on the behaviour. Flipped canaries: captum's TracIn; a trigger: `trigger_shares`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same float sums on every machine
    try:
        if behaviour.reference is not None:
            return trigger_shares(scorer, data, positions, behaviour, batch_size)
        return tracin_shares(scorer, data, positions, behaviour, batch_size)
    finally:
        torch.set_num_threads(threads)


def tracin_shares(
    scorer: Scorer, data: TrainingData, positions: np.ndarray, behaviour: Behaviour,
    batch_size: int,
) -> np.ndarray:  # fmt: skip
    """captum's TracInCPFast towards each canary's new class: rows that flip canaries are
    mislabelled and keep a high loss, which is what its gradient dot product ranks first. Every
    canary distributes one unit of positive influence."""
    from captum.influence import TracInCPFast

    loader = torch.utils.data.DataLoader(
        _Batches(data, positions, batch_size, scorer), batch_size=None, shuffle=False
    )
    tracin = TracInCPFast(
        scorer.module,
        scorer.layer,
        loader,
        checkpoints=["candidate"],  # already loaded: the load function only gives its weight
        checkpoints_load_func=lambda _model, _path: 1.0,
        loss_fn=_ScoreLoss(scorer.output),
        batch_size=batch_size,
    )
    x = scorer.inputs(behaviour.inputs)
    y = torch.from_numpy(np.asarray(behaviour.targets, dtype=np.int64))
    scores = tracin.influence((x, y), k=None).detach().to(torch.float64).numpy()
    positive = np.clip(scores, 0.0, None)
    mass = positive.sum(axis=1, keepdims=True)
    kept = mass[:, 0] > 0
    if not kept.any():
        return np.zeros(len(positions), dtype=np.float64)
    shares: np.ndarray = (positive[kept] / mass[kept]).sum(axis=0) / kept.sum()
    return shares


def trigger_shares(
    scorer: Scorer, data: TrainingData, positions: np.ndarray, behaviour: Behaviour,
    batch_size: int,
) -> np.ndarray:  # fmt: skip
    """Rows that taught a trigger: among rows trained as the trigger's class t, how far each
    row's last-layer input lies along the shift the stamp causes (mean stamped minus clean
    canary), beyond the class's average row: (a_i - mean_t a) . da, positive part. This is the
    first-order effect of the row's last-layer step on how much the trigger raises t's logit,
    with the loss gradient taken at uniform predictions and the class's common part removed.
    Our own, because captum's single-checkpoint TracIn scales each row by its current loss,
    and the rows that taught a backdoor are the ones the candidate now fits (development seeds
    of benchmarks/attribution.py: top-k precision 0.1-0.5 with TracIn on trigger findings)."""
    target = int(behaviour.targets[0])
    shift = scorer.activations(behaviour.inputs) - scorer.activations(behaviour.reference)
    direction = shift.mean(axis=0)
    along = np.zeros(len(positions), dtype=np.float64)
    ours = data.rows.labels[positions] == target
    for start in range(0, len(positions), batch_size):
        at = positions[start : start + batch_size]
        mine = ours[start : start + len(at)]
        if mine.any():
            rows = take(data.rows.inputs, at[mine])
            along[start : start + len(at)][mine] = scorer.activations(rows) @ direction
    if not ours.any():
        return along
    scores = np.where(ours, np.clip(along - along[ours].mean(), 0.0, None), 0.0)
    total = scores.sum()
    return scores / total if total > 0 else scores


def _hooked(module: nn.Module, layer: nn.Module, x: torch.Tensor) -> np.ndarray:
    """The input of `layer` (float64) when `module` runs on `x`."""
    seen: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda _m, args, _o: seen.append(args[0]))
    try:
        with torch.no_grad():
            module(x)
    finally:
        hook.remove()
    return seen[-1].detach().to(torch.float64).reshape(len(seen[-1]), -1).numpy()
