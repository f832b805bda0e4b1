"""Question 2: the exercise's momentum from scratch, its test code, and the identity with SGD."""

from __future__ import annotations

import math

import pytest
import torch

from optiscope import race
from optiscope.errors import ConfigError
from optiscope.exercise import optim_step, optimize_rosenbrock, plot_rosenbrock, rosenbrock
from optiscope.optim import FIRST_STEP_DIFFERENCE, ExerciseMomentum
from optiscope.plotting import build_race


def _grad_exercise(x: float, y: float) -> tuple[float, float]:
    """Gradient of (1 - x)^2 + 2 (y - x^2)^2, by hand."""
    return (-2 * (1 - x) - 8 * x * (y - x * x), 4 * (y - x * x))


def _step_pair(opt: torch.optim.Optimizer, p: torch.Tensor) -> torch.Tensor:
    opt.zero_grad()
    rosenbrock(p[0], p[1]).backward()
    opt.step()
    return p.detach().clone()


@pytest.mark.parametrize(("lr", "beta"), [(0.01, 0.9), (0.003, 0.5), (0.02, 0.99), (0.01, 0.0)])
def test_from_scratch_momentum_equals_sgd_with_dampening_beta(lr: float, beta: float) -> None:
    """Bit for bit at every step, once SGD's buffer starts at zero like the exercise's."""
    ours = torch.tensor([-1.0, 2.0], requires_grad=True)
    theirs = torch.tensor([-1.0, 2.0], requires_grad=True)
    exercise = ExerciseMomentum([ours], lr=lr, beta=beta)
    sgd = torch.optim.SGD([theirs], lr=lr, momentum=beta, dampening=beta)
    if beta:
        sgd.state[theirs]["momentum_buffer"] = torch.zeros_like(theirs)
    for _ in range(300):
        assert torch.equal(_step_pair(exercise, ours), _step_pair(sgd, theirs))
        if beta:
            assert torch.equal(
                exercise.state[ours]["velocity"], sgd.state[theirs]["momentum_buffer"]
            )


def test_plain_sgd_differs_at_the_first_step_by_one_over_one_minus_beta() -> None:
    """The footgun FIRST_STEP_DIFFERENCE explains: SGD's first buffer is g, not (1 - beta) g."""
    lr, beta = 0.01, 0.9
    start = torch.tensor([-1.0, 2.0])
    ours = start.clone().requires_grad_(True)
    theirs = start.clone().requires_grad_(True)
    moved_ours = _step_pair(ExerciseMomentum([ours], lr=lr, beta=beta), ours) - start
    moved_sgd = _step_pair(torch.optim.SGD([theirs], lr=lr, momentum=beta, dampening=beta), theirs)
    # Close, not equal: dividing by (1 - beta) rounds differently from the update's multiply.
    torch.testing.assert_close(moved_sgd - start, moved_ours / (1 - beta))
    assert "momentum_buffer" in FIRST_STEP_DIFFERENCE


def test_optim_step_does_the_hand_computed_first_update() -> None:
    lr, beta = 0.01, 0.9
    x = torch.tensor(-1.0, requires_grad=True)
    y = torch.tensor(2.0, requires_grad=True)
    vx, vy = torch.tensor(0.0), torch.tensor(0.0)
    value = optim_step(x, y, lr, vx, vy, beta)
    gx, gy = _grad_exercise(-1.0, 2.0)
    assert value == 6.0  # f(-1, 2) = 4 + 2, before the step
    # The hand values are float64 Python; the step runs in float32: equal to float32 precision.
    assert math.isclose(vx.item(), (1 - beta) * gx, rel_tol=1e-6)
    assert math.isclose(vy.item(), (1 - beta) * gy, rel_tol=1e-6)
    assert math.isclose(x.item(), -1.0 - lr * (1 - beta) * gx, rel_tol=1e-6)
    assert math.isclose(y.item(), 2.0 - lr * (1 - beta) * gy, rel_tol=1e-6)


