"""A training step's torch calls, recorded once and replayed from C++.

At a few configs a step is a few dozen small torch calls (three products, the activations,
the loss, the backward pass), and from Python each call costs about 0.7 us more than the same
call from C++: parsing its arguments, the Python binding (on the AMD EPYC these notes were
written on: ``torch.mm`` of a 2 x 50 and a 50 x 50 matrix into a buffer, 1.44 us from Python,
0.74 from C++). So a step's calls are recorded once, as the ATen operators torch's dispatcher
receives them (a :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees each operator
with its whole argument list), and :file:`_replay.cpp` calls the same operators with the same
arguments on the same memory: the same kernels, so the same numbers. A recording is checked
once against the Python calls, bit for bit, on every tensor the step can touch.

One recording serves every batch of one layout: the batch's slices of the data set (the
"roots") are moved by an offset at each run (:meth:`Recording.bind`).

The library is compiled with the system C++ compiler against torch's headers (about 8 s on
that machine), once per machine and torch build, into ``$XDG_CACHE_HOME/optiscope``; the
setup script builds it (:func:`main`). A process that does not find
it starts the build in the background and runs the Python calls until a later process finds
it: training never waits for a compiler. Where it cannot be built or loaded, or with
``OPTISCOPE_REPLAY=off``, or when a step uses an argument the recording does not handle, the
Python calls run (the same numbers, slower).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

from optiscope.optim import cache_dir, compile_cached, switched_off

__all__ = ["ENV", "Recording", "build", "library", "record", "unavailable_reason"]

ENV = "OPTISCOPE_REPLAY"
"""``off`` (or ``0``, ``no``, ``false``): never replay, the Python calls run; a path: the
library built there (never built in the background: the test suite builds it once and names
it so); unset or ``on``: the library in the cache, built in the background when missing."""

SOURCE = Path(__file__).with_name("_replay.cpp")
_TORCH = Path(torch.__file__).parent
FLAGS = (
    "-O2",
    "-std=c++20",
    "-shared",
    "-fPIC",
    "-w",  # (torch's headers warn a lot)
    f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",
    "-I",
    str(_TORCH / "include"),
)
LINK = ("-L", str(_TORCH / "lib"), "-ltorch_cpu", "-lc10", f"-Wl,-rpath,{_TORCH / 'lib'}")
_DTYPES = {torch.float32: 0, torch.float64: 1, torch.int64: 2, torch.int32: 3, torch.bool: 4}
# Argument kinds, as _replay.cpp numbers them.
_NONE, _EXTERNAL, _SLOT, _INT, _REAL, _BOOL, _INT_LIST = range(7)
_WRAPPED_INT, _WRAPPED_REAL, _DTYPE, _STR = range(7, 11)
_REFUSED = frozenset({"aten::lift_fresh", "aten::lift_fresh_copy"})
"""Operators that make a tensor from Python data during the step: the recording would keep
the recorded run's value."""
_P, _I = ctypes.c_void_p, ctypes.c_int64
_REASON: list[str] = []


def _setting() -> str:
    return os.environ.get(ENV, "").strip()


def enabled() -> bool:
    return not switched_off(ENV)


def _compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")


def _cache_path() -> Path:
    key = hashlib.sha256(SOURCE.read_bytes())
    for part in (*FLAGS, *LINK, torch.__version__, str(torch.version.git_version), sys.platform):
        key.update(part.encode())
    return cache_dir() / f"replay-{key.hexdigest()[:16]}.so"


def _command(target: Path) -> list[str]:
    compiler = _compiler()
    if compiler is None:
        raise OSError("no C++ compiler (c++ or g++) on PATH")
    return [compiler, *FLAGS, str(SOURCE), "-o", str(target), *LINK]


BUILDING_SECONDS = 600
"""How long a build may take (and a background one before another process may start its
own)."""


