"""A step's torch calls recorded once and replayed from C++ (engine/_replay.py).

What must hold: the replay leaves every tensor as the Python calls do, bit for bit, reading
the tensors' values at each run; one recording moves to another batch of the same layout and
refuses any other; what it cannot replay (an argument the C++ side does not take, a step
with effects outside its tensors) is refused and the Python calls run; training gives the
same curves with and without it; the library builds where it is missing, in the background,
without a half-written file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from torch import Tensor

from optiscope.engine import _replay
from optiscope.records import RunConfig
from optiscope.sweeps import InProcessBackend, run_configs


@pytest.fixture
def lib() -> _replay.Library:
    library = _replay.library()
    if library is None:
        pytest.fail(f"no replay library: {_replay.unavailable_reason()}")
    return library


@pytest.fixture
def off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(_replay.ENV, "off")
    _replay.library.cache_clear()
    yield
    monkeypatch.undo()
    _replay.library.cache_clear()


def _layer_step(
    x: Tensor, w: Tensor, b: Tensor, h: Tensor, loss: Tensor, y: Tensor
) -> Callable[[], None]:
    """A small forward and loss as the engine writes them: products into buffers, an
    in-place activation, temporaries, views made inside the step, a reduction."""
    rows = float(x.shape[0])

    def step() -> None:
        torch.addmm(b, x, w.t(), out=h)
        h.clamp_min_(0.0)
        diff = h.sum(1, keepdim=True) - y  # a temporary, read by the next calls
        torch.sum(diff.square(), 0, out=loss)
        loss.div_(rows)

    return step


def _tensors(seed: int = 0) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    data = torch.randn(64, 5, generator=g)
    return {
        "data": data,
        "targets": torch.randn(64, 1, generator=g),
        "w": torch.randn(7, 5, generator=g),
        "b": torch.randn(7, generator=g),
        "h": torch.empty(16, 7),
        "losses": torch.empty(4, 1),
    }


def _step_for(t: dict[str, Tensor], batch: int) -> tuple[Callable[[], None], list[Tensor]]:
    rows = slice(16 * batch, 16 * batch + 16)
    x, y, loss = t["data"][rows], t["targets"][rows], t["losses"][batch]
    return _layer_step(x, t["w"], t["b"], t["h"], loss, y), [x, y, loss]


def test_a_replay_gives_the_python_calls_bits_on_the_values_of_each_run(
    lib: _replay.Library,
) -> None:
    t = _tensors()
    step, batch = _step_for(t, 0)
    recording = _replay.record(step, batch)
    assert recording is not None
    replay = recording.bind(batch)
    assert replay is not None
    for seed in (1, 2, 3):  # new values after the recording: the program reads them anew
        fresh = _tensors(seed)
        for name in ("data", "targets", "w", "b"):
            t[name].copy_(fresh[name])
        step()
        expected = (t["h"].clone(), t["losses"][0].clone())
        assert expected[1].isfinite().all()
        t["h"].fill_(float("nan"))
        t["losses"][0].fill_(float("nan"))
        replay()
        assert torch.equal(t["h"], expected[0]) and torch.equal(t["losses"][0], expected[1])


def test_one_recording_serves_every_batch_of_its_layout(lib: _replay.Library) -> None:
    t = _tensors()
    step, batch = _step_for(t, 0)
    recording = _replay.record(step, batch)
    assert recording is not None
    for j in (1, 2, 3):
        python, other = _step_for(t, j)
        replay = recording.bind(other)
        assert replay is not None
        python()
        expected = (t["h"].clone(), t["losses"][j].clone())
        t["h"].zero_()
        t["losses"][j].zero_()
        replay()
        assert torch.equal(t["h"], expected[0]) and torch.equal(t["losses"][j], expected[1])


def test_a_batch_of_another_layout_is_refused(lib: _replay.Library) -> None:
    t = _tensors()
    step, batch = _step_for(t, 0)
    recording = _replay.record(step, batch)
    assert recording is not None
    x, y, loss = batch
    assert recording.bind([x.clone(), y, loss]) is None  # another storage
    assert recording.bind([t["data"][16:24], y, loss]) is None  # another shape
    assert recording.bind([t["data"][:32:2], y, loss]) is None  # other strides


def test_roots_in_one_storage_are_refused(lib: _replay.Library) -> None:
    """A delta per root moves every view of its storage: two roots in one are ambiguous."""
    t = _tensors()
    joined = torch.cat([t["data"], t["targets"]], 1)
    x, y = joined[:16, :5], joined[:16, 5:]
    step = _layer_step(x, t["w"], t["b"], t["h"], t["losses"][0], y)
    assert _replay.record(step, [x, y]) is None


def test_what_the_replay_cannot_take_is_refused(lib: _replay.Library) -> None:
    a, joined = torch.randn(8, 3), torch.empty(16, 3)
    # a list of tensors, a dtype the C++ side has no code for: arguments it does not encode
    assert _replay.record(lambda: torch.cat([a, a], out=joined), [a]) is None
    half = torch.empty(3, dtype=torch.float16)
    assert _replay.record(lambda: torch.sum(a, 0, dtype=torch.float16, out=half), [a]) is None
    # a dtype it has: replayed
    double = torch.empty(3, dtype=torch.float64)
    assert _replay.record(lambda: torch.sum(a, 0, dtype=torch.float64, out=double), [a])


def test_a_step_with_effects_outside_its_tensors_is_refused(lib: _replay.Library) -> None:
    """A Python value that changes between runs would be frozen into the recording: the
    check against the Python calls sees the difference."""
    a = torch.zeros(4)
    count = [0]

    def step() -> None:
        count[0] += 1
        a.fill_(float(count[0]))

    assert _replay.record(step, [a]) is None


def test_a_tensor_made_per_batch_outside_the_roots_fails_the_first_move(
    lib: _replay.Library,
) -> None:
    """A batch's own constant that is not a view of its roots (as a classifier's NLL
    gradient is) stays the recorded batch's in the replay: the first move to another batch
    is checked against that batch's Python calls, and the recording is dropped."""
    t = _tensors()

    def step_for(batch: int) -> tuple[Callable[[], None], list[Tensor]]:
        x, loss = t["data"][16 * batch : 16 * batch + 16], t["losses"][batch]
        own = x.sum(1).clone()  # made when the step is bound, from this batch

        def step() -> None:
            torch.dot(own, own, out=loss[0])

        return step, [x, loss]

    step, batch = step_for(0)
    recording = _replay.record(step, batch)
    assert recording is not None
    python, other = step_for(1)
    assert recording.bind(other) is not None  # (unchecked: the moved replay alone)
    assert recording.bind_checked(other, python) == (None, True)
    assert not recording.usable and recording.bind(other) is None
    expected = t["losses"].clone()
    python()
    assert torch.equal(t["losses"], expected)  # the check left the memory as after one run


