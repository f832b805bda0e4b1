"""Forward and backward of K stacked MLPs, op for op what autograd does for one plain model.

For one ``nn.Linear`` in the plain model autograd computes (``z`` the layer's input, ``g`` the
gradient of its output)::

    a = addmm(b, z, W.t())            # forward
    dW = g.t().mm(z); db = g.sum(0)   # backward (mm_mat2_backward for a transposed weight)
    dz = g.mm(W)

and for the activations ``threshold_backward`` (ReLU), ``tanh_backward``, ``sigmoid_backward``
and ``gelu_backward``. Here each of these runs once for all K configs, stacked: ``baddbmm``,
``bmm``, ``sum`` over a stacked axis, through :mod:`optiscope.engine._exact`, which keeps a
batched form only where it reproduces the plain call bit for bit on this machine and falls
back to one plain call per config elsewhere.

Every stacked buffer here puts each config's slice on a 64-byte boundary, like a fresh tensor.
Where a slice is a whole number of vector runs the buffer is contiguous (``bmm`` into it takes
BLAS's batched path); elsewhere it leaves a gap between slices, so element-wise kernels walk
each slice exactly as they walk a plain tensor of that shape (same vector body, same scalar
tail). See :func:`aligned_stack`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property, partial

import torch
from torch import Tensor

from optiscope.engine import _replay
from optiscope.engine._cross_entropy import CrossEntropyHead
from optiscope.engine._exact import Candidate, Operand, choose, per_model, repaying_runs
from optiscope.models import ALIGN, StackedLayout, aligned_row

__all__ = ["ACTIVATION_OPS", "ActivationOps", "StackedMLP", "aligned_stack", "element_offset"]

_aten = torch.ops.aten
_NONE, _MEAN = 0, 1  # torch's reduction codes (at::Reduction)
_ONE = torch.ones(())  # the gradient backward() starts from
# F.mse_loss's own call, with torch's reduction code (its stub says a string): the same
# aten op as torch.ops.aten.mse_loss at half the Python cost (4.9 against 9.6 us)
_mse_loss: Callable[[Tensor, Tensor, int], Tensor] = torch._C._nn.mse_loss  # type: ignore


Call = Callable[[], object]


@dataclass(frozen=True)
class ActivationOps:
    """An activation's forward and backward, as autograd runs them.

    Attributes:
        forward: ``forward(a) -> h``, the plain module's call.
        bind_forward: ``bind_forward(a, h)``: a call writing ``forward(a)`` into ``h``.
        backward: ``backward(grad, saved) -> grad_a``, autograd's call; ``saved`` is ``h``
            or, if ``saves_input``, ``a``.
        bind_backward: ``bind_backward(grad, saved, out)``: a call writing it into ``out``.
        saves_input: whether the backward reads the activation's input instead of its output.
    """

    forward: Callable[[Tensor], Tensor]
    bind_forward: Callable[[Tensor, Tensor], Call]
    backward: Callable[[Tensor, Tensor], Tensor]
    bind_backward: Callable[[Tensor, Tensor, Tensor], Call]
    saves_input: bool = False


ACTIVATION_OPS: dict[str, ActivationOps] = {
    "relu": ActivationOps(
        forward=torch.relu,
        bind_forward=lambda a, h: partial(torch.clamp_min, a, 0, out=h),  # relu's kernel
        backward=lambda g, h: _aten.threshold_backward.default(g, h, 0),
        # (the overload's own C++ entry: its Python __call__ costs about 1.5 us a call)
        bind_backward=lambda g, h, o: partial(
            _aten.threshold_backward.grad_input._op, g, h, 0, grad_input=o
        ),
    ),
    "tanh": ActivationOps(
        forward=torch.tanh,
        bind_forward=lambda a, h: partial(torch.tanh, a, out=h),
        backward=lambda g, h: _aten.tanh_backward.default(g, h),
        bind_backward=lambda g, h, o: partial(_aten.tanh_backward.grad_input, g, h, grad_input=o),
    ),
    "sigmoid": ActivationOps(
        forward=torch.sigmoid,
        bind_forward=lambda a, h: partial(torch.sigmoid, a, out=h),
        backward=lambda g, h: _aten.sigmoid_backward.default(g, h),
        bind_backward=lambda g, h, o: partial(
            _aten.sigmoid_backward.grad_input, g, h, grad_input=o
        ),
    ),
    "gelu": ActivationOps(
        forward=lambda a: _aten.gelu.default(a),
        bind_forward=lambda a, h: partial(_aten.gelu.out, a, out=h),
        backward=lambda g, a: _aten.gelu_backward.default(g, a),
        bind_backward=lambda g, a, o: partial(_aten.gelu_backward.grad_input, g, a, grad_input=o),
        saves_input=True,
    ),
}


@dataclass(frozen=True)
class ProbeCost:
    """Whether probing an operation that gives one number per config (a loss, the bias
    gradient of a 1-unit layer) repays itself: a probe compares at least 1,024 numbers, so it
    makes about a thousand plain calls however many configs there are, while the stacked
    form saves the plain calls of K configs at every step.

    All in microseconds on one core (``benchmarks/bench_probes.py``; AMD EPYC Zen 4).

    Attributes:
        plain: the plain call, per config and step.
        stacked: the stacked form, per step.
        fixed: the probe's plain calls (the same for any K).
        trials: the probe's per-trial work for one config (a trial checks K numbers, so it
            shrinks as 1/K).
    """

    plain: float
    stacked: float
    fixed: float
    trials: float

    def pays(self, k: int, uses: int) -> bool:
        """Whether ``uses`` steps of ``k`` configs save more than the probe costs."""
        return uses * (self.plain * k - self.stacked) >= self.fixed + self.trials / k


LOSS_PROBE = ProbeCost(plain=9.0, stacked=5.0, fixed=7000.0, trials=20000.0)
"""The MSE and its gradient: at K = 4 they repay their probe after about 400 steps (the
exercise's batch size 16 runs 540 full batches in 30 epochs, and its last, shorter batch
only 30), for one config after about 7,000 (batch size 2 runs 10,500)."""
OUTPUT_BIAS_PROBE = ProbeCost(plain=1.4, stacked=1.5, fixed=3000.0, trials=10000.0)
"""The bias gradient of a 1-unit output layer: a sum of one column per config."""

CHEAP_ALONE = frozenset({"outer"})
"""Candidates cheaper than the plain call even for one config (an element-wise product
against a matrix product), tried first whatever K is."""


def _ordered(candidates: list[Candidate], k: int) -> list[Candidate]:
    """For one config, the plain call first (but for :data:`CHEAP_ALONE`): it is the plain
    model's own call, used without a probe (see :func:`optiscope.engine._exact.choose`),
    and seldom slower than a stacked form for one config."""
    if k == 1:
        return sorted(candidates, key=lambda c: (c.name not in CHEAP_ALONE, c.name != "per_model"))
    return candidates


RUN = 16 if torch.backends.cpu.get_cpu_capability() in ("AVX2", "DEFAULT") else 32
"""Elements an element-wise CPU kernel handles per step of its vector loop: two vectors of
float32, 256-bit on AVX2 (and in the portable build), 512-bit on AVX-512 (and assumed for any
other capability). A slice whose size is a multiple of this is walked the same way alone and
inside a longer run."""


def aligned_stack(k: int, shape: Sequence[int], device: torch.device) -> Tensor:
    """An uninitialized ``(k, *shape)`` tensor whose slices start on 64-byte boundaries.

    Where a slice's size is a multiple of :data:`RUN` the tensor is contiguous: element-wise
    kernels then walk each slice exactly as a plain tensor of that shape, and ``bmm`` into it
    takes BLAS's batched path (about twice as fast as one product per slice, which ``bmm``
    falls back to for an output that is not contiguous). Otherwise consecutive slices are
    separated by a gap, so an element-wise kernel cannot merge them into one long run (which
    would change which elements take its vector path).
    """
    numel = math.prod(shape)
    if numel % RUN == 0:
        return torch.empty(k, *shape, device=device)
    return torch.empty(k, aligned_row(numel + 1), device=device)[:, :numel].view(k, *shape)


def element_offset(t: Tensor) -> int:
    """Where ``t`` starts within a 64-byte block, in elements (0 for a fresh tensor)."""
    return (t.data_ptr() % 64) // t.element_size()


def _shared_scratch(rows: int, cols: int, offset: int, device: torch.device) -> Tensor:
    """A ``(rows, cols)`` tensor starting ``offset`` elements into a 64-byte block."""
    base = torch.empty(rows * cols + 2 * ALIGN, device=device)
    start = (offset - element_offset(base)) % ALIGN
    return base[start : start + rows * cols].view(rows, cols)


class StackedMLP:
    """Forward (and backward) of K stacked MLPs for batches of one size.

    Construction checks which kernels are exact (see :mod:`optiscope.engine._exact`);
    :meth:`plan` then binds one batch's whole step into a single call.

    Args:
        layout: the parameters' layout in the stacked buffer.
        activation: ``relu``, ``tanh``, ``sigmoid`` or ``gelu``.
        params: the stacked parameter views (``layout.views(buffer)``), ``(K, ...)`` each.
        grads: views of the gradient buffer, or ``None`` for a forward-only network (its
            activations are then applied in place).
        rows: rows per batch.
        data_offsets: for a data batch shared by all configs (a slice of the data set), the
            offsets (see :func:`element_offset`) its slices can start at; ``None`` when each
            config has its own batch in :attr:`x` and :attr:`y` (shuffled data).
        uses: how many times its plans will run (an operation with one number per config
            is probed only where the stacked form repays that: see :class:`ProbeCost`).
        classes: 0 for a regressor (MSE loss); else the classes of a classifier, trained
            with cross-entropy (see :mod:`optiscope.engine._cross_entropy`); its labels are
            int64 ``(rows,)`` or :attr:`y` ``(K, rows)``.
    """

    def __init__(
        self,
        layout: StackedLayout,
        activation: str,
        params: Sequence[Tensor],
        grads: Sequence[Tensor] | None,
        rows: int,
        *,
        data_offsets: Sequence[int] | None,
        uses: int = 0,
        classes: int = 0,
    ) -> None:
        self.layout, self.rows, self.uses, self.classes = layout, rows, uses, classes
        self.params, self.grads = list(params), None if grads is None else list(grads)
        self.k = k = int(params[0].shape[0])
        device = params[0].device
        self.device = device
        self.act = ACTIVATION_OPS[activation]
        widths = layout.widths
        self.n_layers = len(widths) - 1
        train = grads is not None
        # Per layer i: pre-activation a[i] (K, rows, width[i+1]) and activation h[i].
        self.a = [aligned_stack(k, (rows, w), device) for w in widths[1:]]
        self.h = [
            aligned_stack(k, (rows, w), device) if train else a
            for w, a in zip(widths[1:-1], self.a, strict=False)
        ]
        self.x = aligned_stack(k, (rows, widths[0]), device) if data_offsets is None else None
        self.y: Tensor | None = None
        if data_offsets is None:
            self.y = (
                torch.empty(k, rows, dtype=torch.int64, device=device)  # (K, rows) labels
                if classes
                else aligned_stack(k, (rows, 1), device)
            )
        self.g: list[Tensor] = []  # dL/da[i], for a training network
        self._inner: tuple[list[Call], list[Call]] | None = None  # bound once, see plan()
        self._recordings: dict[Hashable, _replay.Recording | None] = {}  # see _step()
        self._alone = itertools.count()  # keys of plans recorded alone
        scratch = torch.empty(k, layout.row, device=device)  # parameter-shaped, for probes
        if train:
            self.g = [aligned_stack(k, (rows, w), device) for w in widths[1:]]  # dL/da[i]
        self._choose_forward(scratch, activation, data_offsets, train)
        if train:
            self.gh = [aligned_stack(k, (rows, w), device) for w in widths[1:-1]]  # dL/dh[i]
            self._choose_backward(scratch, activation, data_offsets)

    # -- choosing exact kernels ------------------------------------------------------------

    def _loss_order(
        self, candidates: list[Candidate], cost: ProbeCost = LOSS_PROBE
    ) -> list[Candidate]:
        """An operation with one number per config (the loss, its gradient, a 1-unit
        layer's bias gradient): stacked first where its probe repays itself over this
        network's uses (over several runs where the answer is kept: see
        :func:`~optiscope.engine._exact.repaying_runs`); else the plain call first, which
        :func:`choose` takes without a probe where every slice is laid out as a fresh tensor."""
        uses = self.uses * repaying_runs(self.device)
        return candidates if cost.pays(self.k, uses) else _ordered(candidates, 1)

    def _head_order(self, candidates: list[Candidate]) -> list[Candidate]:
        """A classifier's log-softmax: stacked first for K configs (its probe compares a row
        of C numbers a trial, so it is quick); for one config, only over the steps that
        repay the MSE's probe."""
        return self._loss_order(candidates) if self.k == 1 else candidates

    def _key(self, *parts: object) -> tuple[object, ...]:
        return (*parts, self.layout.widths, self.k, self.rows, str(self.device))

    def _data_operand(self, offset: int | None) -> Operand:
        width = self.layout.in_features
        if offset is None:
            assert self.x is not None
            return Operand(self.x, low=-3.0, high=3.0)
        shared = _shared_scratch(self.rows, width, offset, self.device)
        return Operand(shared.expand(self.k, self.rows, width), shared=True, low=-3.0, high=3.0)

    def _layer_inputs(
        self, i: int, data_offsets: Sequence[int] | None
    ) -> dict[int | None, Operand]:
        """Layer ``i``'s input operand per data offset (one entry, ``None``, past layer 0)."""
        if i > 0:
            return {None: Operand(self.h[i - 1])}
        if data_offsets is None:
            return {None: self._data_operand(None)}
        return {o: self._data_operand(o) for o in sorted(set(data_offsets))}

    def _choose_forward(
        self,
        scratch: Tensor,
        activation: str,
        data_offsets: Sequence[int] | None,
        train: bool,
    ) -> None:
        params = self.layout.views(scratch)
        self.forward_ops: list[dict[int | None, Candidate]] = []
        for i in range(self.n_layers):
            weight, bias = Operand(params[2 * i]), Operand(params[2 * i + 1])
            self.forward_ops.append(
                {
                    offset: choose(
                        self._key("linear", i, offset),
                        _ordered(_linear_candidates(self.a[i]), self.k),
                        lambda t: torch.addmm(t[2], t[0], t[1].t()),
                        [z, weight, bias],
                        self.a[i],
                    )
                    for offset, z in self._layer_inputs(i, data_offsets).items()
                }
            )
        act = self.act
        self.act_ops = [
            choose(
                self._key("act", activation, i, train),
                _ordered(
                    [
                        Candidate("stacked", lambda t, o: act.bind_forward(t[0], o)),
                        per_model(lambda t, o: act.bind_forward(t[0], o)),
                    ],
                    self.k,
                ),
                lambda t: act.forward(t[0]),
                [Operand(self.a[i], low=-3.0, high=3.0)],
                self.h[i],
            )
            for i in range(self.n_layers - 1)
        ]
        self.head: CrossEntropyHead | None = None
        if self.classes:
            self.head = CrossEntropyHead(
                self._key, self.a[-1], self.g[-1] if train else None, self._head_order
            )

    # A regressor's MSE and its gradient are chosen when a plan first needs them (before
    # training: the probe overwrites the output buffer): a forward-only network never needs
    # the gradient, and one whose outputs are collected (see plan()) not even the loss.

    def _y_operand(self) -> Operand:
        if self.y is not None:
            return Operand(self.y)
        shared = _shared_scratch(self.rows, 1, 0, self.device)
        return Operand(shared.expand(self.k, self.rows, 1), shared=True)

    @cached_property
    def loss_op(self) -> Candidate:
        """The MSE per config (stacked, or ``mse_loss`` per config)."""
        return choose(
            self._key("mse", self.y is None),
            self._loss_order([Candidate("stacked", _stacked_mse), per_model(_single_mse)]),
            lambda t: _mse_loss(t[0], t[1], _MEAN),
            [Operand(self.a[-1]), self._y_operand()],
            torch.empty(self.k, device=self.device),
        )

    @cached_property
    def loss_grad_op(self) -> Candidate:
        """The MSE's gradient per config (stacked, or ``mse_loss_backward`` per config)."""
        return choose(
            self._key("mse_grad", self.y is None),
            self._loss_order(
                [Candidate("stacked", _stacked_mse_grad), per_model(_single_mse_grad)]
            ),
            lambda t: _aten.mse_loss_backward.default(_ONE, t[0], t[1], _MEAN),
            [Operand(self.a[-1]), self._y_operand()],
            aligned_stack(self.k, (self.rows, 1), self.device),
        )

    def _choose_backward(
        self, scratch: Tensor, activation: str, data_offsets: Sequence[int] | None
    ) -> None:
        params = self.layout.views(scratch)
        grads = self.layout.views(torch.empty_like(scratch))
        self.weight_grad_ops: list[dict[int | None, Candidate]] = []
        self.bias_grad_ops: list[Candidate] = []
        self.input_grad_ops: list[Candidate] = []
        for i in range(self.n_layers):
            self.weight_grad_ops.append(
                {
                    offset: choose(
                        self._key("weight_grad", i, offset),
                        _ordered(_weight_grad_candidates(), self.k),
                        lambda t: t[0].t().mm(t[1]),
                        [Operand(self.g[i]), z],
                        grads[2 * i],
                    )
                    for offset, z in self._layer_inputs(i, data_offsets).items()
                }
            )
            sums = [
                Candidate("stacked", lambda t, o: partial(torch.sum, t[0], 1, out=o)),
                per_model(lambda t, o: partial(torch.sum, t[0], 0, out=o)),
            ]
            one_unit = self.layout.widths[i + 1] == 1
            self.bias_grad_ops.append(
                choose(
                    self._key("bias_grad", i),
                    self._loss_order(sums, OUTPUT_BIAS_PROBE)
                    if one_unit
                    else _ordered(sums, self.k),
                    lambda t: t[0].sum(0),
                    [Operand(self.g[i])],
                    grads[2 * i + 1],
                )
            )
            if i > 0:
                self.input_grad_ops.append(
                    choose(
                        self._key("input_grad", i),
                        _ordered(_input_grad_candidates(self.layout.widths[i + 1]), self.k),
                        lambda t: t[0].mm(t[1]),
                        [Operand(self.g[i]), Operand(params[2 * i])],
                        self.gh[i - 1],
                    )
                )
        act = self.act
        saved = self.a if act.saves_input else self.h
        self.act_grad_ops = [
            choose(
                self._key("act_grad", activation, i),
                _ordered(
                    [
                        Candidate("stacked", lambda t, o: act.bind_backward(t[0], t[1], o)),
                        per_model(lambda t, o: act.bind_backward(t[0], t[1], o)),
                    ],
                    self.k,
                ),
                lambda t: act.backward(t[0], t[1]),
                [Operand(self.gh[i]), Operand(saved[i], low=-3.0, high=3.0)],
                self.g[i],
            )
            for i in range(self.n_layers - 1)
        ]

    # -- running ---------------------------------------------------------------------------

    def plan(
        self, x: Tensor, y: Tensor, loss: Tensor | None, *, collect: Tensor | None = None
    ) -> Callable[[], None]:
        """One batch's forward, per-config MSE (and backward), bound into one call.

        Args:
            x: the batch: ``(rows, F)``, shared by every config (a slice of the data set), or
                :attr:`x` ``(K, rows, F)``.
            y: its targets, ``(rows, 1)`` (labels ``(rows,)`` for a classifier) or :attr:`y`.
            loss: where each config's MSE (cross-entropy) goes, ``(K,)``.
            collect: for a forward-only regressor, ``(K, rows, 1)``: copy the outputs here
                instead of computing the loss (see :mod:`optiscope.engine._batch_losses`).

        Returns:
            A call that runs the step: outputs, losses and (for a training network) the
            gradient of each config's MSE into ``grads``. Gradients are
            ``mse_loss_backward`` for the output, then the layers from last to first.
        """
        offset = element_offset(x) if x.dim() == 2 else None
        batch = [t for t in (x, y, loss, collect) if t is not None]  # what differs per batch
        if x.dim() == 2:
            x, y = x.expand(self.k, *x.shape), y.expand(self.k, *y.shape)
        p, g, grads = self.params, self.g, self.grads
        # Only the first layer reads the batch and only the loss reads the targets; the rest
        # is the same for every batch of this size and is bound once.
        if self._inner is None:
            self._inner = self._bind_inner()
        forward_inner, backward_inner = self._inner
        calls = [self.forward_ops[0][offset].bind([x, p[0], p[1]], self.a[0])]
        calls += forward_inner
        if collect is not None:
            if grads is not None or self.head is not None:
                raise ValueError("only a forward-only regressor's outputs can be collected")
            calls.append(partial(collect.copy_, self.a[-1]))
        elif self.head is not None:
            assert loss is not None
            grad = None if grads is None else g[-1]
            calls += self.head.bind(self.a[-1], y, loss, grad, shuffled=offset is None)
        elif loss is None:
            raise ValueError("a plan computes a loss or collects its outputs")
        elif grads is not None and self.loss_op.name == self.loss_grad_op.name == "stacked":
            calls.append(_stacked_mse_and_grad(self.a[-1], y, loss, g[-1]))
        else:
            calls.append(self.loss_op.bind([self.a[-1], y], loss))
            if grads is not None:
                calls.append(self.loss_grad_op.bind([self.a[-1], y], g[-1]))
        if grads is not None:
            calls += backward_inner
            calls.append(self.weight_grad_ops[0][offset].bind([g[0], x], grads[0]))
            calls.append(self.bias_grad_ops[0].bind([g[0]], grads[1]))
        # A classifier's head wrote this batch's NLL gradient into a tensor of its own (see
        # CrossEntropyHead.bind), not a view of the batch: one recording cannot move from
        # batch to batch, so each such plan is recorded alone.
        alone = self.head is not None and grads is not None and offset is not None
        key = ("plan", offset, loss is None, collect is None, next(self._alone) if alone else -1)
        return self._step(key, calls, batch)

    def loss_plan(self, outputs: Tensor, y: Tensor, loss: Tensor) -> Callable[[], None]:
        """A forward-only regressor's loss of outputs computed elsewhere, as :meth:`plan`'s.

        Args:
            outputs: ``(K, rows, 1)``, equal to what this network's forward would give
                (rows of a forward over the whole set, see
                :mod:`optiscope.engine._whole_forward`).
            y: the targets, ``(rows, 1)``.
            loss: where each config's MSE goes, ``(K,)``.

        Returns:
            A call copying ``outputs`` into this network's output buffer (where the loss was
            probed) and computing the loss from there.
        """
        if self.grads is not None or self.head is not None:
            raise ValueError("only a forward-only regressor's loss is planned apart")
        calls: list[Call] = [
            partial(self.a[-1].copy_, outputs),
            self.loss_op.bind([self.a[-1], y.expand(self.k, *y.shape)], loss),
        ]
        return self._step(("loss",), calls, [outputs, y, loss])

    def _step(
        self, key: Hashable, calls: Sequence[Call], batch: Sequence[Tensor]
    ) -> Callable[[], None]:
        """``calls`` as one step: replayed from C++ where that works (see
        :mod:`optiscope.engine._replay`), else the Python calls. The first run of the first
        step of a ``key`` (the plans of one layout) records its calls, with its inputs in
        place; every plan of that key then replays the recording on its own batch
        (``batch``: its tensors that differ between plans, the same for the calls), the
        first plan on another batch checked against its Python calls."""

        def python() -> None:
            for call in calls:
                call()

        if self.device.type != "cpu" or _replay.library() is None:
            return python
        chosen: list[Callable[[], object]] = []

        def step() -> None:
            if chosen:
                chosen[0]()
                return
            ran = key not in self._recordings
            if ran:
                self._recordings[key] = _replay.record(python, batch)  # (it runs the step)
            recording = self._recordings[key]
            replayed = None
            if recording is not None:
                replayed, checked = recording.bind_checked(batch, python)
                ran = ran or checked
            chosen.append(python if replayed is None else replayed)
            if not ran:
                chosen[0]()

        return step

    def _bind_inner(self) -> tuple[list[Call], list[Call]]:
        """The calls that do not read the batch: the forward after the first layer, and the
        backward down to (not including) the first layer's gradients."""
        p = self.params
        forward: list[Call] = []
        for i in range(self.n_layers):
            if i > 0:
                forward.append(
                    self.forward_ops[i][None].bind(
                        [self.h[i - 1], p[2 * i], p[2 * i + 1]], self.a[i]
                    )
                )
            if i < self.n_layers - 1:
                forward.append(self.act_ops[i].bind([self.a[i]], self.h[i]))
        backward: list[Call] = []
        if self.grads is not None:
            grads, g = self.grads, self.g
            saved = self.a if self.act.saves_input else self.h
            for i in reversed(range(1, self.n_layers)):
                backward.append(
                    self.weight_grad_ops[i][None].bind([g[i], self.h[i - 1]], grads[2 * i])
                )
                backward.append(self.bias_grad_ops[i].bind([g[i]], grads[2 * i + 1]))
                backward.append(self.input_grad_ops[i - 1].bind([g[i], p[2 * i]], self.gh[i - 1]))
                backward.append(
                    self.act_grad_ops[i - 1].bind([self.gh[i - 1], saved[i - 1]], g[i - 1])
                )
        return forward, backward


