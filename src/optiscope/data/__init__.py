"""Data sets: mlbench's regression and classification generators, seeded splits, user arrays."""

from optiscope.data._dataset import (
    Dataset,
    dimension_problem,
    make_dataset,
    resolve_data_spec,
    split_problem,
    task_of,
    validate_data_spec,
)
from optiscope.data._generators import (
    GENERATORS,
    GeneratorInfo,
    Task,
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
    "Task",
    "dimension_problem",
    "friedman1",
    "friedman2",
    "friedman3",
    "get_generator",
    "make_dataset",
    "peak",
    "resolve_data_spec",
    "split_problem",
    "task_of",
    "validate_data_spec",
]
