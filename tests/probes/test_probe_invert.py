"""Trigger inversion finds a planted trigger on a tiny torch model within a small budget."""

from __future__ import annotations

import time

import numpy as np
import torch
from probe_fixtures import K, image_suite, prototypes

from modelgate.probes.compare import inversion_flags
from modelgate.probes.invert import invert
from modelgate.probes.record import inversion_to_header, read_inversion
from modelgate.probes.spec import TriggerPolicy


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


def _invert(model: torch.nn.Module, budget_s: float = 30.0):  # type: ignore[no-untyped-def]
    suite = image_suite()
    x = np.asarray(suite.inputs)
    return invert(
        model,
        x,
        suite.labels,
        K,
        bounds=(np.zeros(1), np.ones(1)),
        channel_axis=0,
        steps=120,
        budget_s=budget_s,
    )


def test_inversion_recovers_the_planted_trigger_quickly() -> None:
    started = time.perf_counter()
    backdoored = _invert(Planted(trigger=True))
    assert time.perf_counter() - started < 20
    clean = _invert(Planted(trigger=False))
    assert backdoored.complete and clean.complete
    # The trigger class needs a far smaller mask than on the clean model and than other classes.
    assert backdoored.norms[0] < 0.6 * clean.norms[0]
    assert backdoored.norms[0] < 0.6 * np.median(backdoored.norms[1:])
    mask = backdoored.masks[0][0]
    assert mask[-2:, -2:].sum() > 0.6 * mask.sum()  # the mask sits on the planted corner
    assert backdoored.confirm_hits[0] >= 0.8 * backdoored.held_out[0]

    blessed = read_inversion({"inversion": inversion_to_header(clean, 120)}, K)
    assert blessed is not None
    rows = inversion_flags(backdoored, blessed, TriggerPolicy(), alpha=0.01)
    assert [r["class"] for r in rows if r["trigger"]] == [0]
    rows = inversion_flags(clean, blessed, TriggerPolicy(), alpha=0.01)
    assert not any(r["trigger"] for r in rows)


def test_budget_caps_the_search_and_priority_goes_first() -> None:
    model = Planted(trigger=True)
    suite = image_suite()
    result = invert(
        model,
        np.asarray(suite.inputs),
        suite.labels,
        K,
        bounds=(np.zeros(1), np.ones(1)),
        channel_axis=0,
        steps=100_000,
        budget_s=1.0,
        priority=(2,),
        universal=False,
    )
    assert not result.complete and result.classes[0] == 2
    assert np.isnan(result.norms).sum() == K - len(result.classes)
    assert all(p.requires_grad for p in model.parameters())  # the model is handed back intact
    assert result.seconds < 10