def _stacked_mse(t: Sequence[Tensor], o: Tensor) -> Callable[[], None]:
    """``mse_loss(out, y)`` per config, as torch computes it: ``(out - y)**2`` element by
    element, then ``mean``, which on CPU is ``sum`` divided by the count. Written out as
    these four calls it costs a third of one ``mse_loss`` call from Python (about 5 against
    16 us, most of it the cost of calling through ``torch.ops``)."""
    out, y = t
    k, count = out.shape[0], math.prod(out.shape[1:])
    squares = torch.empty(out.shape, device=out.device)  # (K, rows, 1), contiguous
    per_config = squares.view(k, count)

    divisor = torch.tensor(float(count), device=out.device)  # exact, and cheaper to pass

    def mse() -> None:
        torch.sub(out, y, out=squares)
        squares.square_()
        torch.sum(per_config, 1, out=o)  # (K,)
        o.div_(divisor)

    return mse


def _stacked_mse_grad(t: Sequence[Tensor], o: Tensor) -> Call:
    """``mse_loss_backward`` per config, stacked: ``(out - y) * (2 / rows)``; the kernel
    computes ``norm * (out - y) * grad`` with ``grad = 1``, which rounds the same."""
    out, y = t
    norm = torch.tensor(2.0 / out.shape[1], device=out.device)  # 0-dim: cheaper to pass

    def grad() -> None:
        torch.sub(out, y, out=o)
        o.mul_(norm)

    return grad


