"""Trigger inversion for text models, in embedding space: per class, the fewest tokens that,
inserted at the start of canaries of other classes, send them to it.

A relaxed token search in the spirit of DBS (Shen et al., 2022) and T-Miner: each trigger
position is a softmax over the vocabulary whose expected embedding is fed to the model; its
temperature is annealed towards a one-hot choice, then the best candidates per position are
tried as real tokens. One, two, then three tokens; a class's size is the first length whose
real tokens move `SUCCESS` of the search canaries, or `MAX_TOKENS + 1` when none does (a
censored size, so a planted one-token trigger still compares with a clean model's "more than
three"). Confirmed on held-out canaries next to random tokens of the same length (the control).
Sized by counts only (steps, tokens, candidates, canaries), seeded: the same on any machine.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from modelgate.probes.invert import SUCCESS, split_halves
from modelgate.probes.results import Inversion

MAX_TOKENS = 3
CANDIDATES = 5  # real tokens tried per position after the relaxed search
MAX_CANARIES = 400  # evenly spaced canaries the search and the confirmation use
SEARCH_BATCH = 64
_LR = 0.3


def invert_text(
    predictor: Any,
    suite: Any,
    predictions: Any,
    steps: int,
    classes: tuple[int, ...] = (),
    canaries: int = MAX_CANARIES,
) -> Inversion:
    """The text inversion of `predictor.text` on the canaries the model gets right; `classes`
    are the classes to search, in order (default: all)."""
    n = len(suite)
    subset = np.unique(np.linspace(0, n - 1, min(n, canaries)).astype(np.int64))
    index = subset[predictions.labels[subset] == suite.labels[subset]]
    texts = [suite.inputs[int(i)] for i in index]
    return search(predictor.text, texts, suite.labels[index], len(suite.classes), steps, classes)


def search(
    box: Any,
    texts: list[str],
    labels: np.ndarray,
    n_classes: int,
    steps: int,
    classes: tuple[int, ...] = (),
    seed: int = 0,
) -> Inversion:
    started = time.perf_counter()
    module = getattr(box, "model", None)
    frozen = [(p, p.requires_grad) for p in module.parameters()] if module is not None else []
    for p, _ in frozen:
        p.requires_grad_(False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many small steps; and the same float reductions on any machine
    try:
        return _search(box, texts, labels, n_classes, steps, classes, seed, started)
    finally:
        torch.set_num_threads(threads)
        for p, flag in frozen:
            p.requires_grad_(flag)


def _search(
    box: Any,
    texts: list[str],
    labels: np.ndarray,
    k: int,
    steps: int,
    classes: tuple[int, ...],
    seed: int,
    started: float,
) -> Inversion:
    embeddings = box.embeddings().detach()
    vocab = embeddings.shape[0]
    banned = torch.zeros(vocab)
    banned[list(box.special_ids)] = -1e9
    allowed = np.flatnonzero(banned.numpy() == 0)
    search_idx, held_idx = split_halves(len(texts))
    y = np.asarray(labels, dtype=np.int64)
    order = list(dict.fromkeys(classes)) if classes else list(range(k))
    norms = np.full(k, np.nan)
    confirm = np.full(k, -1, dtype=np.int64)
    control = np.full(k, -1, dtype=np.int64)
    held_n = np.array([int((y[held_idx] != t).sum()) for t in range(k)], dtype=np.int64)
    patterns = np.full((k, MAX_TOKENS), -1.0, dtype=np.float32)
    rng = np.random.default_rng(seed + 1)
    for t in order:
        search_t = [texts[i] for i in search_idx if y[i] != t][:SEARCH_BATCH]
        held_t = [texts[i] for i in held_idx if y[i] != t]
        controls = rng.choice(allowed, size=MAX_TOKENS)  # drawn for every class: seed-stable
        if not search_t:
            continue
        ids, mask = box.encode(search_t)
        best: list[int] = []
        norms[t] = MAX_TOKENS + 1
        for length in range(1, MAX_TOKENS + 1):
            relaxed = _relaxed(box, embeddings, banned, ids, mask, t, length, steps, seed + t)
            tokens, rate = _discrete(box, embeddings, ids, mask, t, relaxed, banned)
            best = tokens
            if rate >= SUCCESS:
                norms[t] = length
                break
        patterns[t, : len(best)] = best
        if held_t:
            held_ids, held_mask = box.encode(held_t)
            confirm[t] = _hits(box, embeddings, held_ids, held_mask, t, best)
            control[t] = _hits(box, embeddings, held_ids, held_mask, t, list(controls[: len(best)]))
    return Inversion(
        classes=tuple(order),
        norms=norms,
        confirm_hits=confirm,
        control_hits=control,
        held_out=held_n,
        universal_hits=np.full(k, -1, dtype=np.int64),  # no universal search for text
        masks=np.zeros((k, MAX_TOKENS), dtype=np.float32),
        patterns=patterns,
        seconds=time.perf_counter() - started,
        complete=True,
    )


def _with_trigger(
    embeds: torch.Tensor, mask: torch.Tensor, trigger: torch.Tensor, prefix: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T + L, D) embeddings with the (L, D) trigger after the first `prefix` tokens."""
    b, length = embeds.shape[0], trigger.shape[0]
    stamped = torch.cat(
        [embeds[:, :prefix], trigger.unsqueeze(0).expand(b, -1, -1), embeds[:, prefix:]], dim=1
    )
    ones = torch.ones((b, length), dtype=mask.dtype)
    return stamped, torch.cat([mask[:, :prefix], ones, mask[:, prefix:]], dim=1)