def test_scratch_space_of_the_recorded_batch_does_not_fail_the_first_move(
    lib: _replay.Library,
) -> None:
    """Each plan may have its own scratch buffer (written, then read, within the step): the
    moved replay writes the recorded plan's, which the other batch's calls never touch."""
    t = _tensors()

    def step_for(batch: int) -> tuple[Callable[[], None], list[Tensor]]:
        x, loss = t["data"][16 * batch : 16 * batch + 16], t["losses"][batch]
        scratch = torch.empty(16)  # this plan's own

        def step() -> None:
            torch.sum(x, 1, out=scratch)
            torch.dot(scratch, scratch, out=loss[0])

        return step, [x, loss]

    step, batch = step_for(0)
    recording = _replay.record(step, batch)
    assert recording is not None
    for j in (1, 2, 3):
        python, other = step_for(j)
        replay, ran = recording.bind_checked(other, python)
        assert replay is not None and ran == (j == 1)
        if not ran:
            replay()
        expected = t["losses"][j].clone()
        python()
        assert torch.equal(t["losses"][j], expected)


def test_values_taken_from_tensors_into_python_are_refused(lib: _replay.Library) -> None:
    """``.item()`` or a tensor made from Python numbers during the step: the recording
    would freeze the recorded run's value."""
    a, out = torch.randn(16), torch.empty(16)
    assert _replay.record(lambda: out.fill_(a.sum().item()), [a]) is None
    assert _replay.record(lambda: out.copy_(torch.tensor(float(a[0]))), [a]) is None


def test_random_draws_are_refused_after_one_run(lib: _replay.Library) -> None:
    """The step runs once (as without replay), so the random stream is where it would be."""
    a, out = torch.randn(16), torch.empty(16)
    torch.manual_seed(0)
    assert _replay.record(lambda: out.uniform_(), [a]) is None
    after_record = torch.rand(3)
    torch.manual_seed(0)
    torch.empty(16).uniform_()
    assert torch.equal(torch.rand(3), after_record)


def _replays_like_python(
    step: Callable[[], object], root: Tensor, written: Tensor
) -> _replay.Recording:
    """``step`` recorded with ``root``, then run on new values of ``root`` both ways:
    the replay writes ``written`` (cleared before it) as the Python calls did."""
    recording = _replay.record(step, [root])
    assert recording is not None
    replay = recording.bind([root])
    assert replay is not None
    root.copy_(torch.randn(root.shape))
    step()
    expected = written.clone()
    written.zero_()
    replay()
    assert torch.equal(written, expected)
    return recording


def test_writes_through_views_made_in_the_step_are_checked(lib: _replay.Library) -> None:
    a, buffer = torch.randn(16), torch.zeros(32)

    def step() -> None:
        torch.mul(a, 2.0, out=buffer[8:24])

    assert _replays_like_python(step, a, buffer).written


def test_string_arguments_are_replayed(lib: _replay.Library) -> None:
    """GELU's ``approximate``."""
    a, out = torch.randn(8, 5), torch.empty(8, 5)

    def step() -> None:
        torch.ops.aten.gelu.out(a, approximate="tanh", out=out)

    _replays_like_python(step, a, out)


