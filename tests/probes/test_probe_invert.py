"""Trigger inversion finds a planted trigger on a tiny torch model, with counts, never time."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
import torch
from probe_fixtures import K, image_suite, prototypes

from modelgate.probe_settings import InvertProbe, TriggerPolicy
from modelgate.probes.compare import inversion_flags
from modelgate.probes.invert import Schedule, SearchAborted, invert
from modelgate.probes.record import inversion_to_header, read_inversion
from modelgate.probes.run import search_order


class Planted(torch.nn.Module):
    """Template matching, plus (when `trigger`) a detector of a bright bottom-right 2x2 corner."""

    def __init__(self, trigger: bool) -> None:
        super().__init__()
        self.templates = torch.nn.Parameter(torch.from_numpy(prototypes().reshape(K, -1)) * 2.0)
        self.trigger = trigger

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = x.reshape(len(x), -1) @ self.templates.T
        if self.trigger:
            corner = x[:, 0, -2:, -2:].mean(dim=(1, 2))
            bump = 20.0 * torch.nn.functional.softplus(4.0 * (corner - 0.5))  # smooth, as trained
            scores = scores + torch.nn.functional.one_hot(torch.tensor(0), K) * bump[:, None]
        return scores


def _invert(model: torch.nn.Module, **kwargs: Any):  # type: ignore[no-untyped-def]
    suite = image_suite()
    x = np.asarray(suite.inputs)
    return invert(
        model,
        x,
        suite.labels,
        K,
        bounds=(np.zeros(1), np.ones(1)),
        channel_axis=0,
        schedule=Schedule(**{"steps": 120, **kwargs}),
    )


def test_inversion_recovers_the_planted_trigger() -> None:
    backdoored = _invert(Planted(trigger=True))
    clean = _invert(Planted(trigger=False))
    assert backdoored.classes == clean.classes == (0, 1, 2)  # every class, always
    # The trigger class needs a far smaller mask than on the clean model and than other classes.
    assert backdoored.norms[0] < 0.6 * clean.norms[0]
    assert backdoored.norms[0] < 0.6 * np.median(backdoored.norms[1:])
    mask = backdoored.masks[0][0]
    assert mask[-2:, -2:].sum() > 0.6 * mask.sum()  # the mask sits on the planted corner
    assert backdoored.confirm_hits[0] >= 0.8 * backdoored.held_out[0]

    budget = InvertProbe(kind="invert", steps=120).budget()
    blessed = read_inversion({"inversion": inversion_to_header(clean, budget)}, K)
    assert blessed is not None and blessed.budget == budget
    rows = inversion_flags(backdoored, blessed, TriggerPolicy(), alpha=0.01)
    assert [r["class"] for r in rows if r["trigger"]] == [0]
    rows = inversion_flags(clean, blessed, TriggerPolicy(), alpha=0.01)
    assert not any(r["trigger"] for r in rows)


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    for name in ("norms", "confirm_hits", "control_hits", "universal_hits", "masks", "patterns"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_a_class_result_does_not_depend_on_its_group_or_the_order() -> None:
    """Each class starts from its own seed and stops on its own: grouping is only memory."""
    together = _invert(Planted(trigger=True), group=3)
    alone = _invert(Planted(trigger=True), group=1)
    np.testing.assert_allclose(together.norms, alone.norms, rtol=1e-4)
    np.testing.assert_array_equal(together.confirm_hits, alone.confirm_hits)
    np.testing.assert_array_equal(together.universal_hits, alone.universal_hits)
    suite = image_suite()
    reordered = invert(
        Planted(trigger=True),
        np.asarray(suite.inputs),
        suite.labels,
        K,
        bounds=(np.zeros(1), np.ones(1)),
        channel_axis=0,
        schedule=Schedule(steps=120, group=3),
        classes=(2, 0, 1),
    )
    # The same search; only float rounding of a differently ordered batch may differ.
    np.testing.assert_allclose(together.masks, reordered.masks, atol=1e-5)
    np.testing.assert_allclose(together.norms, reordered.norms, rtol=1e-4)
    np.testing.assert_array_equal(together.confirm_hits, reordered.confirm_hits)


class Slow(Planted):
    """The same model, but every forward pass takes longer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.002)
        return super().forward(x)


def test_a_slow_model_or_a_racing_clock_finds_exactly_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quick = _invert(Planted(trigger=True), steps=40)
    slow = _invert(Slow(trigger=True), steps=40)
    _same(quick, slow)
    clock = iter(range(0, 10**9, 1000))  # every reading 1000 s after the last
    monkeypatch.setattr(time, "monotonic", lambda: float(next(clock)))
    _same(quick, _invert(Planted(trigger=True), steps=40))


def test_the_time_limit_only_aborts(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 10**9, 1000))
    monkeypatch.setattr(time, "monotonic", lambda: float(next(clock)))
    model = Planted(trigger=True)
    with pytest.raises(SearchAborted) as info:
        _invert(model, limit_s=1.0)
    assert info.value.done == 0 and info.value.total == K
    assert all(p.requires_grad for p in model.parameters())  # the model is handed back intact


def test_a_capped_search_takes_the_given_classes_only() -> None:
    suite = image_suite()
    result = invert(
        Planted(trigger=True),
        np.asarray(suite.inputs),
        suite.labels,
        K,
        bounds=(np.zeros(1), np.ones(1)),
        channel_axis=0,
        schedule=Schedule(steps=40, universal_steps=0),
        classes=(2,),
    )
    assert result.classes == (2,)
    assert np.isnan(result.norms).sum() == K - 1 and not np.isnan(result.norms[2])
    assert (result.universal_hits == -1).all()


def test_search_order_puts_flagged_then_blessed_classes_first() -> None:
    from modelgate.probes.record import BlessedInversion

    blessed = BlessedInversion(
        norms=np.array([np.nan, 3.0, np.nan, 2.0, np.nan]),
        universal_hits=np.zeros(5, dtype=np.int64),
        held_out=np.zeros(5, dtype=np.int64),
    )
    assert search_order(5, (4,), blessed) == (4, 1, 3, 0, 2)
    assert search_order(5, (), None) == (0, 1, 2, 3, 4)


def test_groups_searched_at_once_give_bit_for_bit_the_sequential_result() -> None:
    """One group per core, each single-threaded: the same floats as one group after another."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one_by_one = _invert(Planted(trigger=True), group=1)
        torch.set_num_threads(3)
        at_once = _invert(Planted(trigger=True), group=1)
    finally:
        torch.set_num_threads(threads)
    _same(one_by_one, at_once)
    np.testing.assert_array_equal(one_by_one.norms, at_once.norms)


class _Lying(Planted):
    """Scores torch cannot take a gradient of: detached, integers, or edited in place."""

    def __init__(self, how: str) -> None:
        super().__init__(trigger=False)
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.how == "inplace":
            y = torch.sigmoid(x.reshape(len(x), -1) @ self.templates.T)
            y.mul_(2.0)  # sigmoid's backward needs its output: autograd refuses at backward
            return y
        scores = super().forward(x)
        return scores.detach() if self.how == "detach" else scores.round().long()


@pytest.mark.parametrize(
    ("how", "words"),
    [("detach", "do not depend"), ("integers", "not floating"), ("inplace", "backward pass")],
)
def test_a_model_without_a_gradient_is_refused_before_the_search(how: str, words: str) -> None:
    from modelgate.probes.invert import NotDifferentiable

    with pytest.raises(NotDifferentiable, match=words):
        _invert(_Lying(how))
