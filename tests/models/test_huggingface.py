"""`format: huggingface`: tiny BERT-style folders trained in the test (random initial weights,
a word-level tokenizer, `save_pretrained`), blessed and checked through the real CLI; the text
trigger inversion and the token probes find a planted trigger. No hub, no network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from formats import Run, cli, failed_checks, report, write_config

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

import tiny_text

from modelgate.suite.freeze import init_suite

PROBES = "probes: [token, {kind: invert, steps: 40, canaries: 120}]\n"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Trained once for the module: the blessed model, a label-flipped and a backdoored retrain."""
    root = tmp_path_factory.mktemp("hf-models")
    return {
        "clean": tiny_text.train(root / "clean"),
        "flipped": tiny_text.train(root / "flipped", seed=1, flip=True),
        "backdoored": tiny_text.train(root / "backdoored", seed=1, poison=True),
    }


def text_project(root: Path, model: Path) -> Path:
    texts, labels = tiny_text.sentences(30, seed=99)
    init_suite(
        root / "suite",
        name="cues",
        modality="text",
        inputs=texts,
        labels=[tiny_text.CLASSES[c] for c in labels],
        classes=tiny_text.CLASSES,
        curated_by="tests",
        source="tests/models/tiny_text.py sentences seed 99",
    )
    shutil.copytree(model, root / "model")
    return write_config(root, "path: model\nformat: huggingface", extra=PROBES)


def swap_model(config: Path, model: Path) -> None:
    shutil.rmtree(config.parent / "model")
    shutil.copytree(model, config.parent / "model")


@pytest.fixture(scope="module")
def blessed_once(tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path]) -> Path:
    config = text_project(tmp_path_factory.mktemp("hf-blessed"), models["clean"])
    done = cli(config, "bless")
    assert done.code == 0, done.text
    return config.parent


@pytest.fixture
def blessed(tmp_path: Path, blessed_once: Path) -> Path:
    """A copy of the project blessed on the clean model (blessed once for the module)."""
    shutil.copytree(blessed_once, tmp_path / "project")
    return tmp_path / "project" / "modelgate.yaml"


def _checks(config: Path) -> dict[str, str]:
    checks = report(config.parent)["checks"]
    assert isinstance(checks, list)
    return {c["name"]: c["status"] for c in checks}


def test_model_passes_against_its_own_blessing_with_inversion(blessed: Path) -> None:
    done = cli(blessed, "check")
    assert done.code == 0, done.text
    checks = _checks(blessed)
    assert checks["probes.inversion"] == "passed" and checks["probes.triggers"] == "passed"
    model = report(blessed.parent)["candidate"]
    assert isinstance(model, dict)
    assert model["format"] == "huggingface" and model["carries_code"] is False
    assert model["ran"] == "in-process"
    header = json.loads((blessed.parent / "baseline.json").read_text())["header"]
    assert header["model"]["sha256"] == model["sha256"]
    assert header["model"]["ran"] == "in-process" and header["model"]["format"] == "huggingface"


def test_label_flipped_retrain_fails(blessed: Path, models: dict[str, Path]) -> None:
    swap_model(blessed, models["flipped"])
    done = cli(blessed, "check")
    assert done.code == 1, done.text
    assert "accuracy" in failed_checks(blessed.parent)


def test_planted_trigger_is_found_by_inversion_and_probes(
    blessed: Path, models: dict[str, Path]
) -> None:
    swap_model(blessed, models["backdoored"])
    done: Run = cli(blessed, "check")
    assert done.code == 1, done.text
    failed = failed_checks(blessed.parent)
    assert {"probes.inversion", "probes.triggers"} <= failed, done.text
    findings = [
        f
        for c in report(blessed.parent)["checks"]
        if c["status"] == "failed"  # type: ignore[union-attr]
        for f in c["findings"]
    ]
    assert any(f["check"] == "probes.triggers" and "/cf/" in f["message"] for f in findings)
    assert any(f["check"] == "probes.inversion" and "'pos'" in f["message"] for f in findings)


