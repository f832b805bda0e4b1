"""The fused optimizer kernels: small C files compiled at first use, loaded with ctypes.

Torch runs Adam's single-tensor step as about a dozen element-wise kernels, each a pass over
the stacked parameters; :file:`_fused_adam.c` does the same float32 operations, element for
element, in one pass (see its header for the list and the FMAs), and :file:`_fused_rms.c`,
:file:`_fused_nadam.c` and :file:`_fused_radam.c` do the same for RMSprop and Adagrad
(:func:`load_rms`), NAdam (:func:`load_nadam`) and RAdam (:func:`load_radam`). Why plain C
through
:mod:`ctypes` rather than a torch C++ extension, numba or an inductor kernel (measured on
the 2-vCPU AMD EPYC these notes were written on, see ``benchmarks/bench_fused.py``):

- it builds in about 0.3 s with the system C compiler (idle machine) and needs no torch
  headers, no ninja and no new dependency (``torch.utils.cpp_extension.load_inline`` of a
  one-line function took 149 s here, under load; numba and inductor choose their own
  instruction sequences, and DESIGN.md records both drifting from torch);
- ``-ffp-contract=off`` with explicit ``fmaf`` pins every rounding;
- the square root is torch's own: on this machine ``torch.sqrt`` is MKL's ``vmsSqrt``, which
  is not the correctly rounded square root for 17% of inputs, so the kernel calls that same
  function out of the already loaded torch library, and the correctly rounded ``sqrtf``
  where torch does not use MKL. Which one agrees with ``torch.sqrt`` is checked at load time.

Each library is built once per machine into ``$XDG_CACHE_HOME/optiscope`` (``~/.cache``),
named by a hash of its source, the flags and the CPU, so processes of a pool share it. Where
there is no C compiler, the build fails, or the loaded library's square root is not torch's
(:func:`load` and the other ``load_*`` check), they return ``None`` with the
reason in :func:`unavailable_reason`, and the update runs as torch calls: the same numbers,
slower.
(Each optimizer then checks its kernel's steps against its torch calls before first use.)
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import TypeVar

import torch

from optiscope.optim._facts import cache_dir, cpu_identity, machine_facts

__all__ = [
    "AdagradArgs",
    "AdamArgs",
    "FusedAdam",
    "FusedNadam",
    "FusedRadam",
    "FusedRms",
    "KernelLibrary",
    "NadamArgs",
    "RadamArgs",
    "RmspropArgs",
    "compile_cached",
    "load",
    "load_nadam",
    "load_radam",
    "load_rms",
    "unavailable_reason",
]

HERE = Path(__file__).parent
"""Where the kernels' sources and their shared header (``_fused_root.h``) are."""
SOURCE = Path(__file__).with_name("_fused_adam.c")
RMS_SOURCE = Path(__file__).with_name("_fused_rms.c")
NADAM_SOURCE = Path(__file__).with_name("_fused_nadam.c")
RADAM_SOURCE = Path(__file__).with_name("_fused_radam.c")
FLAGS = (
    "-O3",
    "-march=native",  # the cache file is named by the CPU's flags (see _cache_path)
    "-ffp-contract=off",  # only the fmaf() calls written in the source are fused
    "-fno-math-errno",  # sqrtf as one instruction (it sets no errno either way here)
    "-std=c11",
    "-shared",
    "-fPIC",
)
VSQRT_MODE = 0x00000002 | 0x00140000 | 0x00000100
"""``VML_HA | VML_FTZDAZ_OFF | VML_ERRMODE_IGNORE``: the mode torch passes to MKL's
``vmsSqrt`` (``ATen/cpu/vml.h``)."""

_REASONS: dict[str, str] = {}  # library ("adam", "rms") -> why load() gave None

_P = ctypes.c_void_p
_I = ctypes.c_int64
_VSQRT = ctypes.CFUNCTYPE(None, ctypes.c_int, _P, _P, ctypes.c_int64)


class AdamArgs(ctypes.Structure):
    """The kernel's arguments (``adam_args`` in the C source): set once per bound tensor,
    only :attr:`bias2` and :attr:`step` change from step to step."""

    _fields_ = [
        ("k", _I),
        ("n", _I),
        ("stride", _I),
        ("p", _P),
        ("m", _P),
        ("v", _P),
        ("g", _P),
        ("decay", _P),
        ("wd", _P),
        ("w1", _P),
        ("beta2", _P),
        ("c2", _P),
        ("eps", _P),
        ("bias2", _P),
        ("step", _P),
        ("clamp", _I),
        ("vsqrt", _P),
        ("vsqrt_mode", _I),
    ]


