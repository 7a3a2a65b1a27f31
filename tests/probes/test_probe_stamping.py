"""Stamping geometry: where patches land, what blends and insertions do, in every layout."""

from __future__ import annotations

import numpy as np
import pytest

from modelgate.probe_settings import BlendProbe, FeatureProbe, PatchProbe, TokenProbe
from modelgate.probes import image, tabular, text


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ("top-left", (0, 0)),
        ("top", (0, 2)),
        ("top-right", (0, 5)),
        ("left", (2, 0)),
        ("centre", (2, 2)),
        ("right", (2, 5)),
        ("bottom-left", (5, 0)),
        ("bottom", (5, 2)),
        ("bottom-right", (5, 5)),
    ],
)
def test_patch_origin_on_an_8x8_image(position: str, expected: tuple[int, int]) -> None:
    assert image.origin(position, 3, 8, 8) == expected


def _one(probes: list, name: str):  # type: ignore[no-untyped-def]
    return next(p for p in probes if p.name == name)


def test_a_patch_changes_exactly_its_pixels() -> None:
    probes = image.patch_probes(PatchProbe(kind="patch"), (1, 8, 8), 0.0, 1.0)
    batch = np.full((2, 1, 8, 8), 0.5, dtype=np.float32)
    out = _one(probes, "patch/3x3/bottom-right/white").apply(batch)
    changed = out != batch
    assert changed[:, 0, 5:, 5:].all() and changed.sum() == 2 * 9
    assert (out[:, 0, 5:, 5:] == 1.0).all() and out.dtype == batch.dtype
    checker = _one(probes, "patch/2x2/top-left/checker").apply(batch)[0, 0, :2, :2]
    assert checker.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert (batch == 0.5).all()  # the input batch is never modified


def test_layouts_stamp_the_same_spatial_pixels() -> None:
    rng = np.random.default_rng(0)
    chw = rng.uniform(0, 1, size=(2, 3, 8, 8)).astype(np.float32)
    hwc = np.moveaxis(chw, 1, -1).copy()
    spec = PatchProbe(kind="patch", sizes=[2], positions=["top-right"], patterns=["random"])
    a = image.patch_probes(spec, (3, 8, 8), 0.0, 1.0)[0].apply(chw)
    b = image.patch_probes(spec, (8, 8, 3), 0.0, 1.0)[0].apply(hwc)
    np.testing.assert_array_equal(np.moveaxis(a, 1, -1), b)
    gray = image.patch_probes(spec, (8, 8), 0.0, 1.0)[0].apply(chw[:, 0])
    assert (gray[:, :2, 6:] != chw[:, 0, :2, 6:]).any() and (gray[:, 2:] == chw[:, 0, 2:]).all()


def test_every_probe_has_a_control_group_of_the_same_size() -> None:
    probes = image.patch_probes(PatchProbe(kind="patch"), (1, 8, 8), 0.0, 1.0)
    probes += image.blend_probes(BlendProbe(kind="blend"), (1, 8, 8), 0.0, 1.0)
    names = {p.name for p in probes}
    assert len(names) == len(probes)
    for p in probes:
        if not p.is_control:
            assert any(n.startswith(p.control + "/") for n in names), p.name
    assert {"2x2", "3x3"} == {p.name.split("/")[1] for p in probes if p.name.startswith("patch/")}


def test_blend_mixes_at_alpha() -> None:
    probes = image.blend_probes(BlendProbe(kind="blend", alphas=[0.2]), (1, 8, 8), 0.0, 1.0)
    noise = _one(probes, "blend/noise/0.2")
    zeros = np.zeros((1, 1, 8, 8), dtype=np.float32)
    pattern = image.blend_pattern("noise", (1, 8, 8), 0.0, 1.0, seed=0)
    np.testing.assert_allclose(noise.apply(zeros)[0], 0.2 * pattern, rtol=1e-6)


@pytest.mark.parametrize(
    ("position", "expected"),
    [("start", "cf a b c d"), ("middle", "a b cf c d"), ("end", "a b c d cf")],
)
def test_token_insertion_positions(position: str, expected: str) -> None:
    assert text.insert("a b c d", "cf", position) == expected


def test_text_controls_do_not_depend_on_the_batch() -> None:
    texts = ["the cat sat", "a dog ran far", "birds fly"]
    probes = text.token_probes(
        TokenProbe(kind="token"), texts, [0] * len(texts), score=None, folder=None
    )
    control = next(p for p in probes if p.is_control)
    whole = control.apply(texts)
    assert [control.apply([t])[0] for t in reversed(texts)] == list(reversed(whole))
    assert all(len(w.split()) == len(t.split()) + 1 for w, t in zip(whole, texts))


def test_vocabulary_sweep_comes_from_the_model() -> None:
    def score(batch):  # type: ignore[no-untyped-def]
        return np.zeros((len(batch), 2))

    score.vocabulary = ["common", "zorblax"]  # type: ignore[attr-defined]
    probes = text.token_probes(TokenProbe(kind="token"), ["x y"], [0], score=score, folder=None)
    assert "word/zorblax/start" in {p.name for p in probes}


def test_feature_probes_and_pairs_use_the_suite_range() -> None:
    x = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0]], dtype=np.float32)
    probes = tabular.feature_probes(FeatureProbe(kind="feature"), x)
    above = _one(probes, "feature/1/above").apply(x)
    assert (above[:, 1] == 35.0).all() and (above[:, 0] == x[:, 0]).all()  # 30 + 0.25 * 20
    pair = _one(probes, "feature/0/max+feature/1/min").apply(x)
    assert (pair[:, 0] == 2.0).all() and (pair[:, 1] == 10.0).all()
    control = _one(probes, "control/feature/0/101")
    one_by_one = np.concatenate([control.apply(x[i : i + 1]) for i in range(3)])
    np.testing.assert_array_equal(control.apply(x), one_by_one)
    singles = tabular.feature_probes(FeatureProbe(kind="feature", pairs=1), x)
    assert singles and not any("+" in p.name for p in singles)