def build() -> Path:
    """Compile the library into the cache now (the setup script's step); its path.

    Raises:
        OSError: no compiler, or the compiler failed (its message).
    """
    target = _cache_path()
    if not target.exists():
        _failed_path().unlink(missing_ok=True)  # (asked to build: a failure before is retried)
    return compile_cached(target, _command, timeout=BUILDING_SECONDS)


def start_build() -> subprocess.Popen[bytes] | None:
    """Start compiling the library in the background (in its own session, so it outlives
    this process); ``None`` where there is no compiler, the cache cannot be written, another
    process is building it, or a build failed before (its messages are then in the file
    :func:`_failed_path` names; the setup script's :func:`main` tries again).

    The build writes a temporary file and renames it into place, so no process loads a
    half-written library; a lock file keeps processes that start meanwhile from building it
    too.
    """
    target = _cache_path()
    failed, lock = _failed_path(), target.with_suffix(".building")
    if failed.exists():
        _REASON[:] = [f"the replay library failed to build (see {failed})"]
        return None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = target.with_name(f"{target.stem}.{os.getpid()}.tmp")
        command = shlex.join(_command(scratch))
        if not _take(lock):
            _REASON[:] = ["the replay library is being built by another process"]
            return None
    except OSError as err:
        _REASON[:] = [f"the replay library cannot be built: {err}"]
        return None
    tmp, out, log, held = (shlex.quote(str(p)) for p in (scratch, target, failed, lock))
    limit = f"timeout {BUILDING_SECONDS} " if shutil.which("timeout") else ""
    script = (
        f"if {limit}{command} >{log}.log 2>&1; then mv -f {tmp} {out}; rm -f {log}.log; "
        f"else mv -f {log}.log {log}; fi; rm -f {tmp} {held}"
    )
    try:
        process = subprocess.Popen(
            ["/bin/sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except (OSError, subprocess.SubprocessError) as err:
        lock.unlink(missing_ok=True)
        _REASON[:] = [f"the replay library cannot be built: {err}"]
        return None
    _BUILDS.append(process)  # (held, so that it is not reported as left running)
    return process


_BUILDS: list[subprocess.Popen[bytes]] = []


def _failed_path() -> Path:
    return _cache_path().with_suffix(".failed")


def _take(lock: Path) -> bool:
    """Create ``lock`` unless it exists and is younger than :data:`BUILDING_SECONDS`."""
    for _ in range(2):
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return True
        except FileExistsError:
            try:
                if time.time() - lock.stat().st_mtime < BUILDING_SECONDS:
                    return False
                lock.unlink()  # a build that died: take over
            except FileNotFoundError:
                pass  # (it just finished)
    return False


class Library:
    """The loaded library's functions."""

    def __init__(self, path: Path) -> None:
        self._cdll = ctypes.CDLL(str(path))
        lib = self._cdll
        lib.rp_error.restype = ctypes.c_char_p
        lib.rp_new.restype = _P
        lib.rp_free.argtypes = [_P]
        lib.rp_external.argtypes = [_P, _P, _I, _I, _I, _P, _P, _I, _I]
        lib.rp_external.restype = _I
        lib.rp_call.argtypes = [_P, ctypes.c_char_p, ctypes.c_char_p, _P, _I, _P, _P, _I]
        lib.rp_call.restype = ctypes.c_int
        self.new, self.free = lib.rp_new, lib.rp_free
        self.external, self.call = lib.rp_external, lib.rp_call

    def runner(self) -> Callable[[int, int], int]:
        """A fresh handle on ``rp_run(program, deltas)`` that raises on a C++ error."""
        run = ctypes.CFUNCTYPE(ctypes.c_int, _P, _P)(("rp_run", self._cdll))
        run.errcheck = self._check  # type: ignore[assignment]
        return run

    def check(self, status: int) -> None:
        if status != 0:
            raise RuntimeError(f"replay: {self._cdll.rp_error().decode()}")

    def _check(self, status: int, *_: object) -> int:
        self.check(status)
        return status


@cache
def library() -> Library | None:
    """The loaded library; ``None`` where it is off, not built yet (its build is then
    started in the background) or cannot be loaded (see :func:`unavailable_reason`)."""
    _REASON.clear()
    if not enabled():
        _REASON.append(f"{ENV} is off")
        return None
    if sys.platform != "linux":
        _REASON.append("replay is built for Linux only")
        return None
    named = _setting().lower() not in ("", "on", "1", "yes", "true")
    try:
        path = Path(_setting()) if named else _cache_path()
        if not path.exists():
            if named:
                _REASON.append(f"{ENV} names {path}, which does not exist")
            elif start_build() is not None:
                _REASON[:] = ["the replay library is being built (for later processes)"]
            return None
        return Library(path)
    except (OSError, RuntimeError) as err:  # (no home folder: Path.home() raises RuntimeError)
        _REASON[:] = [f"the replay library could not be found or loaded: {err}"]
        return None


def unavailable_reason() -> str | None:
    """Why :func:`library` is ``None`` (``None`` when it is not)."""
    return None if library() is not None else (_REASON[0] if _REASON else "unknown")


class _Recorder(TorchDispatchMode):
    """Runs each ATen call of the block it is entered for, and notes it with its result."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # (Nothing recorded here is compiled; torch's default wraps __torch_dispatch__ to
        # keep torch.compile out of it, which imports torch._dynamo: 1.4 s.)
        return False

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, tuple[Any, ...], dict[str, Any], Any]] = []

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.calls.append((func, args, kwargs, out))
        return out


@dataclass(eq=False)
class Recording:
    """One step's calls as a C++ program, for every batch laid out as the recorded one.

    Attributes:
        roots: the recorded batch's root tensors.
        kept: every tensor the program reads or writes (kept alive: it holds only their
            addresses), with its storage's address when recorded.
        written: tensors whose storages the step writes (what a check compares).
        moved: per external on a root's storage: the root, and the first and one past the
            last element it spans when the root's offset is unchanged (bounds for a move).
        checked_moved: a replay moved to another batch was checked against its Python calls
            (:meth:`bind_checked`).
        usable: false once such a check failed.
    """

    lib: Library
    program: int
    roots: tuple[Tensor, ...]
    kept: list[tuple[Tensor, int]] = field(repr=False)
    written: list[Tensor] = field(repr=False)
    moved: list[tuple[int, int, int]] = field(repr=False)
    checked_moved: bool = False
    usable: bool = True

    def __del__(self) -> None:
        if self.program:
            self.lib.free(self.program)
            self.program = 0

    def bind(self, roots: Sequence[Tensor]) -> Callable[[], object] | None:
        """The step for a batch whose roots have the recorded ones' storage, dtype, sizes
        and strides (only their offsets differ); ``None`` for any other (or once a check
        of :meth:`bind_checked` failed)."""
        deltas = self._deltas(roots)
        return None if deltas is None else self._runner(deltas)

    def _runner(self, deltas: Sequence[int]) -> Callable[[], object]:
        values = (_I * max(1, len(deltas)))(*deltas)
        run, program = self.lib.runner(), self.program
        address = ctypes.addressof(values)

        def step() -> None:
            run(program, address)

        step.keep = (self, values)  # type: ignore[attr-defined]  # (what `address` points to)
        return step

    def bind_checked(
        self, roots: Sequence[Tensor], python: Callable[[], object]
    ) -> tuple[Callable[[], object] | None, bool]:
        """:meth:`bind`, for a batch whose Python calls are ``python`` (its inputs in
        place), and whether the step was run here.

        The first binding to another batch runs ``python`` (recording its calls) and
        checks the moved replay against it, bit for bit, on the memory those calls write
        and on what the recorded batch's calls wrote that these touch too (not on buffers
        of the recorded batch's own that these never touch: scratch space); so a tensor
        that differs between batches without being a view of a root shows up. A failure
        makes this and every later binding ``None``. The memory is left as after one run.
        """
        deltas = self._deltas(roots)
        if deltas is None:
            return None, False
        step = self._runner(deltas)
        if self.checked_moved or not any(deltas):
            return step, False
        recorder = _Recorder()
        with recorder:
            python()
        touched: set[int] = set()  # storages these calls read or write
        made: set[int] = set()  # storages of tensors these calls made (temporaries)
        written: list[Tensor] = []
        for func, args, kwargs, out in recorder.calls:
            inputs = []
            for argument, value in _arguments(func, args, kwargs):
                if isinstance(value, Tensor):
                    inputs.append(value)
                    touched.add(value.untyped_storage().data_ptr())
                    if _writes(argument):
                        written.append(value)
            made.update(t.untyped_storage().data_ptr() for t in _new_results(out, inputs))
        recorder.calls.clear()  # (the temporaries go before the check doubles the memory)
        written = [t for t in written if t.untyped_storage().data_ptr() not in made]
        written += [t for t in self.written if t.untyped_storage().data_ptr() in touched]
        if not _agrees(python, step, written):
            self.usable = False
            return None, True
        self.checked_moved = True
        return step, True

    def _deltas(self, roots: Sequence[Tensor]) -> list[int] | None:
        if not self.usable:
            return None
        deltas = []
        for new, old in zip(roots, self.roots, strict=True):
            if (
                new.untyped_storage().data_ptr() != old.untyped_storage().data_ptr()
                or new.dtype != old.dtype
                or new.shape != old.shape
                or new.stride() != old.stride()
            ):
                return None
            deltas.append(int(new.storage_offset() - old.storage_offset()))
        if any(t.untyped_storage().data_ptr() != base for t, base in self.kept):
            return None  # (a storage moved since, by a resize: the program's address is stale)
        for root, first, end in self.moved:
            numel = self.roots[root].untyped_storage().nbytes() // self.roots[root].element_size()
            if first + deltas[root] < 0 or end + deltas[root] > numel:
                return None
        return deltas


def record(step: Callable[[], object], roots: Sequence[Tensor]) -> Recording | None:
    """``step`` run, and its calls recorded and checked; ``None`` where they cannot be replayed
    (no library; an operator, argument, result or device the C++ side does not take; roots
    sharing memory; or a replay that differs from the Python calls in any bit).

    ``step`` must be a prepared step (the same calls each time, its tensors kept alive by
    it) whose result depends only on what it reads, not on what it wrote before (a
    training step's forward and backward), ready to run (its inputs filled): it runs
    twice here, the replay once, and the memory they write is left as after one run.
    Operators that draw random numbers or make tensors from Python data are refused before
    the second run.
    """
    recorder = _Recorder()
    with recorder:
        step()
    lib = library()
    storages = [r.untyped_storage().data_ptr() for r in roots]
    if lib is None or len(set(storages)) != len(storages):  # (a delta would move both)
        return None
    try:
        recording = _program(lib, recorder.calls, roots)
        recorder.calls.clear()  # (the temporaries go before the check doubles the memory)
        if recording is None or not _agrees(step, recording.bind(roots), recording.written):
            return None
    except RuntimeError:  # (the C++ side refused what the Python side let through)
        return None
    return recording


_Call = tuple[Any, tuple[Any, ...], dict[str, Any], Any]


def _program(lib: Library, calls: list[_Call], roots: Sequence[Tensor]) -> Recording | None:
    """The program of ``calls``, or ``None`` where one has an operator, argument or result
    the C++ side does not take, or nothing it writes can be checked."""
    program = lib.new()
    try:
        encoded = _encode(lib, program, calls, roots)
    except BaseException:
        lib.free(program)
        raise
    if encoded is None:
        lib.free(program)
        return None
    kept, written, moved = encoded
    return Recording(lib, program, tuple(roots), kept, written, moved)


def _encode(
    lib: Library, program: int, calls: list[_Call], roots: Sequence[Tensor]
) -> tuple[list[tuple[Tensor, int]], list[Tensor], list[tuple[int, int, int]]] | None:
    externals: dict[int, int] = {}  # id(tensor) -> external index
    slots: dict[int, int] = {}  # id(tensor) -> slot (a result of an earlier call)
    kept: list[Tensor] = []  # (every tensor seen: no id is reused while encoding)
    outside: list[Tensor] = []  # the externals
    written: list[Tensor] = []
    moved: list[tuple[int, int, int]] = []
    root_storages = [r.untyped_storage().data_ptr() for r in roots]

    def tensor(t: Tensor) -> list[int] | None:
        if id(t) in slots:
            return [_SLOT, slots[id(t)]]
        if id(t) not in externals:
            if t.device.type != "cpu" or t.dtype not in _DTYPES or t.is_sparse:
                return None
            storage = t.untyped_storage()
            base = storage.data_ptr()
            root = root_storages.index(base) if base in root_storages else -1
            if root >= 0:
                if t.dtype != roots[root].dtype:
                    return None  # (a move counts the root's elements)
                first, end = _span(t)
                moved.append((root, first, end))
            sizes = (_I * max(1, t.dim()))(*t.shape)  # (alive until the call returns)
            strides = (_I * max(1, t.dim()))(*t.stride())
            index = lib.external(
                program,
                base,
                storage.nbytes() // t.element_size(),
                _DTYPES[t.dtype],
                t.dim(),
                ctypes.addressof(sizes),
                ctypes.addressof(strides),
                t.storage_offset(),
                root,
            )
            if index < 0:
                lib.check(-1)
            externals[id(t)] = index
            outside.append(t)
        return [_EXTERNAL, externals[id(t)]]

    for func, args, kwargs, out in calls:
        schema = func._schema
        returns = out if isinstance(out, (tuple, list)) else (out,)
        if (
            schema.name in _REFUSED
            or torch.Tag.nondeterministic_seeded in func.tags
            or len(returns) != len(schema.returns)
            or any(r.type.kind() != "TensorType" for r in schema.returns)
        ):
            return None
        code: list[int] = []
        reals: list[float] = []
        inputs: list[Tensor] = []
        for argument, value in _arguments(func, args, kwargs):
            if value is _MISSING:
                return None
            if isinstance(value, Tensor):
                encoded = tensor(value)
                if encoded is None:
                    return None
                code += encoded
                inputs.append(value)
                if _writes(argument):
                    written.append(value)
            elif value is None:
                code.append(_NONE)
            elif isinstance(value, torch.dtype):
                if value not in _DTYPES:
                    return None
                code += [_DTYPE, _DTYPES[value]]
            elif isinstance(value, str):
                data = value.encode()
                code += [_STR, len(data), *data]
            elif argument.type.kind() == "TensorType":  # a number passed as a tensor
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    return None
                if isinstance(value, int):
                    code += [_WRAPPED_INT, value]
                else:
                    code += [_WRAPPED_REAL, len(reals)]
                    reals.append(value)
            elif isinstance(value, bool):
                code += [_BOOL, int(value)]
            elif isinstance(value, int):
                code += [_INT, value]
            elif isinstance(value, float):
                code += [_REAL, len(reals)]
                reals.append(value)
            elif isinstance(value, (list, tuple)) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            ):
                code += [_INT_LIST, len(value), *value]
            else:
                return None
        kept.extend(inputs)
        kept.extend(returns)
        made = _new_results(out, inputs)  # (the others: in place or out=, an input it wrote)
        outputs = []
        for value in returns:
            if any(value is t for t in made):
                slots[id(value)] = len(slots)
                outputs.append(slots[id(value)])
            else:
                outputs.append(-1)
        name, overload = schema.name, schema.overload_name
        code_array = (_I * max(1, len(code)))(*code)
        real_array = (ctypes.c_double * max(1, len(reals)))(*reals)
        output_array = (_I * max(1, len(outputs)))(*outputs)
        lib.check(
            lib.call(
                program,
                name.encode(),
                overload.encode(),
                ctypes.addressof(code_array),
                len(code),
                ctypes.addressof(real_array),
                ctypes.addressof(output_array),
                len(outputs),
            )
        )
    # What a check compares: the memory of every write that outlives the step (through an
    # external, or a view made during the step of an external's storage). A step that
    # writes none of it cannot be checked.
    lasting = {t.untyped_storage().data_ptr() for t in outside}
    written = [t for t in written if t.untyped_storage().data_ptr() in lasting]
    if not written:
        return None
    # Only what the program reads or writes must outlive it: the externals (temporaries
    # the recording ran are released, as the Python calls release theirs).
    return [(t, t.untyped_storage().data_ptr()) for t in outside], written, moved


_MISSING = object()


def _arguments(
    func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Iterator[tuple[Any, Any]]:
    """Each argument of a recorded call's schema with its value: as the call got it, else
    the schema's default, else :data:`_MISSING`."""
    for i, argument in enumerate(func._schema.arguments):
        if i < len(args):
            yield argument, args[i]
        elif argument.name in kwargs:
            yield argument, kwargs[argument.name]
        else:
            yield argument, argument.default_value if argument.has_default_value() else _MISSING


def _writes(argument: Any) -> bool:
    """Whether the schema marks ``argument`` as written (``Tensor(a!)``)."""
    return argument.alias_info is not None and bool(argument.alias_info.is_write)


def _new_results(out: Any, inputs: Sequence[Tensor]) -> list[Tensor]:
    """The tensors a recorded call made (its results but those that are one of its inputs:
    an in-place or ``out=`` call returns the tensor it wrote)."""
    results = out if isinstance(out, (tuple, list)) else (out,)
    return [r for r in results if isinstance(r, Tensor) and not any(r is t for t in inputs)]


def _span(t: Tensor) -> tuple[int, int]:
    """The first element of its storage ``t`` reaches, and one past its last."""
    low = high = offset = int(t.storage_offset())
    for size, stride in zip(t.shape, t.stride(), strict=True):
        if size == 0:
            return offset, offset
        reach = (int(size) - 1) * int(stride)
        low, high = (low + reach, high) if reach < 0 else (low, high + reach)
    return low, high + 1


CHECKED_BYTES = 32 * 2**20
"""The most memory a check compares: it holds two copies. A step that writes more (a group
of hundreds of configs, whose validation activations alone are tens of MB) is left to its
Python calls, which at that size cost little more than a replay (1.05x at 64 configs)."""


def _agrees(
    step: Callable[[], object], replay: Callable[[], object] | None, tensors: Sequence[Tensor]
) -> bool:
    """Whether ``replay`` leaves the memory of ``tensors`` (what ``step`` writes) as ``step``
    does, bit for bit, from the same start (a C++ error, or more than
    :data:`CHECKED_BYTES` to compare, counts as no); that memory is then as it was
    before."""
    if replay is None:
        return False
    blocks = list({t.untyped_storage().data_ptr(): _bytes(t) for t in tensors}.values())
    if sum(b.numel() for b in blocks) > CHECKED_BYTES:
        return False
    before = [b.clone() for b in blocks]
    try:
        step()
        expected = [b.clone() for b in blocks]
        for b, saved in zip(blocks, before, strict=True):
            b.copy_(saved)
        try:
            replay()
        except RuntimeError:
            return False
        return all(torch.equal(b, e) for b, e in zip(blocks, expected, strict=True))
    finally:
        for b, saved in zip(blocks, before, strict=True):
            b.copy_(saved)


def _bytes(t: Tensor) -> Tensor:
    """All of ``t``'s storage, as bytes."""
    return torch.empty(0, dtype=torch.uint8, device=t.device).set_(t.untyped_storage())


def main(*, quiet: bool = False) -> int:
    """Build the library now where it is missing (the setup script's step,
    ``scripts/bootstrap.sh``); ``quiet``: say nothing when it is already there."""
    try:
        built = _cache_path().exists()
        path = build()
    except (OSError, RuntimeError, subprocess.SubprocessError) as err:
        print(
            f"optiscope: the replay library was not built ({err}); training runs its "
            "Python calls instead",
            file=sys.stderr,
        )
        return 0  # not an install failure: everything works without it
    if not (quiet and built):
        print(f"optiscope: replay library at {path}", file=sys.stderr)
    return 0
