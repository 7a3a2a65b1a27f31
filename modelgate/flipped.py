"""Every flipped canary of a run, kept as columns: a million flips cost arrays, not objects.

`FlippedCanaries` is the `GateResult.flips` sequence. It behaves like a tuple of `CanaryFlip`
sorted by canary id (each built on demand), and gives the reports what they need at any size
without building them all: the most alarming flips first (`ranked`), the flips with a tag
(`tagged`), and each flip as a line of JSON (`json_rows`).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

from modelgate.result import CanaryFlip, FlipKind

KINDS = (FlipKind.NEGATIVE, FlipKind.POSITIVE, FlipKind.OTHER)  # by code
_RANK = np.array([0, 2, 1])  # code -> rank order: negative, other, positive (as rank_flips)
# Printable ASCII without `"` and `\`: JSON as is. `\Z`, not `$`, which also matches before a
# final newline (an id "a\n" would be written raw: invalid JSON).
_PLAIN = re.compile(r"^[ -!#-\[\]-~]*\Z")


def _json_text(value: str) -> str:
    """`value` as the JSON report writes it (json.dumps with ensure_ascii=False)."""
    return f'"{value}"' if _PLAIN.match(value) else json.dumps(value, ensure_ascii=False)


def plain_text(values: list[str]) -> bool:
    """Whether every value is JSON text as it stands (printable ASCII, no quote or backslash)."""
    return _PLAIN.match("".join(values)) is not None


class _TagText(dict[tuple[str, ...], str]):
    """A tag set's JSON text, made once per distinct set (a suite has few)."""

    def __missing__(self, key: tuple[str, ...]) -> str:
        text = self[key] = json.dumps(list(key), ensure_ascii=False)
        return text


def numbers(values: np.ndarray) -> list[str]:
    """Floats as JSON writes them (repr), -0.0 as 0.0, NaN and infinities as null."""
    texts = [repr(v) for v in (values.astype(np.float64) + 0.0).tolist()]
    if not np.isfinite(values).all():
        texts = [t if math.isfinite(float(t)) else "null" for t in texts]
    return texts