def test_optim_step_uses_the_accumulated_grad_as_the_exercise_expects() -> None:
    """Without zeroing, the second step sees g1 + g2; the test code zeroes after each call."""
    lr, beta = 0.01, 0.5
    x = torch.tensor(-1.0, requires_grad=True)
    y = torch.tensor(2.0, requires_grad=True)
    vx, vy = torch.tensor(0.0), torch.tensor(0.0)
    optim_step(x, y, lr, vx, vy, beta)
    assert x.grad is not None
    g1 = x.grad.clone()
    x1, y1, v1 = x.item(), y.item(), vx.clone()
    optim_step(x, y, lr, vx, vy, beta)  # not zeroed: grad = g1 + g2
    g2 = torch.tensor(_grad_exercise(x1, y1)[0])
    expected_v = beta * v1 + (1 - beta) * (g1 + g2)
    # g2 is the float64 hand gradient, autograd's is float32: equal to float32 precision.
    torch.testing.assert_close(vx, expected_v)
    assert math.isclose(x.item(), x1 - lr * expected_v.item(), rel_tol=1e-6)


def test_optim_step_needs_tensors_with_gradients() -> None:
    x, y = torch.tensor(-1.0), torch.tensor(2.0)
    with pytest.raises(ConfigError, match="x and y have no requires_grad=True"):
        optim_step(x, y, 0.01, torch.tensor(0.0), torch.tensor(0.0), 0.9)


def test_optimize_rosenbrock_works_as_written_and_fills_the_table() -> None:
    result = optimize_rosenbrock(steps=500, lr=0.01, beta=0.9)
    frame = result.frame
    assert list(frame.columns) == ["step", "x", "y", "value"]
    assert len(frame) == 501 and frame["step"].tolist() == list(range(501))
    assert (frame.loc[0, "x"], frame.loc[0, "y"], frame.loc[0, "value"]) == (-1.0, 2.0, 6.0)
    # every value is the function at that row's position (float32, as the run computes it)
    x = torch.tensor(frame["x"].to_numpy(), dtype=torch.float32)
    y = torch.tensor(frame["y"].to_numpy(), dtype=torch.float32)
    assert rosenbrock(x, y).double().numpy().tolist() == frame["value"].tolist()
    assert frame["value"].iloc[-1] < frame["value"].iloc[0]
    assert result.status == "done"


def test_optimize_rosenbrock_is_the_same_path_as_a_momentum_race() -> None:
    """The exercise's scalar x, y and ExerciseMomentum on a (2,) tensor give the same numbers."""
    result = optimize_rosenbrock(steps=300, lr=0.01, beta=0.9, weight_decay=0.05, decay="l2")
    raced = race(
        "rosenbrock a=1 b=2",
        ["momentum lr=0.01 beta=0.9"],
        steps=300,
        weight_decay=0.05,
        decay="l2",
    )
    assert result.trajectory.x == raced.trajectories[0].x
    assert result.trajectory.y == raced.trajectories[0].y
    assert result.trajectory.value == raced.trajectories[0].value


def test_a_diverging_run_stops_at_its_last_finite_position() -> None:
    result = optimize_rosenbrock(steps=200, lr=0.3, beta=0.0)
    assert result.status == "diverged"
    k = result.trajectory.diverged_step
    assert k is not None and len(result.frame) == k
    assert result.frame[["x", "y", "value"]].map(math.isfinite).all().all()
    assert math.isnan(result.distance)
    # the same k steps by hand: the value at position k is the first that is not finite
    again = optimize_rosenbrock(steps=k, lr=0.3, beta=0.0)
    assert again.trajectory.x[:k] == result.trajectory.x
    assert again.status == "diverged" and again.trajectory.diverged_step == k


def test_the_figure_looks_like_the_exercises() -> None:
    result = optimize_rosenbrock(steps=100, lr=0.01, beta=0.9)
    data = build_race([result.trajectory], result.landscape, start=result.start, steps=100)
    assert data.surface.domain == ((-2.0, 2.0), (-1.0, 3.0))
    assert list(data.surface.levels) == sorted(data.surface.levels)
    (line,) = data.lines
    assert (line.x[0], line.y[0]) == (-1.0, 2.0) and len(line.x) == 101
    ax = result.plot().axes[0]
    assert ax.get_title() == "Optimization Path on Rosenbrock Function"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("X-axis", "Y-axis")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("start") and legend[1].startswith("end")
    assert legend[2] == "minimum (1, 1)"


