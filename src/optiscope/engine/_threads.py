"""One intra-op thread while training runs (DESIGN.md: one per process).

These tensors are far too small to gain from torch's thread pool, and two OpenMP threads
spinning on a busy 2-core machine made some small ops 1,000 times slower. It matters for
exactness too: with several threads an element-wise kernel splits a long buffer at points
that need not fall between configs, and where its vector and scalar paths round differently
(``sigmoid``, ``tanh``) a config's numbers would depend on where the split fell.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["one_intra_op_thread"]


@contextlib.contextmanager
def one_intra_op_thread() -> Iterator[None]:
    """Run the block with one intra-op thread, then restore the setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
