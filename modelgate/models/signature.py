"""Signatures of model files and folders: OpenSSF model-signing, key-based and offline
(optional extra `modelgate[model-signing]`), checked before anything reads the model.

`candidate.signature: {public_key: keys/models.pub}` (an elliptic-curve PEM key) refuses a model
without a valid signature by that key (`PATH.sig` beside it, or `signature.path`). The signer
runs `model_signing sign key --private_key KEY --signature PATH.sig PATH` where the team keeps
its key; verification needs no network (no Sigstore, no transparency log).
"""

from __future__ import annotations

from pathlib import Path

from modelgate.errors import ModelLoadError
from modelgate.models.interface import LoadRequest, first_line
from modelgate.paths import resolved

_INSTALL = 'pip install "modelgate[model-signing]"'


def signature_of(request: LoadRequest, path: Path) -> Path:
    spec = request.spec.signature
    assert spec is not None
    if spec.path:
        return resolved(request.folder / spec.path)
    return path.with_name(path.name + ".sig")


def verify_model_signature(request: LoadRequest, path: Path) -> None:
    """Refuse the model unless its signature file verifies with the configured key."""
    spec = request.spec.signature
    assert spec is not None
    key = request.at("signature")
    public_key = resolved(request.folder / spec.public_key)
    signature = signature_of(request, path)
    if not public_key.is_file():
        raise ModelLoadError("public key not found", file=public_key, key=f"{key}.public_key")
    if not signature.is_file():
        raise ModelLoadError(
            f"unsigned model: the config asks for a signature and there is no {signature.name}",
            file=path,
            key=key,
            hint="sign it with `model_signing sign key` where the team's key is kept",
        )
    try:
        from model_signing import verifying
    except ImportError as exc:
        raise ModelLoadError(
            f"model signatures need model-signing ({exc.name} is missing)",
            file=path,
            key=key,
            hint=_INSTALL,
        ) from None
    try:
        config = verifying.Config().use_elliptic_key_verifier(public_key=public_key)
        config.verify(path, signature)
    except Exception as exc:  # model-signing raises ValueError and friends on any mismatch
        raise ModelLoadError(
            f"the model does not match its signature {signature.name}: {first_line(exc)[:300]}",
            file=path,
            key=key,
            hint="it changed after it was signed, or another key signed it",
        ) from None
