"""Mutation fuzz of every file the gate reads: the answer is a verdict or exit 2, never exit 3.

A few hundred hypothesis examples here; `python benchmarks/fuzz.py` runs thousands with the same
mutations (tests/fuzzing.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzing import OPS, TARGETS, TOKENS, build_fuzz_project, mutate, outcome
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EDITS = st.lists(
    st.tuples(
        st.integers(0, 100_000),
        st.sampled_from(OPS),
        st.integers(0, len(TOKENS) - 1),
        st.integers(0, 100),
    ),
    min_size=1,
    max_size=4,
)


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    build_fuzz_project(root)
    return root


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_the_unmutated_files_load(fuzz_root: Path, name: str) -> None:
    target = TARGETS[name]
    text = (fuzz_root / target.file).read_text()
    assert outcome(target, fuzz_root, text) == (0, "loaded")


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(edits=EDITS)
def test_a_mutated_file_is_never_an_internal_error(
    fuzz_root: Path, name: str, edits: list[tuple[int, str, int, int]]
) -> None:
    target = TARGETS[name]
    text = (fuzz_root / target.file).read_text()
    code, what = outcome(target, fuzz_root, mutate(text, edits))
    assert code != 3, what
