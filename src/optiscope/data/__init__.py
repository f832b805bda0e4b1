"""Data sets: the mlbench regression generators, seeded splits and user-supplied arrays."""

from optiscope.data._dataset import (
    Dataset,
    make_dataset,
    resolve_data_spec,
    split_problem,
    validate_data_spec,
)
from optiscope.data._generators import (
    GENERATORS,
    GeneratorInfo,
    friedman1,
    friedman2,
    friedman3,
    get_generator,
    peak,
)

__all__ = [
    "GENERATORS",
    "Dataset",
    "GeneratorInfo",
    "friedman1",
    "friedman2",
    "friedman3",
    "get_generator",
    "make_dataset",
    "peak",
    "resolve_data_spec",
    "split_problem",
    "validate_data_spec",
]
