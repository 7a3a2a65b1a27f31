"""`inference.engine: ray` on a local Ray (2 CPUs, one session for the module): the same reports
as a local check, a killed worker retried, a run that cannot finish is exit 2."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
from projects import blanked_reports, build_project, linear_weights, save_weights

from modelgate.api import ReportRequest, run_check
from modelgate.cli import main
from modelgate.errors import PredictionError, ShardError

ray = pytest.importorskip("ray")

# The one thing that differs by design: the config file (its engine key) and its digest.
_CONFIG = re.compile(rb"(ray|modelgate)\.yaml( \([0-9a-f]{12}\))?|[0-9a-f]{64}")

DYING = """

import os
import torch

class DiesOnce(torch.nn.Linear):
    # The first batch any process scores kills that process, once (a lost Ray worker).
    def forward(self, x):
        if not os.path.exists({marker!r}):
            open({marker!r}, "w").close()
            os._exit(1)
        return super().forward(x)

class DiesAlways(torch.nn.Linear):
    def forward(self, x):
        os._exit(1)

class NaNLinear(torch.nn.Linear):
    def forward(self, x):
        return super().forward(x) * float("nan")

def build_nan_linear():
    return NaNLinear(4, 3)

def build_dies_once():
    return DiesOnce(4, 3)

def build_dies_always():
    return DiesAlways(4, 3)
"""


@pytest.fixture(scope="module", autouse=True)
def cluster() -> object:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def blessed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A blessed project in batches of 16, a candidate with flips, and a Ray twin config."""
    root = tmp_path_factory.mktemp("ray")
    config = build_project(root)
    config.write_text(config.read_text() + "inference: {batch_size: 16}\n")
    save_weights(root / "candidate.safetensors", linear_weights(shift=(0, 1, 2.5)))
    ray_config = config.read_text().replace(
        "inference: {batch_size: 16}", "inference: {batch_size: 16, engine: ray, workers: 2}"
    )
    (root / "ray.yaml").write_text(ray_config)
    return root


@pytest.fixture
def project(blessed: Path, tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(blessed, root)
    return root


def reports(folder: Path) -> dict[str, bytes]:
    return {name: _CONFIG.sub(b"C", text) for name, text in blanked_reports(folder).items()}


def check(root: Path, config: str, out: str) -> int:
    folder = root / out
    run = run_check(root / config, reports=ReportRequest(folder=folder))
    return run.result.exit_code


def test_ray_check_writes_the_local_reports(blessed: Path, tmp_path: Path) -> None:
    local, distributed = tmp_path / "local", tmp_path / "ray"
    shutil.copytree(blessed, local)
    shutil.copytree(blessed, distributed)
    assert check(local, "modelgate.yaml", "out") == check(distributed, "ray.yaml", "out") == 1
    assert reports(distributed / "out") == reports(local / "out")
    assert len(reports(local / "out")) == 3


def test_ray_predictions_are_the_local_bytes(project: Path) -> None:
    from modelgate.config import load_config
    from modelgate.engine.candidate import predict_with_model
    from modelgate.suite.format import load_suite

    suite = load_suite(project / "suite")
    local, _ = predict_with_model(load_config(project / "modelgate.yaml"), suite)
    remote, _ = predict_with_model(load_config(project / "ray.yaml"), suite)
    assert remote.log_probs.tobytes() == local.log_probs.tobytes()


def test_a_shard_on_ray_merges_with_a_local_shard(blessed: Path, tmp_path: Path) -> None:
    """Shards may run on different engines; their parts name the config they ran with."""
    single, project = tmp_path / "single", tmp_path / "project"
    shutil.copytree(blessed, single)
    shutil.copytree(blessed, project)
    parts = str(project / "parts")
    ray_config, local_config = str(project / "ray.yaml"), str(project / "modelgate.yaml")
    assert main(["check", "-c", ray_config, "--shard", "1/2", "--part-dir", parts]) == 0
    assert main(["check", "-c", local_config, "--shard", "2/2", "--part-dir", parts]) == 0
    assert main(["merge", "-c", local_config, parts, "--output-dir", str(project / "m")]) == 2
    assert main(["check", "-c", ray_config, "--shard", "2/2", "--part-dir", parts]) == 0
    assert main(["merge", "-c", ray_config, parts, "--output-dir", str(project / "m"), "-q"]) == 1
    assert check(single, "modelgate.yaml", "out") == 1
    assert reports(project / "m") == reports(single / "out")


def _with_factory(project: Path, factory: str) -> Path:
    marker = project / "died-once"
    (project / "model.py").write_text(
        (project / "model.py").read_text() + textwrap.dedent(DYING).format(marker=str(marker))
    )
    text = (project / "ray.yaml").read_text().replace("model.py:build", f"model.py:{factory}")
    path = project / f"{factory}.yaml"
    path.write_text(text)
    return path


def test_a_killed_worker_is_retried_with_the_same_result(project: Path) -> None:
    from modelgate.config import load_config
    from modelgate.engine.candidate import predict_with_model
    from modelgate.suite.format import load_suite

    config = load_config(_with_factory(project, "build_dies_once"))
    suite = load_suite(project / "suite")
    remote, predictor = predict_with_model(config, suite)
    assert (project / "died-once").exists()  # a worker did die
    weights = predictor.module.state_dict()
    x = np.asarray(suite.inputs, dtype=np.float32)
    expected = x @ weights["weight"].numpy().T + weights["bias"].numpy()
    assert (remote.labels == expected.argmax(axis=1)).all()
    assert np.isfinite(remote.log_probs).all() and remote.log_probs.shape == (240, 3)


def test_a_run_that_cannot_finish_is_exit_2_naming_what_is_missing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _with_factory(project, "build_dies_always")
    (project / "reports").mkdir(exist_ok=True)
    (project / "reports" / "modelgate-report.json").write_text("{}")
    capsys.readouterr()
    assert main(["check", "-c", str(config), "--output-dir", str(project / "reports")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "inference.engine" in err[0] and "not predicted" in err[0], err
    assert not (project / "reports" / "modelgate-report.json").exists()


def test_a_models_error_on_a_worker_reads_as_it_does_locally(project: Path) -> None:
    config = _with_factory(project, "build_nan_linear")
    with pytest.raises(PredictionError) as caught:
        run_check(config, reports=ReportRequest(enabled=False))
    assert "NaN" in caught.value.message and caught.value.key == "output"


def test_without_ray_installed_the_engine_is_exit_2(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from modelgate.config import load_config
    from modelgate.inference.ray_engine import predict_on_ray
    from modelgate.suite.format import load_suite

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ShardError) as caught:
        predict_on_ray(
            load_config(project / "ray.yaml"), None, load_suite(project / "suite"), rows=(0, 1)
        )  # type: ignore[arg-type]
    assert caught.value.key == "inference.engine" and "modelgate[ray]" in (caught.value.hint or "")
