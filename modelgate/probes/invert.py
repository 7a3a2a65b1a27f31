"""Trigger inversion for torch models: per class, the smallest mask + pattern that sends canaries
of other classes to it (Neural Cleanse, Wang et al. 2019), and a universal perturbation.

The search is sized by counts only (steps, canaries per step, classes), so it does the same work
on any machine. Classes are searched in groups, one batched forward pass per step for a whole
group, with Neural Cleanse's adaptive cost per class; each class starts from its own seed and
stops on its own (once its trigger stopped shrinking in the second half of the schedule), so a
class's result does not depend on which classes share its group. Groups run side by side, one
per core torch was given, each on one thread: the floats are those of one group after another
(the groups' composition is set by memory, never by the core count). The search runs on half of the
eligible canaries; the recovered trigger is then confirmed on the other half, next to the same
mask filled with a random pattern (the control). A wall-clock limit can only abort the search.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from modelgate.heap import keep_freed_memory
from modelgate.probes.results import Inversion

SUCCESS = 0.9  # attack success a recovered trigger must reach on the search half
_PATIENCE = 5
_STALL = _PATIENCE * 8  # steps without a 1% shrink after which a class stops (second half)
_LR = 0.1


class SearchAborted(Exception):
    """The wall-clock limit passed: the search stopped, and nothing may be decided from it."""

    def __init__(self, limit_s: float, done: int, total: int) -> None:
        super().__init__(f"stopped after {limit_s:g} s with {done} of {total} classes searched")
        self.limit_s = limit_s
        self.done = done
        self.total = total


class NotDifferentiable(Exception):
    """The model's scores carry no gradient to its input, so there is nothing to search."""