class RmspropArgs(ctypes.Structure):
    """The RMSprop kernel's arguments (``rmsprop_args`` in :file:`_fused_rms.c`): set once
    per bound tensor, only :attr:`neg_lr` changes from step to step."""

    _fields_ = [
        ("k", _I),
        ("n", _I),
        ("stride", _I),
        ("p", _P),
        ("v", _P),
        ("ga", _P),
        ("b", _P),
        ("g", _P),
        ("mode", _P),
        ("wd", _P),
        ("alpha", _P),
        ("w", _P),
        ("eps", _P),
        ("mu", _P),
        ("neg_lr", _P),
        ("clamp", _I),
        ("vsqrt", _P),
        ("vsqrt_mode", _I),
    ]


class AdagradArgs(ctypes.Structure):
    """The Adagrad kernel's arguments (``adagrad_args`` in :file:`_fused_rms.c`): set once
    per bound tensor, only :attr:`neg_clr` changes from step to step."""

    _fields_ = [
        ("k", _I),
        ("n", _I),
        ("stride", _I),
        ("p", _P),
        ("s", _P),
        ("g", _P),
        ("mode", _P),
        ("wd", _P),
        ("eps", _P),
        ("neg_clr", _P),
        ("clamp", _I),
        ("vsqrt", _P),
        ("vsqrt_mode", _I),
    ]


class NadamArgs(ctypes.Structure):
    """The NAdam kernel's arguments (``nadam_args`` in :file:`_fused_nadam.c`): set once per
    bound tensor; :attr:`decay`, :attr:`bias2`, :attr:`cg` and :attr:`cm` point at this
    step's scalars."""

    _fields_ = [
        ("k", _I),
        ("n", _I),
        ("stride", _I),
        ("p", _P),
        ("m", _P),
        ("v", _P),
        ("g", _P),
        ("mode", _P),
        ("decay", _P),
        ("wd", _P),
        ("w1", _P),
        ("beta2", _P),
        ("c2", _P),
        ("eps", _P),
        ("bias2", _P),
        ("cg", _P),
        ("cm", _P),
        ("clamp", _I),
        ("vsqrt", _P),
        ("vsqrt_mode", _I),
    ]


class RadamArgs(ctypes.Structure):
    """The RAdam kernel's arguments (``radam_args`` in :file:`_fused_radam.c`): set once per
    bound tensor; :attr:`decay`, :attr:`lr`, :attr:`bias1`, :attr:`sb2` and :attr:`rect`
    point at this step's scalars."""

    _fields_ = [
        ("k", _I),
        ("n", _I),
        ("stride", _I),
        ("p", _P),
        ("m", _P),
        ("v", _P),
        ("g", _P),
        ("mode", _P),
        ("decay", _P),
        ("wd", _P),
        ("w1", _P),
        ("beta2", _P),
        ("c2", _P),
        ("eps", _P),
        ("lr", _P),
        ("bias1", _P),
        ("sb2", _P),
        ("rect", _P),
        ("clamp", _I),
        ("vsqrt", _P),
        ("vsqrt_mode", _I),
    ]


MODE_DECAY, MODE_CENTERED, MODE_MOMENTUM = 1, 2, 4
"""Per-config flags of the RMSprop and Adagrad kernels (``mode`` in :file:`_fused_rms.c`)."""


class KernelLibrary:
    """A loaded library and the square root its kernels take (checked by :func:`_same_sqrt`).

    Attributes:
        vsqrt: the address of torch's square root the kernels call (``None``: ``sqrtf``).
    """

    SQRT = "optiscope_sqrt"

    def __init__(self, library: ctypes.CDLL, vsqrt: int | None) -> None:
        self._library = library  # (kept alive: the functions below point into it)
        self.vsqrt = vsqrt
        # What a check of this library's kernels is remembered by (see checked()): the
        # file's name holds a hash of its sources, the compiler flags and the CPU; its size
        # and time tell a rebuild (by another compiler, say) from the file that was checked.
        path = Path(library._name)
        stat = path.stat() if path.exists() else None
        built = f"{stat.st_size} {stat.st_mtime_ns}" if stat is not None else "?"
        root = "vmsSqrt" if vsqrt is not None else "sqrtf"
        self.identity = f"{path.name} {built} {root}"
        self._sqrt = getattr(library, self.SQRT)
        self._sqrt.argtypes = [_P, _P, _I, _P, _I]
        self._sqrt.restype = None

    def _function(self, name: str) -> Callable[[object], None]:
        function = getattr(self._library, name)
        function.argtypes = [_P]
        function.restype = None
        return function  # type: ignore[no-any-return]

    def sqrt(self, values: torch.Tensor) -> torch.Tensor:
        """The kernels' square root of contiguous float32 ``values`` (for checks)."""
        out = torch.empty_like(values)
        self._sqrt(values.data_ptr(), out.data_ptr(), values.numel(), self.vsqrt, VSQRT_MODE)
        return out