def test_text_inversion_recovers_the_trigger_token(models: dict[str, Path]) -> None:
    from modelgate.config import ModelSpec
    from modelgate.models import load_predictor
    from modelgate.probes.text_invert import MAX_TOKENS, search

    texts, labels = tiny_text.sentences(20, seed=7)
    found = {}
    for name in ("clean", "backdoored"):
        predictor = load_predictor(
            ModelSpec(path=str(models[name]), format="huggingface"),
            Path("/"),
            config_file=Path("c.yaml"),
            key="candidate",
            classes=tiny_text.CLASSES,
        )
        assert predictor.text is not None and predictor.module is not None
        found[name] = search(predictor.text, texts, np.array(labels), 3, steps=40)
    pos = tiny_text.CLASSES.index("pos")
    assert found["backdoored"].norms[pos] == 1
    assert found["clean"].norms[pos] > 1 and found["clean"].norms[pos] <= MAX_TOKENS + 1
    held = found["backdoored"].held_out[pos]
    assert found["backdoored"].confirm_hits[pos] >= 0.9 * held
    again = search(predictor.text, texts, np.array(labels), 3, steps=40)
    np.testing.assert_array_equal(again.norms, found["backdoored"].norms)  # deterministic


def test_class_order_must_match_the_suite(tmp_path: Path, models: dict[str, Path]) -> None:
    config = text_project(tmp_path, models["clean"])
    cfg = config.parent / "model" / "config.json"
    data = json.loads(cfg.read_text())
    data["id2label"] = {"0": "pos", "1": "neu", "2": "neg"}
    cfg.write_text(json.dumps(data))
    done = cli(config, "bless")
    assert done.code == 2
    assert "id2label" in done.stderr and "wrong order" in done.stderr


@pytest.mark.parametrize("tamper", ["pickle_weights", "remote_code"])
def test_unsafe_folders_are_refused(tmp_path: Path, models: dict[str, Path], tamper: str) -> None:
    config = text_project(tmp_path, models["clean"])
    folder = config.parent / "model"
    if tamper == "pickle_weights":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
        expected = "pytorch_model.bin: pickle-based, refused"
    else:
        data = json.loads((folder / "config.json").read_text())
        data["auto_map"] = {"AutoModelForSequenceClassification": "evil.EvilModel"}
        (folder / "config.json").write_text(json.dumps(data))
        expected = "never runs remote code"
    done = cli(config, "bless")
    assert done.code == 2
    assert expected in done.stderr


def test_image_folder_is_scored_through_its_processor(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    import torch
    from transformers import ViTConfig, ViTForImageClassification
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    from modelgate.config import ModelSpec
    from modelgate.models import load_predictor

    torch.manual_seed(0)
    config = ViTConfig(
        image_size=8,
        patch_size=4,
        num_channels=1,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=3,
        id2label=dict(enumerate(tiny_text.CLASSES)),
        label2id={c: i for i, c in enumerate(tiny_text.CLASSES)},
    )
    model = ViTForImageClassification(config).eval()
    model.save_pretrained(str(tmp_path / "vit"))
    processor = ViTImageProcessorPil(
        size={"height": 8, "width": 8}, image_mean=[0.5], image_std=[0.5]
    )
    processor.save_pretrained(str(tmp_path / "vit"))
    predictor = load_predictor(
        ModelSpec(path="vit"),  # a folder with config.json: format huggingface
        tmp_path,
        config_file=tmp_path / "c.yaml",
        key="candidate",
        classes=tiny_text.CLASSES,
    )
    assert predictor.info.format == "huggingface" and predictor.text is None
    x = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = model(pixel_values=(torch.from_numpy(x) - 0.5) / 0.5).logits.numpy()
    np.testing.assert_allclose(predictor.score(x), expected, atol=1e-3)