def _relaxed(
    box: Any,
    embeddings: torch.Tensor,
    banned: torch.Tensor,
    ids: torch.Tensor,
    mask: torch.Tensor,
    target: int,
    length: int,
    steps: int,
    seed: int,
) -> torch.Tensor:
    """(L, V) logits of the token distribution per position after the annealed search."""
    g = torch.Generator().manual_seed(seed * 7919 + length)
    theta = (torch.randn((length, embeddings.shape[0]), generator=g) * 0.01).requires_grad_(True)
    optimizer = torch.optim.Adam([theta], lr=_LR)
    base = embeddings[ids]
    goal = torch.full((ids.shape[0],), target, dtype=torch.long)
    for step in range(steps):
        temperature = max(0.1, 1.0 - step / max(steps - 1, 1))
        weights = torch.softmax((theta + banned) / temperature, dim=-1)
        stamped, stamped_mask = _with_trigger(base, mask, weights @ embeddings, box.prefix)
        loss = torch.nn.functional.cross_entropy(box.logits(stamped, stamped_mask), goal)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (theta + banned).detach()


def _rate(
    box: Any,
    embeddings: torch.Tensor,
    ids: torch.Tensor,
    mask: torch.Tensor,
    t: int,
    tokens: list[int],
) -> float:
    return _hits(box, embeddings, ids, mask, t, tokens) / max(len(ids), 1)


def _hits(
    box: Any,
    embeddings: torch.Tensor,
    ids: torch.Tensor,
    mask: torch.Tensor,
    t: int,
    tokens: list[int],
) -> int:
    with torch.no_grad():
        trigger = embeddings[torch.as_tensor(tokens, dtype=torch.long)]
        stamped, stamped_mask = _with_trigger(embeddings[ids], mask, trigger, box.prefix)
        pred = box.logits(stamped, stamped_mask).argmax(1)
    return int((pred == t).sum())


def _discrete(
    box: Any,
    embeddings: torch.Tensor,
    ids: torch.Tensor,
    mask: torch.Tensor,
    t: int,
    relaxed: torch.Tensor,
    banned: torch.Tensor,
) -> tuple[list[int], float]:
    """The relaxed choice made real: each position in turn takes the best of its top
    candidates (by attack success on the search canaries; ties to the lower token id)."""
    top = torch.topk(relaxed, k=min(CANDIDATES, int((banned == 0).sum())), dim=-1).indices
    tokens = [int(v) for v in top[:, 0]]
    rate = _rate(box, embeddings, ids, mask, t, tokens)
    for position in range(len(tokens)):
        for candidate in sorted(int(v) for v in top[position]):
            trial = [*tokens[:position], candidate, *tokens[position + 1 :]]
            trial_rate = _rate(box, embeddings, ids, mask, t, trial)
            if trial_rate > rate:
                tokens, rate = trial, trial_rate
    return tokens, rate