def _stacked_mse_and_grad(out: Tensor, y: Tensor, loss: Tensor, grad: Tensor) -> Call:
    """:func:`_stacked_mse` and :func:`_stacked_mse_grad` (both exact where the probe chose
    them) in one call that forms ``out - y`` once: the same operations on the same numbers,
    one pass fewer."""
    k, count = out.shape[0], math.prod(out.shape[1:])
    diff = torch.empty(out.shape, device=out.device)  # (K, rows, 1), contiguous
    per_config = diff.view(k, count)
    divisor = torch.tensor(float(count), device=out.device)
    norm = torch.tensor(2.0 / out.shape[1], device=out.device)

    def mse_and_grad() -> None:
        torch.sub(out, y, out=diff)
        torch.mul(diff, norm, out=grad)  # mse_loss_backward: (out - y) * (2 / rows)
        diff.square_()
        torch.sum(per_config, 1, out=loss)  # (K,)
        loss.div_(divisor)

    return mse_and_grad


def _single_mse_grad(t: Sequence[Tensor], o: Tensor) -> Call:
    return partial(_aten.mse_loss_backward.grad_input, _ONE, t[0], t[1], _MEAN, grad_input=o)


def _single_mse(t: Sequence[Tensor], o: Tensor) -> Call:
    out, y = t

    def mse() -> None:  # (mse_loss.out writes the unreduced loss into `out` first: a warning)
        o.copy_(_mse_loss(out, y, _MEAN))

    return mse


