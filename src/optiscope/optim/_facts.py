"""What this machine was found to do, remembered on disk from one process to the next.

Before its first step a fresh process asks the machine two kinds of questions whose answers
depend only on the machine and its software, not on the process:

- which stacked kernel reproduces the plain model's numbers, per operation and shape (the
  exactness probes of :mod:`optiscope.engine._exact`: about 30 ms before the exercise's first
  sweep on the 2-vCPU AMD EPYC these notes were written on);
- whether each fused optimizer kernel reproduces torch's steps (the checks behind
  :func:`optiscope.optim._native.checked`: about 6 ms each).

Every ``optiscope`` command is a fresh process, so each paid this again. The answers are
kept in ``$XDG_CACHE_HOME/optiscope/facts-<fingerprint>.json`` (``~/.cache``), beside the
compiled kernels, and read back by the next process. The fingerprint hashes everything the
answers depend on (:func:`fingerprint`): the CPU's model and flags, the OS and architecture,
Python's and torch's versions and torch's build configuration (its BLAS, MKL and oneDNN
versions, the CPU capability its kernels use), torch's global math settings, the
environment variables that choose MKL's, oneDNN's or ATen's code paths, and optiscope's own
engine, optimizer, model and data source files. When any of these changes the file name
changes, so no answer is ever read under conditions other than those it was found in; the
old file is left (a few kilobytes).

Only answers a process found itself on the CPU are kept: a GPU's are not covered by the
fingerprint, and answers learnt from other processes (a Ray cluster's nodes may be other
machines) are kept, if at all, by the process that found them. The file is written whole
and renamed into place, so processes writing at once lose at most an answer, which the next
process finds again; an unreadable or malformed file counts as empty.
``OPTISCOPE_PROBE_CACHE=off`` turns this off: every process asks again (the tests run so, to
check the questions themselves).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
from functools import cache
from pathlib import Path

import torch

__all__ = ["ENV", "Facts", "cache_dir", "cpu_identity", "enabled", "fingerprint", "machine_facts"]

ENV = "OPTISCOPE_PROBE_CACHE"
"""Set to ``off`` (or ``0``, ``no``, ``false``) to ask the machine again in every process."""

KERNEL_ENV = (
    "ATEN_CPU_CAPABILITY",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_DEBUG_CPU_TYPE",
    "MKL_NUM_THREADS",
    "MKL_DYNAMIC",
    "OMP_NUM_THREADS",
    "DNNL_MAX_CPU_ISA",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_DEFAULT_FPMATH_MODE",
    "ONEDNN_DEFAULT_FPMATH_MODE",
    "TORCH_MKLDNN_MATMUL_MIN_DIM",
)
"""Environment variables that can change which kernel MKL, oneDNN or ATen runs."""

_SOURCES = ("engine", "optim", "models", "data")
"""optiscope's folders whose code decides the candidates, kernels, layouts and alignments."""


def enabled() -> bool:
    """Whether answers are read from and written to disk (see :data:`ENV`)."""
    return os.environ.get(ENV, "").strip().lower() not in {"off", "0", "no", "false"}


def cpu_identity() -> str:
    """The machine and, on Linux, the CPU's model and flags (what ``-march=native`` and
    torch's choice of kernels depend on)."""
    identity = [platform.machine(), platform.system()]
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            identity += sorted({line for line in cpuinfo if line.startswith(("flags", "model"))})
    except OSError:
        identity.append(platform.processor())
    return "\n".join(identity)


def fingerprint() -> str:
    """A hash of everything the answers depend on (see the module docstring)."""
    key = hashlib.sha256()
    parts = [
        cpu_identity(),
        platform.system(),
        platform.release(),
        sys.version,
        torch.__version__,
        torch.__config__.show(),
        torch.backends.cpu.get_cpu_capability(),
        torch.get_float32_matmul_precision(),
        str(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
        str(torch.are_deterministic_algorithms_enabled()),
        *(f"{name}={os.environ.get(name)}" for name in KERNEL_ENV),
    ]
    for part in parts:
        key.update(part.encode())
        key.update(b"\0")
    package = Path(__file__).parent.parent
    for folder in _SOURCES:
        for path in sorted((package / folder).glob("*")):
            if path.suffix in {".py", ".c", ".h"}:
                # size and modification time stand for the contents: any edit, checkout
                # or install changes them (at a tenth of the cost of reading the files)
                stat = path.stat()
                key.update(f"{path.name} {stat.st_size} {stat.st_mtime_ns}\0".encode())
    return key.hexdigest()[:24]


class Facts:
    """The answers of one kind (``"exact"``, ``"kernels"``) kept in one file.

    Args:
        path: the JSON file (need not exist).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._kinds: dict[str, dict[str, object]] | None = None  # read on first use

    def _read(self) -> dict[str, dict[str, object]]:
        if self._kinds is None:
            self._kinds = {}
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                loaded = None
            if isinstance(loaded, dict):
                self._kinds = {
                    kind: dict(answers)
                    for kind, answers in loaded.items()
                    if isinstance(kind, str) and isinstance(answers, dict)
                }
        return self._kinds

    def answers(self, kind: str) -> dict[str, object]:
        """The answers of ``kind`` found so far on this machine: question -> answer."""
        return dict(self._read().get(kind, {}))

    def remember(self, kind: str, found: dict[str, object]) -> None:
        """Add ``found`` to the answers of ``kind`` and write the file, merged with what
        other processes wrote since it was read. A write that fails is skipped: the next
        process asks again."""
        if not found:
            return
        self._kinds = None  # read again: another process may have added answers
        merged = self._read()
        merged.setdefault(kind, {}).update(found)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        except OSError:
            return
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(merged, out, sort_keys=True)
            os.replace(name, self.path)  # whole or not at all
        except OSError:
            Path(name).unlink(missing_ok=True)


def cache_dir() -> Path:
    """Where optiscope keeps what it learns about this machine: its compiled kernels and
    these answers (``$XDG_CACHE_HOME/optiscope``, else ``~/.cache/optiscope``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "optiscope"


@cache
def machine_facts() -> Facts | None:
    """This machine's answers (``None`` where :func:`enabled` is false), in the file named
    by :func:`fingerprint` at the first call of the process (as the answers a process keeps
    in memory, they are not asked again if torch's settings change after that)."""
    if not enabled():
        return None
    return Facts(cache_dir() / f"facts-{fingerprint()}.json")
