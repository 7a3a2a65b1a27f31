"""Code-bearing models run in the sandbox: hostile ones are stopped, reported (exit 2 naming
the model), and nothing outside the sandbox changes."""

from __future__ import annotations

import contextlib
import platform
import socket
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from formats import cli, report, tabular_suite, write_config

from modelgate.config import ModelSpec
from modelgate.errors import ModelgateError
from modelgate.models import load_predictor
from modelgate.models.confine import seccomp_filter

linux_only = pytest.mark.skipif(
    platform.system() != "Linux" or seccomp_filter() is None,
    reason="the sandbox's network and write confinement needs Linux (seccomp, Landlock)",
)

HOSTILE = textwrap.dedent(
    """
    import numpy as np

    def load(path):
        def score(batch):
            {body}
            return np.zeros((len(batch), 3))
        return score
    """
)


def hostile_project(root: Path, body: str, sandbox: str = "") -> Path:
    tabular_suite(root)
    (root / "weights.npz").write_bytes(b"")
    (root / "hostile.py").write_text(HOSTILE.replace("{body}", body))
    candidate = f"""
    path: weights.npz
    callable: hostile.py:load
    allow_code: true
    {sandbox}
    """
    return write_config(root, candidate, extra="inference: {timeout_s: 20}\n")


def _refused(config: Path, *needles: str) -> str:
    scratch = config.parent / "scratch"
    scratch.mkdir()
    done = cli(config, "bless", tmpdir=scratch)
    assert done.code == 2, done.text
    assert not list(scratch.iterdir())  # the sandbox's temp folder is gone too
    line = done.stderr.strip().splitlines()[-1]
    assert "weights.npz" in line, line  # names the model
    for needle in needles:
        assert needle in line, line
    assert not (config.parent / "baseline.json").exists()
    return line


def test_model_that_sleeps_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    config = hostile_project(tmp_path, "import time; time.sleep(3600)")
    config.write_text(config.read_text().replace("timeout_s: 20", "timeout_s: 2"))
    _refused(config, "inference.timeout_s", "took longer than 2 s")


def test_model_that_spins_is_stopped_by_its_cpu_limit(tmp_path: Path) -> None:
    config = hostile_project(tmp_path, "while True: pass", "sandbox: {cpu_s: 2}")
    _refused(config, "sandbox.cpu_s", "CPU time")


def test_model_that_allocates_without_bound_is_stopped(tmp_path: Path) -> None:
    body = "hoard = []\n        while True: hoard.append(bytearray(64 << 20))"
    config = hostile_project(tmp_path, body, "sandbox: {memory_mb: 512}")
    _refused(config, "sandbox.memory_mb", "memory limit")


@linux_only
def test_model_that_writes_outside_its_temp_folder_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "planted.txt"
    config = hostile_project(tmp_path, f"open({str(target)!r}, 'w').write('owned')")
    _refused(config, "PermissionError", "temp folder")
    assert not target.exists()


@linux_only
def test_model_that_opens_a_socket_is_killed(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(30)
    port = server.getsockname()[1]
    accepted: list[object] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            accepted.append(server.accept())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    body = f"import socket; socket.create_connection(('127.0.0.1', {port})).sendall(b'x')"
    config = hostile_project(tmp_path, body)
    _refused(config, "escape attempt")
    server.close()
    thread.join(5)
    assert not accepted  # the model never reached the listener


def test_model_that_crashes_is_reported(tmp_path: Path) -> None:
    config = hostile_project(tmp_path, "import os; os.abort()")
    _refused(config, "killed by signal 6")


def test_model_that_exits_cannot_pass_the_gate(tmp_path: Path) -> None:
    config = hostile_project(tmp_path, "raise SystemExit(0)")
    _refused(config, "sys.exit")


def test_sandboxed_torch_model_matches_in_process_and_stays_white_box(tmp_path: Path) -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(4, 3)
    torch.jit.script(linear).save(str(tmp_path / "m.ts"))
    x = torch.randn(5, 4)
    boxed = load_predictor(
        ModelSpec(path="m.ts", allow_code=True), tmp_path, config_file=tmp_path / "c", key="c"
    )
    assert boxed.info.ran.startswith("sandbox: subprocess")
    with torch.inference_mode():
        np.testing.assert_allclose(boxed.score(x).numpy(), linear(x).detach().numpy(), atol=1e-6)
    # Gradients cross the pipe: what the trigger inversion needs.
    probe = x.clone().requires_grad_(True)
    boxed.module(probe).sum().backward()
    np.testing.assert_allclose(
        probe.grad.numpy(), linear.weight.sum(0).detach().expand(5, 4).numpy(), atol=1e-5
    )
    if platform.system() == "Linux":
        assert "network cut" in boxed.info.ran and "writes: temp folder only" in boxed.info.ran


def test_the_report_says_how_a_code_model_ran(tmp_path: Path) -> None:
    tabular_suite(tmp_path)
    torch.manual_seed(0)
    torch.jit.script(torch.nn.Linear(4, 3)).save(str(tmp_path / "m.ts"))
    config = write_config(tmp_path, "path: m.ts\nallow_code: true")
    assert cli(config, "bless").code == 0
    done = cli(config, "check")
    assert done.code == 0, done.text
    model = report(tmp_path)["candidate"]
    assert isinstance(model, dict) and model["carries_code"] is True
    assert str(model["ran"]).startswith("sandbox: subprocess; cpu 3600 s")
    # The white-box inversion ran on the confined model, through gradients over the pipe.
    checks = {c["name"]: c["status"] for c in report(tmp_path)["checks"]}  # type: ignore[union-attr]
    assert checks["probes.inversion"] == "passed"
    junit = (tmp_path / "reports" / "modelgate-junit.xml").read_text()
    assert 'name="candidate.ran" value="sandbox: subprocess' in junit


def test_model_errors_in_the_sandbox_name_the_model(tmp_path: Path) -> None:
    (tmp_path / "w.npz").write_bytes(b"")
    (tmp_path / "bad.py").write_text("def load(path):\n    raise ValueError('no weights')\n")
    spec = ModelSpec(path="w.npz", callable="bad.py:load", allow_code=True)
    with pytest.raises(ModelgateError, match="no weights") as caught:
        load_predictor(spec, tmp_path, config_file=tmp_path / "c", key="candidate")
    assert caught.value.file is not None and caught.value.file.endswith("w.npz")