def _linear_candidates(out: Tensor) -> list[Candidate]:
    """``a = z W^T + b`` for K configs: ``baddbmm``; ``bmm`` of the transposed product (other
    kernels, exact for a 1-unit output layer where ``baddbmm`` is not) into a contiguous
    buffer (BLAS's batched path) or one with aligned slices; one ``addmm`` per config.

    A 1-unit layer whose ``out`` has gaps between its slices (on AVX-512 the output layer's
    ``(K, 16, 1)``, see :func:`aligned_stack`) tries the transposed product first: ``baddbmm``
    into such a buffer is exact there only because it multiplies one slice at a time
    (61 against 26 us on the Xeon the issue measured, 68 against 9 us at K = 64 on the AMD
    EPYC, ``benchmarks/bench_layers.py``). Wider layers keep ``baddbmm`` first: at 300 rows a
    product per slice is as fast as BLAS's batched one into a contiguous scratch buffer
    plus the copy back (measured, same benchmark).

    (A chain of element-wise multiply-adds over the 4 input features is exact here too, and
    was tried: broadcasting makes it slower than ``baddbmm``.)
    """
    k, rows, width = out.shape

    # Scratch buffers, made when a candidate is first bound (most never are) and then reused.
    @cache
    def contiguous() -> Tensor:
        return torch.empty(k, width, rows, device=out.device)  # (K, O, rows)

    @cache
    def aligned() -> Tensor:
        gapped = torch.empty(k, aligned_row(rows * width + 1), device=out.device)
        return gapped[:, : rows * width].view(k, width, rows)  # (K, O, rows)

    def bmm_transposed(buffer: Callable[[], Tensor]) -> Callable[[Sequence[Tensor], Tensor], Call]:
        def bind(t: Sequence[Tensor], o: Tensor) -> Callable[[], None]:
            transposed = buffer()
            z, weight, bias = t[0].mT, t[1], t[2].unsqueeze(1)

            def run() -> None:
                torch.bmm(weight, z, out=transposed)
                torch.add(transposed.mT, bias, out=o)

            return run

        return bind

    candidates = [
        Candidate(
            "baddbmm",
            lambda t, o: partial(torch.baddbmm, t[2].unsqueeze(1), t[0], t[1].mT, out=o),
        ),
        Candidate("bmm_transposed_contiguous", bmm_transposed(contiguous)),
        Candidate("bmm_transposed", bmm_transposed(aligned)),
        per_model(lambda t, o: partial(torch.addmm, t[2], t[0], t[1].t(), out=o)),
    ]
    if width == 1 and not out.is_contiguous():
        candidates[:2] = candidates[1::-1]  # the transposed product first
    return candidates