def test_a_move_that_would_reach_past_the_storage_is_refused(lib: _replay.Library) -> None:
    """A view of a root's storage wider than the root, moved with it."""
    data, out = torch.randn(64), torch.empty(())

    def step_for(first: int) -> tuple[Callable[[], object], list[Tensor]]:
        x, wide = data[first : first + 16], data[first : first + 24]
        return lambda: torch.sum(wide, 0, out=out), [x]

    step, roots = step_for(0)
    recording = _replay.record(step, roots)
    assert recording is not None
    assert recording.bind(step_for(40)[1]) is not None  # (reaches element 64: the end)
    assert recording.bind(step_for(48)[1]) is None


def test_a_step_writing_more_than_a_check_may_copy_is_left_to_python(
    lib: _replay.Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check holds two copies of what the step writes: past the bound (a group of
    hundreds of configs), the Python calls run instead of doubling the memory."""
    a, out = torch.randn(1024), torch.empty(1024)

    def step() -> None:
        torch.mul(a, 2.0, out=out)

    monkeypatch.setattr(_replay, "CHECKED_BYTES", out.nbytes - 1)
    assert _replay.record(step, [a]) is None
    monkeypatch.setattr(_replay, "CHECKED_BYTES", out.nbytes)
    assert _replay.record(step, [a]) is not None


def test_a_cpp_error_is_raised_with_its_message(lib: _replay.Library) -> None:
    program = lib.new()
    try:
        with pytest.raises(RuntimeError, match="no_such_op"):
            lib.check(lib.call(program, b"aten::no_such_op", b"", None, 0, None, None, 0))
    finally:
        lib.free(program)


def test_off_means_the_python_calls(off: None) -> None:
    assert _replay.library() is None
    assert _replay.unavailable_reason() == f"{_replay.ENV} is off"
    t = _tensors()
    step, batch = _step_for(t, 0)
    assert _replay.record(step, batch) is None


def _sweep() -> list[RunConfig]:
    return [
        RunConfig(hparams={"lr": lr}, batch_size=batch_size, epochs=3, seed=5)
        for batch_size in (2, 16)
        for lr in (0.01, 0.001)
    ]


def test_training_gives_the_same_records_with_and_without_replay(
    lib: _replay.Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch sizes 2 and 16 (data slices at two alignments, a short last batch), with the
    validation's forward-only plans; in this process, so the plans that replay can be
    counted: all of them (the first move of each recording checked and passed)."""
    bound: list[bool] = []
    original = _replay.Recording.bind_checked

    def bind_checked(
        self: _replay.Recording, roots: list[Tensor], python: Callable[[], object]
    ) -> tuple[Callable[[], object] | None, bool]:
        replay, ran = original(self, roots, python)
        bound.append(replay is not None)
        return replay, ran

    monkeypatch.setattr(_replay.Recording, "bind_checked", bind_checked)
    replayed = run_configs(_sweep(), backend=InProcessBackend())
    assert len(bound) > 100 and all(bound)
    monkeypatch.setenv(_replay.ENV, "off")
    _replay.library.cache_clear()
    try:
        plain = run_configs(_sweep(), backend=InProcessBackend())
    finally:
        monkeypatch.undo()
        _replay.library.cache_clear()
    for a, b in zip(replayed, plain, strict=True):
        assert a.curve.valid_loss == b.curve.valid_loss
        assert a.curve.train_loss == b.curve.train_loss


def _wait(process: subprocess.Popen[bytes] | None) -> int:
    """The background build's exit status; it is killed (its session) if it hangs."""
    assert process is not None
    try:
        return process.wait(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()


def test_a_missing_library_is_built_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Into the cache, through a temporary file renamed into place, one build at a time;
    then it loads."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(_replay.ENV)
    target = _replay._cache_path()
    assert not target.exists()
    process = _replay.start_build()
    assert _replay.start_build() is None  # (a second process meanwhile: not twice)
    assert _wait(process) == 0
    assert target.exists()
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no lock, no scratch
    assert _replay.Library(target).new() is not None


def test_a_failed_build_is_not_tried_again_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its messages are kept; later processes run the Python calls without starting a
    compiler each; the setup step tries again."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CXX", "false")  # a compiler that fails
    monkeypatch.delenv(_replay.ENV)
    assert _wait(_replay.start_build()) == 0
    failed = _replay._failed_path()
    assert failed.exists() and not _replay._cache_path().exists()
    assert _replay.start_build() is None
    _replay.library.cache_clear()
    try:
        assert _replay.library() is None
        assert str(failed) in (_replay.unavailable_reason() or "")
    finally:
        _replay.library.cache_clear()
    with pytest.raises(OSError, match="failed"):
        _replay.build()
    assert not failed.exists()  # (the setup step retried; its own error is its message)


def test_the_setup_step_builds_or_says_why(tmp_path: Path) -> None:
    """The setup script's step (``_replay.main()``) with no compiler:
    it says so and succeeds (training runs the Python calls); nothing half-written."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "CXX": str(tmp_path / "no-cc")}
    result = subprocess.run(
        [sys.executable, "-c", "from optiscope.engine import _replay; _replay.main()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0
    assert "not built" in result.stderr
    assert not list(tmp_path.rglob("replay-*"))
