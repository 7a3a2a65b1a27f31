"""`candidate.signature`: OpenSSF model-signing signatures (EC key, offline) of model files and
folders; an unsigned, tampered or foreign-signed model is refused (exit 2) before it is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from formats import cli
from projects import Project

from modelgate.config import ModelSpec
from modelgate.errors import ModelLoadError
from modelgate.models import load_predictor

signing = pytest.importorskip("model_signing.signing")
pytest.importorskip("OpenSSL")


def keypair(folder: Path, name: str) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def sign(model: Path, private: Path) -> Path:
    out = model.with_name(model.name + ".sig")
    signing.Config().use_elliptic_key_signer(private_key=private).sign(model, out)
    return out


def _load(root: Path, path: str = "candidate.safetensors", key: str = "team.pub") -> object:
    spec = ModelSpec(path=path, factory="model.py:build", signature=key)  # type: ignore[arg-type]
    return load_predictor(spec, root, config_file=root / "modelgate.yaml", key="candidate")


def test_signed_model_passes_the_gate(project: Project) -> None:
    private, _ = keypair(project.root, "team")
    sign(project.root / "candidate.safetensors", private)
    text = project.config.read_text().replace(
        "  factory: model.py:build\n", "  factory: model.py:build\n  signature: team.pub\n"
    )
    project.config.write_text(text)
    done = cli(project.config, "check")
    assert done.code == 0, done.text


def test_unsigned_model_is_refused(project: Project) -> None:
    keypair(project.root, "team")
    with pytest.raises(ModelLoadError, match="unsigned model") as caught:
        _load(project.root)
    assert caught.value.key == "candidate.signature"


def test_model_changed_after_signing_is_refused(project: Project) -> None:
    private, _ = keypair(project.root, "team")
    sign(project.root / "candidate.safetensors", private)
    from projects import linear_weights, save_weights

    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 6.0)))
    with pytest.raises(ModelLoadError, match="does not match its signature"):
        _load(project.root)


def test_model_signed_by_another_key_is_refused(project: Project) -> None:
    keypair(project.root, "team")
    intruder, _ = keypair(project.root, "intruder")
    sign(project.root / "candidate.safetensors", intruder)
    with pytest.raises(ModelLoadError, match="does not match its signature"):
        _load(project.root)


def test_a_signed_folder_covers_every_file(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights")
    private, _ = keypair(tmp_path, "team")
    sign(folder, private)
    from modelgate.models.interface import LoadRequest
    from modelgate.models.signature import verify_model_signature

    spec = ModelSpec(path="model", format="huggingface", signature="team.pub")  # type: ignore[arg-type]
    request = LoadRequest(spec, tmp_path, folder, tmp_path / "c.yaml", "candidate")
    verify_model_signature(request, folder)
    (folder / "extra.py").write_text("print('planted')")
    with pytest.raises(ModelLoadError, match="does not match its signature"):
        verify_model_signature(request, folder)
