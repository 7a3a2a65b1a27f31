"""Trigger inversion for torch models: per class, the smallest mask + pattern that sends canaries
of other classes to it (Neural Cleanse, Wang et al. 2019), and a universal perturbation.

All classes are searched at once in one batched forward pass per step, with Neural Cleanse's
adaptive cost per class. The search runs on half of the eligible canaries; the recovered trigger
is then confirmed on the other half, next to the same mask filled with a random pattern (the
control). The time budget is a cap: classes are taken in priority order, so the ones the probes
flagged are searched first when the budget cannot cover every class.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from modelgate.probes.results import Inversion

SUCCESS = 0.9  # attack success a recovered trigger must reach on the search half
_PATIENCE = 5
_LR = 0.1
_BATCH = 64


def split_halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(search, held-out) positions: alternate canaries, so both halves cover every class."""
    order = np.arange(n)
    return order[0::2], order[1::2]


def mask_shape(input_shape: tuple[int, ...], channel_axis: int | None) -> tuple[int, ...]:
    """Image masks are shared across channels; tabular masks have one entry per feature."""
    if channel_axis is None:
        return input_shape
    return tuple(1 if i == channel_axis else s for i, s in enumerate(input_shape))


def invert(
    module: torch.nn.Module,
    inputs: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    bounds: tuple[np.ndarray, np.ndarray],
    channel_axis: int | None,
    steps: int,
    budget_s: float,
    priority: tuple[int, ...] = (),
    universal_eps: float = 0.1,
    universal: bool = True,
    seed: int = 0,
) -> Inversion:
    """Search every class (priority ones first) within `budget_s` seconds."""
    started = time.perf_counter()
    module.eval()
    frozen = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in frozen:
        p.requires_grad_(False)
    # One thread: the search is many small steps (thread hand-offs cost more than they save),
    # and its float reductions, hence the recovered triggers, then do not depend on the machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _invert(
            module,
            inputs,
            labels,
            n_classes,
            bounds,
            channel_axis,
            steps,
            budget_s,
            priority,
            universal_eps,
            universal,
            seed,
            started,
        )
    finally:
        torch.set_num_threads(threads)
        for p, flag in frozen:
            p.requires_grad_(flag)