class FusedAdam(KernelLibrary):
    """The loaded Adam/AdamW kernel.

    Attributes:
        step: ``step(ctypes.byref(args))``: one step for the tensors ``args`` points to.
    """

    def __init__(self, library: ctypes.CDLL, vsqrt: int | None) -> None:
        super().__init__(library, vsqrt)
        self.step = self._function("optiscope_adam_step")


class FusedRms(KernelLibrary):
    """The loaded RMSprop and Adagrad kernels.

    Attributes:
        rmsprop: ``rmsprop(ctypes.byref(args))`` with :class:`RmspropArgs`: one step.
        adagrad: ``adagrad(ctypes.byref(args))`` with :class:`AdagradArgs`: one step.
    """

    SQRT = "optiscope_rms_sqrt"

    def __init__(self, library: ctypes.CDLL, vsqrt: int | None) -> None:
        super().__init__(library, vsqrt)
        self.rmsprop = self._function("optiscope_rmsprop_step")
        self.adagrad = self._function("optiscope_adagrad_step")


class FusedNadam(KernelLibrary):
    """The loaded NAdam kernel.

    Attributes:
        nadam: ``nadam(ctypes.byref(args))`` with :class:`NadamArgs`: one step.
    """

    SQRT = "optiscope_nadam_sqrt"

    def __init__(self, library: ctypes.CDLL, vsqrt: int | None) -> None:
        super().__init__(library, vsqrt)
        self.nadam = self._function("optiscope_nadam_step")


class FusedRadam(KernelLibrary):
    """The loaded RAdam kernel.

    Attributes:
        radam: ``radam(ctypes.byref(args))`` with :class:`RadamArgs`: one step.
    """

    SQRT = "optiscope_radam_sqrt"

    def __init__(self, library: ctypes.CDLL, vsqrt: int | None) -> None:
        super().__init__(library, vsqrt)
        self.radam = self._function("optiscope_radam_step")


def checked(
    kernel: KernelT | None, agrees: Callable[[KernelT], bool], reasons: list[str], title: str
) -> KernelT | None:
    """``kernel`` if it gives, on test numbers, what the torch calls give (``agrees``); else
    ``None``, with the reason added to ``reasons`` (an optimizer module's ``fused_kernel``).

    The answer for a :class:`KernelLibrary` is remembered on this machine (see
    :mod:`optiscope.optim._facts`): a later process with the same library, CPU and software
    takes it instead of checking again."""
    if kernel is None:
        return kernel
    known = machine_facts()
    question = f"{title}: {kernel.identity}" if isinstance(kernel, KernelLibrary) else None
    answer = None if known is None or question is None else known.answers("kernels").get(question)
    if not isinstance(answer, bool):
        answer = agrees(kernel)
        if known is not None and question is not None:
            known.remember("kernels", {question: answer})
    if answer:
        return kernel
    reasons.append(f"the fused {title} kernel does not reproduce torch's operations here")
    return None


def why_unavailable(kernel: object | None, library: str, reasons: Sequence[str]) -> str | None:
    """Why an optimizer module's checked ``kernel`` is ``None``: its library's build or load
    failed (:func:`unavailable_reason`), or its check (``reasons``, see :func:`checked`);
    ``None`` when there is a kernel."""
    if kernel is not None:
        return None
    return unavailable_reason(library) or (reasons[0] if reasons else None)


def unavailable_reason(library: str = "adam") -> str | None:
    """Why :func:`load` (``"adam"``), :func:`load_rms` (``"rms"``), :func:`load_nadam`
    (``"nadam"``) or :func:`load_radam` (``"radam"``) returned ``None`` (``None`` when it
    has not, or has not been called)."""
    return _REASONS.get(library)


@cache
def load() -> FusedAdam | None:
    """The fused Adam kernel, built on first use; ``None`` where it cannot be had (see the
    module docstring; :func:`unavailable_reason` says why)."""
    return _load(SOURCE, "fused_adam", "adam", FusedAdam)  # (named as before: caches stay)


@cache
def load_rms() -> FusedRms | None:
    """The fused RMSprop and Adagrad kernels, built on first use; ``None`` where they cannot
    be had (``unavailable_reason("rms")`` says why)."""
    return _load(RMS_SOURCE, "fused_rms", "rms", FusedRms)


@cache
def load_nadam() -> FusedNadam | None:
    """The fused NAdam kernel, built on first use; ``None`` where it cannot be had
    (``unavailable_reason("nadam")`` says why)."""
    return _load(NADAM_SOURCE, "fused_nadam", "nadam", FusedNadam)


@cache
def load_radam() -> FusedRadam | None:
    """The fused RAdam kernel, built on first use; ``None`` where it cannot be had
    (``unavailable_reason("radam")`` says why)."""
    return _load(RADAM_SOURCE, "fused_radam", "radam", FusedRadam)