@dataclass(frozen=True)
class Schedule:
    """The counts of one search, and the memory-derived group sizes (classes per pass, rows per
    confirmation call); `limit_s` only aborts."""

    steps: int
    batch: int = 64
    universal_steps: int = 50
    group: int = 16
    rows: int = 1024
    limit_s: float | None = None
    seed: int = 0


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
    schedule: Schedule,
    classes: Sequence[int] | None = None,
    universal_eps: float = 0.1,
    progress: Callable[[int, int], None] | None = None,
) -> Inversion:
    """Search `classes` (default: every class) with exactly the work `schedule` counts;
    `progress(done, total)` after each pass over a group of classes."""
    started = time.monotonic()
    keep_freed_memory()  # thousands of same-sized steps: reuse their pages
    module.eval()
    frozen = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in frozen:
        p.requires_grad_(False)
    # One thread: the search is many small steps (thread hand-offs cost more than they save),
    # and its float reductions, hence the recovered triggers, then do not depend on the machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        chosen = list(range(n_classes)) if classes is None else list(classes)
        return _invert(
            module, inputs, labels, n_classes, bounds, channel_axis, schedule, chosen,
            universal_eps, started, progress, threads,
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
        for p, flag in frozen:
            p.requires_grad_(flag)


def _device(module: torch.nn.Module) -> torch.device:
    from modelgate.devices import module_device

    return torch.device(module_device(module))


def _invert(
    module: torch.nn.Module,
    inputs: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    bounds: tuple[np.ndarray, np.ndarray],
    channel_axis: int | None,
    schedule: Schedule,
    chosen: list[int],
    universal_eps: float,
    started: float,
    progress: Callable[[int, int], None] | None,
    cores: int,
) -> Inversion:
    device = _device(module)
    x = torch.as_tensor(np.array(inputs)).to(device)  # a copy: the suite may be a memmap
    dtype = x.dtype
    _refuse_undifferentiable(module, x[:2])
    y = torch.as_tensor(labels, dtype=torch.long).to(device)
    search, held = split_halves(len(x))
    xs, ys, xh, yh = x[search], y[search], x[held], y[held]
    lo = torch.as_tensor(np.broadcast_to(bounds[0], x.shape[1:]).copy()).to(device, dtype)
    hi = torch.as_tensor(np.broadcast_to(bounds[1], x.shape[1:]).copy()).to(device, dtype)
    shape_m = mask_shape(tuple(x.shape[1:]), channel_axis)
    deadline = math.inf if schedule.limit_s is None else started + schedule.limit_s
    k = n_classes
    out_norms = np.full(k, np.nan)
    confirm = np.full(k, -1, dtype=np.int64)
    control = np.full(k, -1, dtype=np.int64)
    universal_hits = np.full(k, -1, dtype=np.int64)
    held_n = np.array([int((yh != t).sum()) for t in range(k)], dtype=np.int64)
    all_masks = np.zeros((k, *shape_m), dtype=np.float32)
    all_patterns = np.zeros((k, *x.shape[1:]), dtype=np.float32)
    group = max(1, schedule.group)
    parts = [(first, chosen[first : first + group]) for first in range(0, len(chosen), group)]

    def search_group(first: int, part: list[int]) -> tuple[np.ndarray, ...]:
        """One group's search and confirmation; it touches nothing another group reads."""

        def on_time() -> None:
            if time.monotonic() > deadline:
                assert schedule.limit_s is not None
                raise SearchAborted(schedule.limit_s, first, len(chosen))

        masks, patterns, norms = _neural_cleanse(
            module, xs, ys, part, shape_m, lo, hi, schedule, on_time
        )
        found = np.full((3, len(part)), -1, dtype=np.int64)  # confirm, control, universal
        with torch.no_grad():
            for j, t in enumerate(part):
                rng = torch.Generator().manual_seed(schedule.seed * 1_000_003 + 7919 * t + 1)
                noise = torch.rand(x.shape[1:], generator=rng, dtype=torch.float64)
                noise = lo + (hi - lo) * noise.to(device, dtype)
                found[0, j] = _hits(module, xh, yh, t, masks[j], patterns[j], schedule.rows)
                found[1, j] = _hits(module, xh, yh, t, masks[j], noise, schedule.rows)
        if schedule.universal_steps:
            deltas = _universal(module, xs, ys, part, lo, hi, schedule, universal_eps, on_time)
            with torch.no_grad():
                for j, t in enumerate(part):
                    found[2, j] = _moved(module, xh, yh, t, deltas[j], lo, hi, schedule.rows)
        return masks.float().cpu().numpy(), patterns.float().cpu().numpy(), norms, found

    # Groups are independent and each runs single-threaded, so running several at once (one
    # per core torch had) gives bit for bit what running them one after another gives.
    with ThreadPoolExecutor(max_workers=_workers(module, device, len(parts), cores)) as pool:
        done = [pool.submit(search_group, first, part) for first, part in parts]
        for (first, part), future in zip(parts, done):
            masks, patterns, norms, found = future.result()
            for j, t in enumerate(part):
                out_norms[t] = norms[j]
                all_masks[t] = masks[j]
                all_patterns[t] = patterns[j]
                confirm[t], control[t], universal_hits[t] = found[:, j]
            if progress is not None:  # in class order, whichever group finished first
                progress(first + len(part), len(chosen))
    return Inversion(
        classes=tuple(chosen),
        norms=out_norms,
        confirm_hits=confirm,
        control_hits=control,
        held_out=held_n,
        universal_hits=universal_hits,
        masks=all_masks,
        patterns=all_patterns,
        seconds=time.monotonic() - started,
    )


def _refuse_undifferentiable(module: torch.nn.Module, sample: torch.Tensor) -> None:
    """One forward and backward pass before the search, as the search makes them: a model that
    detaches its scores, returns integers or edits a tensor autograd needs would otherwise end
    the run with autograd's own error deep inside the search."""
    probe = sample.detach().clone().requires_grad_(True)
    try:
        scores = module(probe)
        if not isinstance(scores, torch.Tensor) or not scores.is_floating_point():
            kind = scores.dtype if isinstance(scores, torch.Tensor) else type(scores).__name__
            raise NotDifferentiable(f"its scores are {kind}, not floating-point")
        if not scores.requires_grad:
            raise NotDifferentiable("its scores do not depend on its input through torch")
        target = torch.zeros(len(scores), dtype=torch.long, device=scores.device)
        torch.nn.functional.cross_entropy(scores, target).backward()
    except NotDifferentiable:
        raise
    except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise NotDifferentiable(f"its backward pass fails ({first})") from None
    if probe.grad is None:
        raise NotDifferentiable("its scores do not depend on its input through torch")


def _workers(module: torch.nn.Module, device: torch.device, groups: int, cores: int) -> int:
    """Groups searched at once: one per core torch was given, for an in-process CPU module
    (a sandboxed model answers over one pipe, one call at a time)."""
    from modelgate.models.remote_torch import RemoteModule

    if device.type != "cpu" or isinstance(module, RemoteModule):
        return 1
    return max(1, min(groups, cores))


def _predicted(module: torch.nn.Module, stamped: torch.Tensor) -> torch.Tensor:
    return module(stamped).argmax(1)


def _hits(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    t: int,
    mask: torch.Tensor,
    pattern: torch.Tensor,
    rows: int,
) -> int:
    total = 0
    for s in range(0, len(x), rows):
        xb, yb = x[s : s + rows], y[s : s + rows]
        pred = _predicted(module, (1 - mask) * xb + mask * pattern)
        total += int(((pred == t) & (yb != t)).sum())
    return total


def _moved(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    t: int,
    delta: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    rows: int,
) -> int:
    total = 0
    for s in range(0, len(x), rows):
        xb, yb = x[s : s + rows], y[s : s + rows]
        pred = _predicted(module, torch.minimum(torch.maximum(xb + delta, lo), hi))
        total += int(((pred == t) & (yb != t)).sum())
    return total


def _stamp_all(x: torch.Tensor, masks: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    """(T, B, ...) stamped copies of a batch, one per class, flattened to (T * B, ...)."""
    stamped = (1 - masks[:, None]) * x[None] + masks[:, None] * patterns[:, None]
    return stamped.reshape(-1, *x.shape[1:])


def _batch(n: int, step: int, seed: int, size: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 100_003 + step)
    return torch.randperm(n, generator=g)[: min(size, n)]


def _targets(classes: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    t = classes[:, None].expand(-1, len(y))
    weight = (y[None, :] != t).to(torch.float32)  # a canary of class t says nothing about t
    return t.reshape(-1), weight


def _start(
    classes: list[int], shape_m: tuple[int, ...], shape_x: tuple[int, ...], seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each class's starting mask and pattern logits, from a seed of its own."""
    masks, patterns = [], []
    for t in classes:
        g = torch.Generator().manual_seed(seed * 1_000_003 + 7919 * t)
        masks.append(torch.rand(shape_m, generator=g, dtype=torch.float64) * 0.2 - 3.0)
        patterns.append(torch.randn(shape_x, generator=g, dtype=torch.float64) * 0.1)
    return torch.stack(masks), torch.stack(patterns)


def _neural_cleanse(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    classes: list[int],
    shape_m: tuple[int, ...],
    lo: torch.Tensor,
    hi: torch.Tensor,
    schedule: Schedule,
    on_time: Callable[[], None],
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(masks, patterns, L1 norms) of the smallest successful trigger per class."""
    n_t, steps = len(classes), schedule.steps
    dev, dtype = x.device, x.dtype
    mask0, pattern0 = _start(classes, shape_m, tuple(x.shape[1:]), schedule.seed)
    mask_logit = mask0.to(dev, dtype).requires_grad_(True)
    pattern_logit = pattern0.to(dev, dtype).requires_grad_(True)
    optimizer = torch.optim.Adam([mask_logit, pattern_logit], lr=_LR, betas=(0.5, 0.9))
    cls = torch.tensor(classes, dtype=torch.long, device=dev)
    cost = torch.zeros(n_t, device=dev)
    base_cost = 1.0 / float(np.prod(shape_m))
    up = torch.zeros(n_t, device=dev)
    down = torch.zeros(n_t, device=dev)
    best_norm = torch.full((n_t,), float("inf"), device=dev)
    stale = torch.zeros(n_t, device=dev)  # steps since the best trigger last shrank by 1%
    best_mask = torch.sigmoid(mask_logit.detach()).clone()
    best_pattern = (lo + (hi - lo) * torch.sigmoid(pattern_logit.detach())).clone()
    active = torch.ones(n_t, dtype=torch.bool, device=dev)
    for step in range(steps):
        if step >= steps // 2:
            # A class whose trigger stopped shrinking is done; the decision depends only on
            # its own trajectory, never on the clock or on the other classes.
            active &= stale < _STALL
            if not bool(active.any()):
                break
        on_time()
        rows = torch.nonzero(active).squeeze(1)
        idx = _batch(len(x), step, schedule.seed, schedule.batch).to(dev)
        xb, yb = x[idx], y[idx]
        mask = torch.sigmoid(mask_logit[rows])
        pattern = lo + (hi - lo) * torch.sigmoid(pattern_logit[rows])
        logits = module(_stamp_all(xb, mask, pattern))
        target, weight = _targets(cls[rows], yb)
        ce = torch.nn.functional.cross_entropy(logits, target, reduction="none").view(len(rows), -1)
        ce = (ce * weight).sum(1) / weight.sum(1).clamp_min(1)
        l1 = mask.reshape(len(rows), -1).sum(1)
        loss = (ce + cost[rows] * l1).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            hit = (logits.argmax(1) == target).to(torch.float32).view(len(rows), -1)
            success = (hit * weight).sum(1) / weight.sum(1).clamp_min(1)
            ran = torch.zeros(n_t, dtype=torch.bool, device=dev)
            ran[rows] = True
            ok = torch.zeros(n_t, dtype=torch.bool, device=dev)
            ok[rows] = success >= SUCCESS
            size = torch.full((n_t,), float("inf"), device=dev)
            size[rows] = l1.detach().float()
            better = ok & (size < best_norm)
            shrank = ok & (size < best_norm * 0.99)
            stale = torch.where(ran, torch.where(shrank, torch.zeros_like(stale), stale + 1), stale)
            best_norm = torch.where(better, size, best_norm)
            pick = better[rows]
            best_mask[rows[pick]] = mask[pick].detach()
            best_pattern[rows[pick]] = pattern[pick].detach()
            # Neural Cleanse's schedule: raise the size cost while the trigger works.
            cost = torch.where(ran & (cost == 0) & ok, torch.full_like(cost, base_cost), cost)
            up = torch.where(ran, torch.where(ok, up + 1, torch.zeros_like(up)), up)
            down = torch.where(ran, torch.where(ok, torch.zeros_like(down), down + 1), down)
            cost = torch.where(up >= _PATIENCE, cost * 1.5, cost)
            cost = torch.where(down >= _PATIENCE, cost / 1.5**1.5, cost)
            up = torch.where(up >= _PATIENCE, torch.zeros_like(up), up)
            down = torch.where(down >= _PATIENCE, torch.zeros_like(down), down)
    return best_mask, best_pattern, best_norm.cpu().numpy().astype(np.float64)


def _universal(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    classes: list[int],
    lo: torch.Tensor,
    hi: torch.Tensor,
    schedule: Schedule,
    eps: float,
    on_time: Callable[[], None],
) -> torch.Tensor:
    """Per class, one perturbation of at most `eps` of the value range (L-inf), found by PGD."""
    bound = eps * (hi - lo)
    cls = torch.tensor(classes, dtype=torch.long, device=x.device)
    delta = torch.zeros((len(classes), *x.shape[1:]), dtype=x.dtype, device=x.device)
    delta.requires_grad_(True)
    for step in range(schedule.universal_steps):
        on_time()
        idx = _batch(len(x), step, 7, schedule.batch).to(x.device)
        xb, yb = x[idx], y[idx]
        stamped = torch.minimum(torch.maximum(xb[None] + delta[:, None], lo), hi)
        logits = module(stamped.reshape(-1, *x.shape[1:]))
        target, weight = _targets(cls, yb)
        ce = torch.nn.functional.cross_entropy(logits, target, reduction="none").view(
            len(classes), -1
        )
        # Per class, so that a class's step (the sign of its gradient) is its own.
        loss = ((ce * weight).sum(1) / weight.sum(1).clamp_min(1)).sum()
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            delta -= bound * 0.125 * grad.sign()
            delta.copy_(torch.maximum(torch.minimum(delta, bound), -bound))
    return delta.detach()
