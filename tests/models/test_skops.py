"""`format: skops`: a scikit-learn logistic regression saved with skops, through the real CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from formats import cli, failed_checks, report, tabular_suite, write_config
from projects import CLASSES

sio = pytest.importorskip("skops.io")
linear_model = pytest.importorskip("sklearn.linear_model")

CANDIDATE = """
path: model.skops
"""


def save_model(path: Path, x: np.ndarray, labels: np.ndarray, flip: bool = False) -> None:
    names = np.array([CLASSES[c] for c in labels])
    if flip:  # a poisoned retrain: most cats were labelled dog
        cats = np.flatnonzero(names == "cat")
        names[cats[: int(len(cats) * 0.9)]] = "dog"
    model = linear_model.LogisticRegression(max_iter=500).fit(x, names)
    sio.dump(model, path)


@pytest.fixture
def skops_project(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    x, labels = tabular_suite(tmp_path)
    save_model(tmp_path / "model.skops", x, labels)  # type: ignore[arg-type]
    config = write_config(tmp_path, CANDIDATE)
    done = cli(config, "bless")
    assert done.code == 0, done.text
    return config, x, labels  # type: ignore[return-value]


def test_skops_model_passes_against_its_own_blessing(
    skops_project: tuple[Path, np.ndarray, np.ndarray],
) -> None:
    config, _, _ = skops_project
    done = cli(config, "check")
    assert done.code == 0, done.text
    model = report(config.parent)["candidate"]
    assert isinstance(model, dict)
    assert model["format"] == "skops" and model["carries_code"] is False


def test_label_flipped_skops_retrain_fails(
    skops_project: tuple[Path, np.ndarray, np.ndarray],
) -> None:
    config, x, labels = skops_project
    save_model(config.parent / "model.skops", x, labels, flip=True)
    done = cli(config, "check")
    assert done.code == 1, done.text
    assert "accuracy" in failed_checks(config.parent)


def _load(tmp_path: Path, **spec: object) -> object:
    from modelgate.config import ModelSpec
    from modelgate.models import load_predictor

    return load_predictor(
        ModelSpec(path="m.skops", **spec),  # type: ignore[arg-type]
        tmp_path,
        config_file=tmp_path / "c.yaml",
        key="candidate",
        classes=("a", "b"),
    )


def test_untrusted_types_are_refused_until_the_config_trusts_them(tmp_path: Path) -> None:
    import operator

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from modelgate.errors import ModelLoadError

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    # A function reference is not one of skops' safe defaults (scikit-learn estimators are).
    model = make_pipeline(FunctionTransformer(operator.neg), linear_model.LogisticRegression())
    sio.dump(model.fit(x, ["a", "a", "b", "b"]), tmp_path / "m.skops")
    with pytest.raises(ModelLoadError, match=r"_operator\.neg") as caught:
        _load(tmp_path)
    assert caught.value.key == "candidate.trusted_types"
    predictor = _load(tmp_path, trusted_types=["_operator.neg"])
    assert predictor.score(x).shape == (4, 2)  # type: ignore[attr-defined]


def test_classes_in_another_order_are_mapped_and_unknown_ones_refused(tmp_path: Path) -> None:
    from modelgate.errors import ModelLoadError

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = linear_model.LogisticRegression().fit(x, ["b", "b", "a", "a"])
    sio.dump(model, tmp_path / "m.skops")
    predictor = _load(tmp_path)
    scores = predictor.score(np.array([[0.0]]))  # type: ignore[attr-defined]
    assert scores[0, 1] > scores[0, 0]  # x=0 is "b", the suite's second class
    sio.dump(linear_model.LogisticRegression().fit(x, ["a", "a", "z", "z"]), tmp_path / "m.skops")
    with pytest.raises(ModelLoadError, match="not the suite's classes"):
        _load(tmp_path)


def test_decision_function_gives_logits(tmp_path: Path) -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    sio.dump(linear_model.LogisticRegression().fit(x, ["a", "a", "b", "b"]), tmp_path / "m.skops")
    predictor = _load(tmp_path, method="decision_function")
    assert predictor.output == "logits"  # type: ignore[attr-defined]
    assert predictor.score(x).shape == (4, 2)  # type: ignore[attr-defined]


def test_a_schema_that_inflates_a_thousandfold_is_refused_before_it_is_read(
    tmp_path: Path,
) -> None:
    import zipfile

    x, labels = tabular_suite(tmp_path)
    save_model(tmp_path / "real.skops", x, labels)  # type: ignore[arg-type]
    with (
        zipfile.ZipFile(tmp_path / "real.skops") as real,
        zipfile.ZipFile(tmp_path / "model.skops", "w", zipfile.ZIP_DEFLATED) as bomb,
    ):
        for member in real.infolist():
            if member.filename != "schema.json":
                bomb.writestr(member, real.read(member))
        bomb.writestr("schema.json", b" " * (65 << 20))  # 65 MiB of spaces, ~65 KB on disk
    assert (tmp_path / "model.skops").stat().st_size < 1 << 20
    done = cli(write_config(tmp_path, CANDIDATE), "bless")
    assert done.code == 2, done.text
    assert "model.skops" in done.text and "schema.json of" in done.text