def _input_grad_candidates(width_out: int) -> list[Candidate]:
    """``dz = g W`` for K configs: for a 1-unit layer each element is one product, an
    element-wise multiply; ``bmm``; one ``mm`` per config."""
    candidates = [
        Candidate("bmm", lambda t, o: partial(torch.bmm, t[0], t[1], out=o)),
        per_model(lambda t, o: partial(torch.mm, t[0], t[1], out=o)),
    ]
    if width_out == 1:  # (K, B, 1) * (K, 1, I)
        candidates.insert(0, Candidate("outer", lambda t, o: partial(torch.mul, t[0], t[1], out=o)))
    return candidates


def _weight_grad_candidates() -> list[Candidate]:
    """``dW = g^T z`` for K configs: ``bmm`` into a contiguous scratch copied into the
    gradient buffer (``bmm`` into a buffer that is not contiguous, as a parameter's slice of
    the gradient buffer is, multiplies one slice at a time: about twice as slow); the same
    for the transposed product (other kernels, exact where the first is not: a 1-unit
    layer); both straight into the gradient buffer; one ``mm`` per config."""

    # Scratch buffers, made when a candidate is first bound and then reused (by shape).
    scratch_of = cache(lambda shape, device: torch.empty(shape, device=device))

    def via_scratch(t: Sequence[Tensor], o: Tensor) -> Callable[[], None]:
        g, z = t
        scratch = scratch_of(o.shape, o.device)  # (K, O, I), contiguous

        def run() -> None:
            torch.bmm(g.mT, z, out=scratch)
            o.copy_(scratch)

        return run

    def via_scratch_transposed(t: Sequence[Tensor], o: Tensor) -> Callable[[], None]:
        g, z = t
        scratch_t = scratch_of(o.mT.shape, o.device)  # (K, I, O), contiguous

        def run() -> None:
            torch.bmm(z.mT, g, out=scratch_t)
            o.copy_(scratch_t.mT)

        return run

    return [
        Candidate("bmm_contiguous", via_scratch),
        Candidate("bmm_transposed_contiguous", via_scratch_transposed),
        Candidate("bmm", lambda t, o: partial(torch.bmm, t[0].mT, t[1], out=o)),
        Candidate("bmm_transposed", lambda t, o: partial(torch.bmm, t[1].mT, t[0], out=o.mT)),
        per_model(lambda t, o: partial(torch.mm, t[0].t(), t[1], out=o)),
    ]
