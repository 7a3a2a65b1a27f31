"""`training_data:` in modelgate.yaml: where the candidate's training rows are, and the counts
that bound an attribution (deterministic: sized by counts, never by time)."""

from __future__ import annotations

from pydantic import Field

from modelgate.validation import StrictModel


class TrainingDataSpec(StrictModel):
    """The training-data manifest and the budget of `modelgate attribute`."""

    path: str = Field(
        description="Training-data manifest folder (suite format plus a `source` column), "
        "relative to the config's folder: the candidate's training set, or only the rows "
        "added since the blessed model."
    )
    max_rows: int = Field(
        200_000,
        ge=1,
        le=100_000_000,
        description="Most training rows scored; beyond it the most recently `added` rows "
        "(then by id) are scored and the report says how many were left out.",
    )
    max_canaries: int = Field(
        64,
        ge=1,
        le=100_000,
        description="Most canaries (flipped or stamped) per finding whose behaviour is "
        "attributed; chosen by canary id.",
    )
    permutations: int = Field(
        9999,
        ge=99,
        le=1_000_000,
        description="Label-stratified permutations of the per-source test (the smallest "
        "p-value it can give is 1 / (permutations + 1)).",
    )
    report_rows: int = Field(
        100, ge=1, le=1_000_000, description="Top rows per finding kept in the reports."
    )
    batch_size: int = Field(256, ge=1, le=1_000_000, description="Training rows per batch.")
