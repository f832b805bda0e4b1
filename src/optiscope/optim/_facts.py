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
answers depend on (:func:`fingerprint`): the CPU's model, stepping, microcode and features,
the OS, its kernel and C library, Python's and torch's versions and torch's build
configuration (its BLAS, MKL and oneDNN versions, the CPU capability its kernels use),
torch's global math settings and default dtype, the environment variables that choose MKL's,
oneDNN's or ATen's code paths, and the contents of optiscope's own engine, optimizer, model
and data sources. When any of these changes the file name changes, so no answer is read
under conditions other than those it was found in (and a process whose settings change
after its first training writes nothing more); old files are removed after a week.
Where the CPU cannot be told apart from others (no ``/proc/cpuinfo``: macOS, Windows),
nothing is kept.

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
import time
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import torch

__all__ = [
    "ENV",
    "STALE_DAYS",
    "Facts",
    "cache_dir",
    "cpu_identity",
    "enabled",
    "fingerprint",
    "machine_facts",
    "source_hash",
    "switched_off",
]

ENV = "OPTISCOPE_PROBE_CACHE"
"""Set to ``off`` (or ``0``, ``no``, ``false``) to ask the machine again in every process."""

KERNEL_ENV = (
    "ATEN_CPU_CAPABILITY",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_DEBUG_CPU_TYPE",
    "DNNL_MAX_CPU_ISA",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_DEFAULT_FPMATH_MODE",
    "ONEDNN_DEFAULT_FPMATH_MODE",
    "TORCH_MKLDNN_MATMUL_MIN_DIM",
)
"""Environment variables that can change which kernel MKL, oneDNN or ATen runs. (Not the
thread counts: every probe and check runs on one intra-op thread, see
:mod:`optiscope.engine._threads`, and a pool's workers, started with one thread, share the
parent's file.)"""

_CPU_LINES = (
    "vendor_id",
    "cpu family",
    "model",
    "stepping",
    "microcode",
    "flags",
    "Features",
    "CPU implementer",
    "CPU architecture",
    "CPU variant",
    "CPU part",
    "CPU revision",
    "isa",
    "uarch",
)
"""The lines of ``/proc/cpuinfo`` that say which CPU this is (x86, Arm and RISC-V names)."""


def switched_off(variable: str) -> bool:
    """Whether the environment variable ``variable`` says off (``off``, ``0``, ``no`` or
    ``false``, in any case; unset is on)."""
    return os.environ.get(variable, "").strip().lower() in {"off", "0", "no", "false"}


def enabled() -> bool:
    """Whether answers are read from and written to disk (see :data:`ENV`)."""
    return not switched_off(ENV)


@cache
def _cpu_lines() -> list[str] | None:
    """The distinct lines of ``/proc/cpuinfo`` that identify the CPU (``None`` without it),
    read once a process: the kernels' cache names, the fingerprint and the check for a
    ``/proc/cpuinfo`` all ask."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            return sorted({line for line in cpuinfo if line.startswith(_CPU_LINES)})
    except OSError:
        return None


def cpu_identity() -> str:
    """The machine and, on Linux, the CPU's model, stepping, microcode and features (what
    ``-march=native`` and torch's choice of kernels depend on)."""
    lines = _cpu_lines()
    identity = [platform.machine(), platform.system()]
    return "\n".join(identity + (lines if lines is not None else [platform.processor()]))


