"""`check --shard K/N` + `merge`: the same reports as one process, and exit 2 on any part that
does not belong (missing, duplicated, foreign, tampered)."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from projects import blanked_reports, build_project, linear_weights, save_weights

from modelgate.cli import main
from modelgate.engine.shard import Shard, parse_shard, shard_rows
from modelgate.errors import UsageError


@pytest.fixture(scope="module")
def blessed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A blessed tabular project, batches of 16 (15 batches), a candidate with real flips."""
    root = tmp_path_factory.mktemp("shards")
    config = build_project(root)
    config.write_text(config.read_text() + "inference: {batch_size: 16}\n")
    save_weights(root / "candidate.safetensors", linear_weights(shift=(0, 1, 2.5)))
    save_weights(root / "other.safetensors", linear_weights(shift=(2, 0, 1.0)))
    return root


@pytest.fixture
def project(blessed: Path, tmp_path: Path) -> Path:
    """A fresh copy (own ledger, own reports) of the blessed project."""
    root = tmp_path / "project"
    shutil.copytree(blessed, root)
    return root


def shard(root: Path, k: int, n: int, *extra: str, parts: str = "parts") -> int:
    config = str(root / "modelgate.yaml")
    return main(
        ["check", "-c", config, "--shard", f"{k}/{n}", "--part-dir", str(root / parts), *extra]
    )


def merge(root: Path, *parts: Path, out: str = "merged") -> int:
    config = str(root / "modelgate.yaml")
    return main(["merge", "-c", config, *map(str, parts), "--output-dir", str(root / out), "-q"])


@pytest.mark.parametrize("order", [(2, 1), (3, 1, 2)], ids=["2 shards", "3 shards, any order"])
def test_merged_shards_write_the_single_process_reports(
    blessed: Path, tmp_path: Path, order: tuple[int, ...]
) -> None:
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    shutil.copytree(blessed, single)
    shutil.copytree(blessed, sharded)
    code = main(
        ["check", "-c", str(single / "modelgate.yaml"), "--output-dir", str(single / "out"), "-q"]
    )
    for k in order:
        assert shard(sharded, k, len(order)) == 0
    assert merge(sharded, sharded / "parts") == code == 1  # the shifted candidate fails
    assert blanked_reports(sharded / "merged") == blanked_reports(single / "out")
    assert set(blanked_reports(single / "out")) == {
        "modelgate-junit.xml",
        "modelgate-report.json",
        "modelgate-report.md",
    }


def test_parts_name_what_they_cover(project: Path) -> None:
    assert shard(project, 2, 3) == 0
    header = json.loads((project / "parts" / "part-2-of-3.json").read_text())
    assert header["shard"] == {"index": 2, "count": 3}
    assert header["rows"] == {"start": 80, "stop": 160}  # 5 of the 15 batches of 16
    assert header["suite"]["n_canaries"] == 240
    assert len(header["candidate"]["sha256"]) == len(header["config_sha256"]) == 64


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_missing_shard_is_exit_2_naming_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for k in (1, 3):
        assert shard(project, k, 3) == 0
    (project / "merged").mkdir()
    (project / "merged" / "modelgate-report.json").write_text("{}")  # an earlier verdict
    capsys.readouterr()
    assert merge(project, project / "parts") == 2
    line = _error(capsys)
    assert "part-2-of-3.json" in line and "missing" in line and "80..159" in line
    assert not (project / "merged" / "modelgate-report.json").exists()  # no stale verdict


def test_duplicated_shard_is_exit_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for k in (1, 2):
        assert shard(project, k, 2) == 0
    parts = project / "parts"
    capsys.readouterr()
    assert (
        merge(
            project,
            parts / "part-1-of-2.json",
            parts / "part-2-of-2.json",
            parts / "part-1-of-2.json",
        )
        == 2
    )
    assert "duplicates shard 1/2" in _error(capsys)


@pytest.mark.parametrize(
    "foreign",
    ["candidate", "config", "count", "tampered", "suite", "pickled"],
)
def test_foreign_shard_is_exit_2_naming_the_part(
    project: Path, capsys: pytest.CaptureFixture[str], foreign: str
) -> None:
    assert shard(project, 1, 2) == 0
    if foreign == "candidate":
        assert shard(project, 2, 2, "--candidate", str(project / "other.safetensors")) == 0
        expected = "another candidate"
    elif foreign == "config":
        other = project / "other.yaml"
        other.write_text((project / "modelgate.yaml").read_text() + "# edited\n")
        assert (
            main(
                ["check", "-c", str(other), "--shard", "2/2", "--part-dir", str(project / "parts")]
            )
            == 0
        )
        expected = "another config"
    elif foreign == "count":
        assert shard(project, 2, 3) == 0
        (project / "parts" / "part-2-of-2.json").unlink(missing_ok=True)
        expected = "of 2 shards"
    elif foreign == "tampered":
        assert shard(project, 2, 2) == 0
        scores = project / "parts" / "part-2-of-2.logp.npy"
        data = bytearray(scores.read_bytes())
        data[-1] ^= 1
        scores.write_bytes(bytes(data))
        expected = "digest mismatch"
    elif foreign == "suite":
        assert shard(project, 2, 2) == 0
        path = project / "parts" / "part-2-of-2.json"
        header = json.loads(path.read_text())
        header["suite"]["digest"] = "0" * 64
        path.write_text(json.dumps(header))
        expected = "another suite"
    else:  # scores that only unpickling could read, with a header naming their digest
        assert shard(project, 2, 2) == 0
        scores = project / "parts" / "part-2-of-2.logp.npy"
        buffer = io.BytesIO()
        np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        scores.write_bytes(buffer.getvalue())
        path = project / "parts" / "part-2-of-2.json"
        header = json.loads(path.read_text())
        header["log_probs"]["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
        path.write_text(json.dumps(header))
        expected = "not a plain .npy array"
    capsys.readouterr()
    assert merge(project, project / "parts") == 2
    line = _error(capsys)
    assert expected in line, line
    assert "part-" in line


def test_merge_refuses_a_candidate_the_shards_did_not_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for k in (1, 2):
        assert shard(project, k, 2) == 0
    capsys.readouterr()
    config = str(project / "modelgate.yaml")
    other = str(project / "other.safetensors")
    assert main(["merge", "-c", config, str(project / "parts"), "--candidate", other]) == 2
    assert "is not the model the 2 shard(s) predicted with" in _error(capsys)


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "a/b", "1/0", "-1/2"])
def test_bad_shard_option_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_shard(text)
    assert caught.value.key == "--shard"


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 240, 1000])
@pytest.mark.parametrize("batch_size", [1, 16, 256])
@pytest.mark.parametrize("count", [1, 2, 3, 7, 40])
def test_shards_cover_the_suite_once_in_whole_batches(n: int, batch_size: int, count: int) -> None:
    rows = [shard_rows(n, batch_size, Shard(k, count)) for k in range(1, count + 1)]
    assert rows[0][0] == 0 and rows[-1][1] == n
    for (_, stop), (start, _) in itertools.pairwise(rows):
        assert stop == start
    assert all(start % batch_size == 0 or start == n for start, _ in rows)


@pytest.mark.parametrize(
    "extra",
    [
        ["--shard", "1/2", "--json", "r.json"],
        ["--shard", "1/2", "--output-dir", "r"],
        ["--part-dir", "p"],
    ],
)
def test_shard_options_that_do_not_fit_are_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    capsys.readouterr()
    assert main(["check", "-c", str(project / "modelgate.yaml"), *extra]) == 2
    assert "--shard" in _error(capsys) or "--part-dir" in extra