class FlippedCanaries(Sequence[CanaryFlip]):
    """The flipped canaries in id order, as columns over the suite."""

    def __init__(
        self,
        ids: Sequence[str],
        tags: Sequence[tuple[str, ...]],
        classes: Sequence[str],
        index: np.ndarray,
        truth: np.ndarray,
        baseline: np.ndarray,
        candidate: np.ndarray,
        kind: np.ndarray,
        baseline_margin: np.ndarray,
        candidate_margin: np.ndarray,
        waivers: dict[int, str],
    ) -> None:
        self._ids, self._tags, self._classes = ids, tags, tuple(classes)
        self.positions = index  # suite positions, in id order
        self._truth, self._base, self._cand = truth, baseline, candidate
        self._kind = kind
        self._base_margin, self._cand_margin = baseline_margin, candidate_margin
        self._waivers = waivers  # suite position -> "reason (approver)"
        self._ranking: np.ndarray | None = None  # `ranked`'s order, once asked for

    @classmethod
    def from_masks(
        cls,
        *,
        ids: Sequence[str],
        tags: Sequence[tuple[str, ...]],
        classes: Sequence[str],
        order: np.ndarray,
        truth: np.ndarray,
        baseline: np.ndarray,
        candidate: np.ndarray,
        negative: np.ndarray,
        positive: np.ndarray,
        margins: tuple[np.ndarray, np.ndarray],
        waivers: dict[int, str],
    ) -> FlippedCanaries:
        """Every canary whose label changed, from the suite's id `order` and the flip masks."""
        changed = baseline != candidate  # every flip, whichever kind
        index = order[changed[order]]
        kind = np.where(negative[index], 0, np.where(positive[index], 1, 2)).astype(np.int8)
        base_m = np.round(margins[0][index].astype(np.float64), 4)
        cand_m = np.round(margins[1][index].astype(np.float64), 4)
        return cls(
            ids, tags, classes, index, truth[index], baseline[index], candidate[index], kind,
            base_m, cand_m, {int(i): w for i, w in waivers.items()},
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.positions)

    @overload
    def __getitem__(self, item: int) -> CanaryFlip: ...

    @overload
    def __getitem__(self, item: slice) -> tuple[CanaryFlip, ...]: ...

    def __getitem__(self, item: int | slice) -> CanaryFlip | tuple[CanaryFlip, ...]:
        if isinstance(item, slice):
            return tuple(self._flip(j) for j in range(len(self))[item])
        j = range(len(self))[item]  # IndexError and negative indices as a tuple has them
        return self._flip(j)

    def __iter__(self) -> Iterator[CanaryFlip]:
        return (self._flip(j) for j in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"FlippedCanaries({len(self)} flips)"

    def _flip(self, j: int) -> CanaryFlip:
        i = int(self.positions[j])
        c = self._classes
        return CanaryFlip(
            id=self._ids[i],
            label=c[self._truth[j]],
            baseline=c[self._base[j]],
            candidate=c[self._cand[j]],
            kind=KINDS[self._kind[j]],
            baseline_margin=float(self._base_margin[j]),
            candidate_margin=float(self._cand_margin[j]),
            tags=self._tags[i],
            waiver=self._waivers.get(i),
        )

    def _subset(self, keep: np.ndarray) -> FlippedCanaries:
        return FlippedCanaries(
            self._ids, self._tags, self._classes, self.positions[keep], self._truth[keep],
            self._base[keep], self._cand[keep], self._kind[keep], self._base_margin[keep],
            self._cand_margin[keep], self._waivers,
        )  # fmt: skip

    def tagged(self, tag: str) -> FlippedCanaries:
        """The flips of canaries carrying `tag`."""
        tags = list(map(self._tags.__getitem__, self.positions.tolist()))
        carries = {t: tag in t for t in set(tags)}  # a suite has few distinct tag sets
        keep = np.fromiter(map(carries.__getitem__, tags), bool, len(self))
        return self._subset(keep)

    def lookup(self, wanted: set[str]) -> dict[str, CanaryFlip]:
        """The flips of these canary ids, by id."""
        return {
            self._ids[i]: self._flip(j)
            for j, i in enumerate(self.positions.tolist())
            if self._ids[i] in wanted
        }

    def ranked(self, limit: int | None = None) -> list[CanaryFlip]:
        """Most alarming first: unexplained, then right->wrong, then confident ones; id breaks
        ties (the order of `report.markdown.rank_flips`)."""
        if self._ranking is None:  # sorted once: the console and the Markdown both ask
            waived = np.zeros(len(self), dtype=bool)
            if self._waivers:
                at = self.positions.tolist()
                waived = np.fromiter((i in self._waivers for i in at), bool, len(self))
            margin = np.where(np.isfinite(self._base_margin), self._base_margin, 0.0)
            self._ranking = np.lexsort((np.arange(len(self)), -margin, _RANK[self._kind], waived))
        return [self._flip(int(j)) for j in self._ranking[:limit]]

    def json_rows(self, chunk: int = 16_384) -> Iterator[str]:
        """Each flip as one JSON object (sorted keys), the report's `flips` entries; built a
        chunk at a time, column by column."""
        return itertools.chain.from_iterable(self.json_chunks(chunk))

    def json_chunks(self, chunk: int = 16_384) -> Iterator[list[str]]:
        """`json_rows` in lists of up to `chunk` rows: one step of this generator per chunk,
        not per flip (a million steps cost more than formatting the rows)."""
        c = [_json_text(name) for name in self._classes]
        kinds = [f'"{k.value}"' for k in KINDS]
        tag_text = _TagText()
        for a in range(0, len(self), chunk):
            at = self.positions[a : a + chunk].tolist()
            ids = list(map(self._ids.__getitem__, at))
            canary = [f'"{x}"' for x in ids] if plain_text(ids) else [_json_text(x) for x in ids]
            tags = list(map(tag_text.__getitem__, map(self._tags.__getitem__, at)))
            waivers = [self._waivers.get(i) for i in at] if self._waivers else [None] * len(at)
            waiver = ["null" if w is None else json.dumps(w, ensure_ascii=False) for w in waivers]
            columns = zip(
                [c[b] for b in self._base[a : a + chunk].tolist()],
                numbers(self._base_margin[a : a + chunk]),
                [c[k] for k in self._cand[a : a + chunk].tolist()],
                numbers(self._cand_margin[a : a + chunk]),
                canary,
                [kinds[k] for k in self._kind[a : a + chunk].tolist()],
                [c[t] for t in self._truth[a : a + chunk].tolist()],
                tags,
                waiver,
            )
            yield [
                f'{{"baseline": {b}, "baseline_margin": {bm}, "candidate": {k}, '
                f'"candidate_margin": {cm}, "id": {i}, "kind": {kind}, "label": {t}, '
                f'"tags": {tag}, "waiver": {w}}}'
                for b, bm, k, cm, i, kind, t, tag, w in columns
            ]

    def json_value(self) -> list[dict[str, Any]]:
        """The same entries as plain data (for a caller that wants objects, not text)."""
        return [json.loads(row) for row in self.json_rows()]