def test_plot_rosenbrock_darker_is_lower_on_the_exercises_window() -> None:
    import numpy as np

    ax = plot_rosenbrock().axes[0]
    assert ax.get_xlim() == (-2.0, 2.0) and ax.get_ylim() == (-1.0, 3.0)
    contours = ax.collections[0]
    levels, colors = np.asarray(contours.levels), contours.get_facecolor()  # one per band
    assert len(colors) == len(levels) - 1

    def drawn_luminance(x: float, y: float) -> float:
        """Relative luminance of the band the drawn plot paints at (x, y)."""
        band = int(np.searchsorted(levels, float(rosenbrock(x, y)), side="right")) - 1
        r, g, b = colors[min(max(band, 0), len(colors) - 1)][:3]  # the grid's min is >= 0
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    at_minimum = drawn_luminance(1.0, 1.0)
    for high in [(-2.0, -1.0), (2.0, -1.0), (-2.0, 1.0)]:  # f = 59, 51 and 27 there
        assert rosenbrock(*high) > 20 and drawn_luminance(*high) > at_minimum + 0.3, high


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0, "lr": 0.01, "beta": 0.9}, "`steps` = 0 must be a whole number >= 1"),
        ({"steps": 10, "lr": -0.01, "beta": 0.9}, "`lr` = -0.01 is outside"),
        ({"steps": 10, "lr": 0.01, "beta": 1.0}, "`beta` = 1.0 is outside"),
        ({"steps": 10, "lr": 0.01, "beta": 0.9, "decay": "l1"}, "decay = 'l1'"),
        ({"steps": 10, "lr": 0.01, "beta": 0.9, "start": (1,)}, "start = .* must be two"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        optimize_rosenbrock(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weight_decay": 0.1, "decay": "L2"}, "decay = 'L2' is not a kind of weight decay"),
        ({"weight_decay": -0.1}, "weight_decay = -0.1 must be a finite number >= 0"),
        ({"y_grad": False}, "y has no requires_grad=True. Nothing was changed"),
        ({"vx": torch.tensor(0)}, "x_momentum has dtype int64, not a floating-point one"),
        ({"vy": torch.zeros(2)}, r"y_momentum has shape \(2,\), not its parameter's \(\)"),
        ({"vx": 0.0}, "x_momentum is a float, not a tensor"),
    ],
)
def test_optim_step_checks_everything_before_changing_anything(
    kwargs: dict[str, object], match: str
) -> None:
    y_grad = bool(kwargs.pop("y_grad", True))
    x = torch.tensor(-1.0, requires_grad=True)
    y = torch.tensor(2.0, requires_grad=y_grad)
    vx = kwargs.pop("vx", torch.tensor(0.5))
    vy = kwargs.pop("vy", torch.tensor(0.25))
    before = [v.clone() if isinstance(v, torch.Tensor) else v for v in (vx, vy)]
    with pytest.raises(ConfigError, match=match):
        optim_step(x, y, 0.01, vx, vy, 0.9, **kwargs)  # type: ignore[arg-type]
    assert (x.item(), y.item()) == (-1.0, 2.0)
    for velocity, old in zip((vx, vy), before, strict=True):
        assert velocity is old or torch.equal(velocity, old)
    assert x.grad is None  # not even the backward pass ran


def test_optim_step_with_integer_momentum_tensors_is_refused_before_touching_x_grad() -> None:
    x = torch.tensor(-1.0, requires_grad=True)
    y = torch.tensor(2.0, requires_grad=True)
    with pytest.raises(ConfigError, match=r"x_momentum has dtype int64.*y_momentum has dtype"):
        optim_step(x, y, 0.01, torch.tensor(0), torch.tensor(0), 0.9)
    assert x.grad is None and y.grad is None  # the backward pass did not run