def _invert(
    module: torch.nn.Module,
    inputs: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    bounds: tuple[np.ndarray, np.ndarray],
    channel_axis: int | None,
    steps: int,
    budget_s: float,
    priority: tuple[int, ...],
    universal_eps: float,
    universal: bool,
    seed: int,
    started: float,
) -> Inversion:
    x = torch.as_tensor(np.array(inputs))  # a copy: the suite may be a read-only memmap
    dtype = x.dtype
    y = torch.as_tensor(labels, dtype=torch.long)
    search, held = split_halves(len(x))
    lo = torch.as_tensor(np.broadcast_to(bounds[0], x.shape[1:]).copy()).to(dtype)
    hi = torch.as_tensor(np.broadcast_to(bounds[1], x.shape[1:]).copy()).to(dtype)
    shape_m = mask_shape(tuple(x.shape[1:]), channel_axis)
    order = list(dict.fromkeys([*priority, *range(n_classes)]))
    # Time a few steps with all classes, then keep as many classes as the budget allows.
    per_class = _time_step(module, x[search], y[search], order, shape_m, lo, hi) / len(order)
    work = steps * (1.25 if universal else 1)
    affordable = max(1, int((budget_s - (time.perf_counter() - started)) / (per_class * work)))
    chosen = sorted(order[:affordable], key=order.index)
    deadline = started + budget_s
    masks, patterns, norms, finished = _neural_cleanse(
        module, x[search], y[search], chosen, shape_m, lo, hi, steps, seed, deadline
    )
    k = n_classes
    out_norms = np.full(k, np.nan)
    confirm = np.full(k, -1, dtype=np.int64)
    control = np.full(k, -1, dtype=np.int64)
    universal_hits = np.full(k, -1, dtype=np.int64)
    held_n = np.array([int((y[held] != t).sum()) for t in range(k)], dtype=np.int64)
    all_masks = np.zeros((k, *shape_m), dtype=np.float32)
    all_patterns = np.zeros((k, *x.shape[1:]), dtype=np.float32)
    rng = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for j, t in enumerate(chosen):
            out_norms[t] = norms[j]
            all_masks[t], all_patterns[t] = masks[j].numpy(), patterns[j].numpy()
            noise = lo + (hi - lo) * torch.rand(x.shape[1:], generator=rng, dtype=lo.dtype)
            confirm[t] = _hits(module, x[held], y[held], t, masks[j], patterns[j])
            control[t] = _hits(module, x[held], y[held], t, masks[j], noise)
    if universal:
        deltas, done = _universal(
            module,
            x[search],
            y[search],
            chosen,
            lo,
            hi,
            max(10, steps // 4),
            universal_eps,
            deadline,
        )
        finished = finished and done
        with torch.no_grad():
            for j, t in enumerate(chosen):
                stamped = torch.minimum(torch.maximum(x[held] + deltas[j], lo), hi)
                pred = module(stamped).argmax(1)
                universal_hits[t] = int(((pred == t) & (y[held] != t)).sum())
    return Inversion(
        classes=tuple(chosen),
        norms=out_norms,
        confirm_hits=confirm,
        control_hits=control,
        held_out=held_n,
        universal_hits=universal_hits,
        masks=all_masks,
        patterns=all_patterns,
        seconds=time.perf_counter() - started,
        complete=len(chosen) == n_classes and finished,
    )


def _hits(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    t: int,
    mask: torch.Tensor,
    pattern: torch.Tensor,
) -> int:
    pred = module((1 - mask) * x + mask * pattern).argmax(1)
    return int(((pred == t) & (y != t)).sum())


def _stamp_all(x: torch.Tensor, masks: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    """(T, B, ...) stamped copies of a batch, one per class, flattened to (T * B, ...)."""
    stamped = (1 - masks[:, None]) * x[None] + masks[:, None] * patterns[:, None]
    return stamped.reshape(-1, *x.shape[1:])


def _batch(n: int, step: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 100_003 + step)
    return torch.randperm(n, generator=g)[: min(_BATCH, n)]


def _targets(classes: list[int], y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.tensor(classes, dtype=torch.long)[:, None].expand(-1, len(y))
    weight = (y[None, :] != t).float()  # a canary of class t says nothing about a trigger to t
    return t.reshape(-1), weight


def _time_step(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    classes: list[int],
    shape_m: tuple[int, ...],
    lo: torch.Tensor,
    hi: torch.Tensor,
) -> float:
    _neural_cleanse(module, x, y, classes, shape_m, lo, hi, 1, 0)  # warm-up: first calls are slow
    started = time.perf_counter()
    _neural_cleanse(module, x, y, classes, shape_m, lo, hi, 4, 0)
    return (time.perf_counter() - started) / 4


def _neural_cleanse(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    classes: list[int],
    shape_m: tuple[int, ...],
    lo: torch.Tensor,
    hi: torch.Tensor,
    steps: int,
    seed: int,
    deadline: float = math.inf,
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, bool]:
    """(masks, patterns, L1 norms) of the smallest successful trigger per class, and whether
    the search finished before the deadline."""
    n_t = len(classes)
    g = torch.Generator().manual_seed(seed)
    mask_logit = torch.rand((n_t, *shape_m), generator=g, dtype=x.dtype) * 0.2 - 3.0
    pattern_logit = torch.randn((n_t, *x.shape[1:]), generator=g, dtype=x.dtype) * 0.1
    mask_logit.requires_grad_(True)
    pattern_logit.requires_grad_(True)
    optimizer = torch.optim.Adam([mask_logit, pattern_logit], lr=_LR, betas=(0.5, 0.9))
    cost = torch.zeros(n_t)
    base_cost = 1.0 / float(np.prod(shape_m))
    up = torch.zeros(n_t)
    down = torch.zeros(n_t)
    best_norm = torch.full((n_t,), float("inf"))
    stale = torch.zeros(n_t)  # steps since the best trigger last shrank by 1%
    best_mask = torch.sigmoid(mask_logit.detach()).clone()
    best_pattern = (lo + (hi - lo) * torch.sigmoid(pattern_logit.detach())).clone()
    finished = True
    for step in range(steps):
        if step >= steps // 2 and bool((stale >= _PATIENCE * 8).all()):
            break  # every class has stopped shrinking: the rest of the schedule is idle
        if time.perf_counter() > deadline:
            finished = False
            break
        idx = _batch(len(x), step, seed)
        xb, yb = x[idx], y[idx]
        mask = torch.sigmoid(mask_logit)
        pattern = lo + (hi - lo) * torch.sigmoid(pattern_logit)
        logits = module(_stamp_all(xb, mask, pattern))
        target, weight = _targets(classes, yb)
        ce = torch.nn.functional.cross_entropy(logits, target, reduction="none").view(n_t, -1)
        ce = (ce * weight).sum(1) / weight.sum(1).clamp_min(1)
        l1 = mask.reshape(n_t, -1).sum(1)
        loss = (ce + cost * l1).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            hit = (logits.argmax(1) == target).float().view(n_t, -1)
            success = (hit * weight).sum(1) / weight.sum(1).clamp_min(1)
            ok = success >= SUCCESS
            better = ok & (l1 < best_norm)
            stale = torch.where(ok & (l1 < best_norm * 0.99), torch.zeros_like(stale), stale + 1)
            best_norm = torch.where(better, l1, best_norm)
            best_mask[better] = mask[better]
            best_pattern[better] = pattern[better]
            # Neural Cleanse's schedule: raise the size cost while the trigger works.
            cost = torch.where((cost == 0) & ok, torch.full_like(cost, base_cost), cost)
            up = torch.where(ok, up + 1, torch.zeros_like(up))
            down = torch.where(ok, torch.zeros_like(down), down + 1)
            cost = torch.where(up >= _PATIENCE, cost * 1.5, cost)
            cost = torch.where(down >= _PATIENCE, cost / 1.5**1.5, cost)
            up = torch.where(up >= _PATIENCE, torch.zeros_like(up), up)
            down = torch.where(down >= _PATIENCE, torch.zeros_like(down), down)
    return best_mask, best_pattern, best_norm.numpy().astype(np.float64), finished


def _universal(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    classes: list[int],
    lo: torch.Tensor,
    hi: torch.Tensor,
    steps: int,
    eps: float,
    deadline: float = math.inf,
) -> tuple[torch.Tensor, bool]:
    """Per class, one perturbation of at most `eps` of the value range (L-inf), found by PGD."""
    bound = eps * (hi - lo)
    delta = torch.zeros((len(classes), *x.shape[1:]), dtype=x.dtype, requires_grad=True)
    for step in range(steps):
        if time.perf_counter() > deadline:
            return delta.detach(), False
        idx = _batch(len(x), step, 7)
        xb, yb = x[idx], y[idx]
        stamped = torch.minimum(torch.maximum(xb[None] + delta[:, None], lo), hi)
        logits = module(stamped.reshape(-1, *x.shape[1:]))
        target, weight = _targets(classes, yb)
        ce = torch.nn.functional.cross_entropy(logits, target, reduction="none")
        loss = (ce * weight.reshape(-1)).sum() / weight.sum().clamp_min(1)
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            delta -= bound * 0.125 * grad.sign()
            delta.copy_(torch.maximum(torch.minimum(delta, bound), -bound))
    return delta.detach(), True