def fingerprint() -> str:
    """A hash of everything the answers depend on (see the module docstring): a few
    milliseconds, most of it reading optiscope's sources."""
    key = hashlib.sha256()
    libc = os.confstr("CS_GNU_LIBC_VERSION") if "CS_GNU_LIBC_VERSION" in os.confstr_names else ""
    parts = [
        cpu_identity(),
        platform.system(),
        platform.release(),
        str(libc),
        sys.version,
        torch.__version__,
        torch.__config__.show(),
        torch.backends.cpu.get_cpu_capability(),
        torch.get_float32_matmul_precision(),
        str(torch.get_default_dtype()),
        str(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
        str(torch.are_deterministic_algorithms_enabled()),
        *(f"{name}={os.environ.get(name)}" for name in KERNEL_ENV),
    ]
    for part in parts:
        key.update(part.encode())
        key.update(b"\0")
    package = Path(__file__).parent.parent
    key.update(source_hash(package, _SOURCES).encode())
    return key.hexdigest()[:24]


_SOURCES = ("engine", "optim", "models", "data", "_version.py")
"""What of optiscope decides the candidates, kernels, checks, layouts and alignments."""


def source_hash(package: Path, parts: Sequence[str]) -> str:
    """A hash of the contents of every Python, C and header file in ``parts`` of
    ``package`` (folders, searched to any depth, and files)."""
    key = hashlib.sha256()
    for part in parts:
        top = package / part
        for path in sorted(top.rglob("*")) if top.is_dir() else [top]:
            if path.suffix in {".py", ".c", ".h"} and path.is_file():
                key.update(f"{path.relative_to(package)}\0".encode())
                key.update(path.read_bytes())
                key.update(b"\0")
    return key.hexdigest()


class Facts:
    """The answers of one kind (``"exact"``, ``"kernels"``) kept in one file.

    Args:
        path: the JSON file (need not exist).
    """

    def __init__(self, path: Path, fingerprint: str | None = None) -> None:
        self.path, self.fingerprint = path, fingerprint
        self._kinds: dict[str, dict[str, object]] | None = None  # read on first use

    def _read(self) -> dict[str, dict[str, object]]:
        if self._kinds is None:
            self._kinds = {}
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):
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
        process asks again. So is one after something the fingerprint covers has changed
        in this process (torch's matmul precision, say): the answers may be the new
        settings', which the file is not for."""
        if not found:
            return
        if self.fingerprint is not None:
            try:
                if fingerprint() != self.fingerprint:
                    return
            except OSError:  # (a source file gone mid-upgrade: not the file's conditions)
                return
        self._kinds = None  # read again: another process may have added answers
        merged = self._read()
        merged.setdefault(kind, {}).update(found)
        new = not self.path.exists()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=self.path.parent, prefix="facts-", suffix=".tmp")
        except OSError:
            return
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(merged, out, sort_keys=True)
            os.replace(name, self.path)  # whole or not at all
        except OSError:
            Path(name).unlink(missing_ok=True)
        if new:
            _prune(self.path.parent)


STALE_DAYS = 7
"""Answer files not written for this long are removed when a new one is started (a new
fingerprint: an upgrade, or in a checkout every edit of the engine's sources)."""


def _prune(folder: Path) -> None:
    """Remove answer files, and temporary files of writes that never finished, last
    written more than :data:`STALE_DAYS` ago."""
    stale = time.time() - STALE_DAYS * 86400
    for pattern in ("facts-*.json", "facts-*.tmp"):
        for path in folder.glob(pattern):
            try:
                if path.stat().st_mtime < stale:
                    path.unlink()
            except OSError:
                continue


def cache_dir() -> Path:
    """Where optiscope keeps what it learns about this machine: its compiled kernels and
    these answers (``$XDG_CACHE_HOME/optiscope``, else ``~/.cache/optiscope``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "optiscope"


@cache
def machine_facts() -> Facts | None:
    """This machine's answers, in the file named by :func:`fingerprint` at the first call of
    the process; ``None`` where :func:`enabled` is false, where the CPU cannot be told apart
    from others (no ``/proc/cpuinfo``: macOS, Windows), or where the fingerprint or the
    folder cannot be had (no home folder, a file vanishing during an upgrade): every
    process then asks, as before."""
    if not enabled() or _cpu_lines() is None:
        return None
    try:
        now = fingerprint()
        return Facts(cache_dir() / f"facts-{now}.json", now)
    except (OSError, RuntimeError, KeyError):  # (Path.home() raises RuntimeError)
        return None