_L = TypeVar("_L", bound=KernelLibrary)
KernelT = TypeVar("KernelT")


_TITLES = {"adam": "Adam", "rms": "RMSprop/Adagrad", "nadam": "NAdam", "radam": "RAdam"}


def _load(
    source: Path, stem: str, name: str, kind: Callable[[ctypes.CDLL, int | None], _L]
) -> _L | None:
    """``source`` built (or found in the cache) and loaded, with the square root that agrees
    with ``torch.sqrt``; ``None`` with the reason in ``_REASONS[name]``."""
    _REASONS.pop(name, None)
    try:
        library = ctypes.CDLL(str(_build(source, stem)))
    except (OSError, subprocess.SubprocessError) as err:
        _REASONS[name] = f"the fused {_TITLES[name]} kernel could not be built or loaded: {err}"
        return None
    for vsqrt in (_torch_vsqrt(), None):
        kernel = kind(library, vsqrt)
        if _same_sqrt(kernel):
            return kernel
    _REASONS[name] = "neither MKL's vmsSqrt nor sqrtf reproduces torch.sqrt on this machine"
    return None


def _torch_vsqrt() -> int | None:
    """The address of ``vmsSqrt`` in the loaded torch library, where torch has MKL."""
    if not torch.backends.mkl.is_available():
        return None
    lib = Path(torch.__file__).parent / "lib"
    for name in ("libtorch_cpu.so", "libtorch_cpu.dylib", "torch_cpu.dll"):
        if (lib / name).exists():
            try:
                function = getattr(ctypes.CDLL(str(lib / name)), "vmsSqrt")  # noqa: B009
            except (OSError, AttributeError):
                return None
            return ctypes.cast(function, ctypes.c_void_p).value
    return None


def _same_sqrt(kernel: KernelLibrary) -> bool:
    """Whether the kernel's square root equals ``torch.sqrt`` on 16,384 numbers spread
    over every binade, with zeros, subnormals, inf and NaN (the two differed on 17% of
    such numbers where they differ at all)."""
    generator = torch.Generator().manual_seed(20261204)
    n = 16_384
    values = torch.rand(n, generator=generator)
    values.mul_(torch.pow(2.0, torch.randint(-149, 128, (n,), generator=generator).float()))
    values[:4] = torch.tensor([0.0, float("inf"), float("nan"), float(torch.finfo().tiny)])
    values[4:1028] = torch.arange(1, 1025, dtype=torch.int32).view(torch.float32)  # subnormals
    expected, got = torch.sqrt(values), kernel.sqrt(values)
    nan = expected.isnan()
    return bool(torch.equal(nan, got.isnan()) and torch.equal(expected[~nan], got[~nan]))


def _build(source: Path = SOURCE, stem: str = "fused_adam") -> Path:
    """The compiled library: from the cache, or compiled into it now."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise OSError("no C compiler (cc or gcc) on PATH")
    return compile_cached(
        _cache_path(source, stem),
        lambda out: [compiler, *FLAGS, "-I", str(HERE), str(source), "-o", str(out), "-lm"],
        timeout=120,
    )


def compile_cached(
    target: Path, command: Callable[[Path], Sequence[str]], *, timeout: float
) -> Path:
    """``target``, unless it exists compiled now by ``command(output)``: the compiler writes
    into a scratch folder beside it, and the file is renamed into place (atomic: processes
    building at once each install a whole file, and none loads a half-written one).

    Raises:
        OSError: the compiler could not run, or failed (the end of its message).
        subprocess.TimeoutExpired: it ran longer than ``timeout`` seconds.
    """
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        built = Path(scratch) / target.name
        argv = list(command(built))
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise OSError(f"{argv[0]} failed: {result.stderr.strip()[-500:]}")
        os.replace(built, target)
    return target


def _cache_path(source: Path = SOURCE, stem: str = "fused_adam") -> Path:
    key = hashlib.sha256()
    flags, cpu = " ".join(FLAGS).encode(), cpu_identity().encode()
    for part in (source.read_bytes(), *_headers(source), flags, cpu):
        key.update(part)
    suffix = ".dll" if sys.platform == "win32" else ".so"
    return cache_dir() / f"{stem}-{key.hexdigest()[:16]}{suffix}"


def _headers(source: Path) -> list[bytes]:
    """The local headers ``source`` includes (``#include "name.h"``), as bytes: part of the
    library's identity. (The Adam kernel includes none, so its cache name is as before.)"""
    names = re.findall(rb'^#include "([^"]+)"', source.read_bytes(), flags=re.MULTILINE)
    found = []
    for name in names:
        beside = source.parent / name.decode()
        found.append((beside if beside.exists() else HERE / name.decode()).read_bytes())
    return found
