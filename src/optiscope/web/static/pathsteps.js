// optiscope path steps: the 2-D test functions and the registered optimizers' step rules in
// float64, written operation for operation as torch runs them on a (2,) float64 parameter, so
// each step equals optiscope.race(..., dtype="float64")'s to 1e-12, and so do whole paths but
// for those that amplify a last-bit difference as Python's own do (tests/test_pathsteps.py
// checks every registered function and optimizer against Python; docs/web.md has the figures).
// Plain JavaScript, no DOM, no dependencies: the playground loads it with a <script> tag and
// computes a slider's path in the page.
//
// Where the numbers can differ from torch's, and why it stays far below 1e-12 per step:
// - torch's CPU kernels compute x.add(y, alpha=a), x.addcmul(t1, t2, value=c) and x.lerp(y, w)
//   as one fused multiply-add (one rounding); JS has no Math.fma, so fma() below emulates it
//   (exact product by Veltkamp/Dekker, exact sum by Knuth's two-sum, then one rounding: the
//   correctly rounded result except in very rare double-rounding ties);
// - Python's float ** int (bias corrections) is the C library's pow, correctly rounded here;
//   powInt() computes it in double-double arithmetic and rounds once;
// - torch's float64 sqrt, cos and sin are not always the correctly rounded ones that JS's are:
//   those differ in the last bit now and then (about 1.5 in 100 for sqrt, 3 in 100 for cos).
"use strict";

(function (root) {
  // -- exact arithmetic helpers ------------------------------------------------------------
  const SPLIT = 134217729; // 2^27 + 1: Veltkamp's splitter for 53-bit doubles
  const SAFE = 1e290; // beyond this the splitter overflows: fall back to plain arithmetic

  /** The exact error of the rounded product p = a * b: a * b = p + e exactly (Dekker's
   * product, with Veltkamp's splitting of each factor into two non-overlapping halves). */
  function productError(a, b, p) {
    let t = SPLIT * a;
    const ah = t - (t - a);
    const al = a - ah;
    t = SPLIT * b;
    const bh = t - (t - b);
    const bl = b - bh;
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
  }

  /** a * b + c with one rounding, as torch's fused multiply-add kernels compute it. */
  function fma(a, b, c) {
    const p = a * b;
    if (!(Math.abs(a) < SAFE && Math.abs(b) < SAFE && Math.abs(c) < SAFE && Math.abs(p) < SAFE)) {
      return p + c; // not finite or huge: the rounding of the last bit no longer matters
    }
    const e = productError(a, b, p); // a * b = p + e exactly
    // p + c = s + r exactly (Knuth's two-sum)
    const s = p + c;
    const v = s - p;
    const r = (p - (s - v)) + (c - v);
    return s + (r + e);
  }

  /** The double-double product (ah + al) * (bh + bl), as [high, low]. */
  function ddMul(ah, al, bh, bl) {
    const p = ah * bh;
    const e = productError(ah, bh, p) + (ah * bl + al * bh);
    const s = p + e;
    return [s, e - (s - p)];
  }

  /** base ** n for a whole n >= 0, rounded once (Python's float ** float is C's pow, which is
   * correctly rounded here; Math.pow is not always). */
  function powInt(base, n) {
    if (!(Math.abs(base) < 1e150 && Math.abs(base) > 1e-150) || n > 4096) return Math.pow(base, n);
    let rh = 1;
    let rl = 0;
    let bh = base;
    let bl = 0;
    for (let k = n; k > 0; k = Math.floor(k / 2)) {
      if (k % 2 === 1) [rh, rl] = ddMul(rh, rl, bh, bl);
      if (k > 1) [bh, bl] = ddMul(bh, bl, bh, bl);
    }
    const result = rh + rl;
    return Number.isFinite(result) ? result : Math.pow(base, n); // an intermediate overflowed
  }

  // torch's element-wise calls on one coordinate (each is one rounding unless said otherwise)
  /** x.add(y, alpha=a): one fused multiply-add. */
  const add = (x, y, alpha) => fma(alpha, y, x);
  /** x.addcmul(t1, t2, value=c): fma(c * t1, t2, x). */
  const addcmul = (x, t1, t2, value) => fma(value * t1, t2, x);
  /** x.addcdiv(t1, t2, value=c): x + (c * t1) / t2, three roundings. */
  const addcdiv = (x, t1, t2, value) => x + (value * t1) / t2;
  /** x.lerp(end, w): aten's lerp, a fused multiply-add from the nearer end. */
  const lerp = (x, end, w) => (Math.abs(w) < 0.5 ? fma(w, end - x, x) : fma(w - 1, end - x, end));

  // -- the test functions --------------------------------------------------------------------
  // Each make(params) gives (x, y) -> [value, d/dx, d/dy]: the forward pass of
  // landscapes/_functions.py and the backward formulas autograd runs for it, in autograd's
  // order (pow(t, 2) is t * t, its backward grad * (2 * t); pow(t, 3) is t * t * t).
  const TWO_PI = 2 * Math.PI; // Python's 2 * math.pi

  const LANDSCAPES = {
    rosenbrock: {
      params: ["a", "b"],
      make: ({ a, b }) => (x, y) => {
        const r = a - x;
        const s = y - x * x;
        const value = r * r + s * s * b;
        const gy = b * (s * 2); // grad of b * s^2 at s
        const gx = -gy * (x * 2) + -(r * 2); // through -x^2, then through (a - x)^2
        return [value, gx, gy];
      },
    },
    beale: {
      params: [],
      make: () => (x, y) => {
        const y2 = y * y;
        const y3 = y * y * y;
        const t1 = 1.5 - x + x * y;
        const t2 = 2.25 - x + x * y2;
        const t3 = 2.625 - x + x * y3;
        const value = t1 * t1 + t2 * t2 + t3 * t3;
        const d1 = t1 * 2;
        const d2 = t2 * 2;
        const d3 = t3 * 2;
        // autograd adds the contributions in the order its graph walk reaches them
        const gy = d3 * x * (y2 * 3) + d2 * x * (y * 2) + d1 * x;
        const gx = d3 * y3 + -d3 + d2 * y2 + -d2 + d1 * y + -d1;
        return [value, gx, gy];
      },
    },
    himmelblau: {
      params: [],
      make: () => (x, y) => {
        const u = x * x + y - 11;
        const v = x + y * y - 7;
        const du = u * 2;
        const dv = v * 2;
        return [u * u + v * v, dv + du * (x * 2), dv * (y * 2) + du];
      },
    },
    rastrigin: {
      params: ["A"],
      make: ({ A }) => (x, y) => {
        const cx = x * TWO_PI;
        const cy = y * TWO_PI;
        const value = x * x + 2 * A - Math.cos(cx) * A + y * y - Math.cos(cy) * A;
        // d/dt of -A cos(2 pi t): (-A * -sin(2 pi t)) * 2 pi, then + 2 t
        const gx = -A * -Math.sin(cx) * TWO_PI + x * 2;
        const gy = -A * -Math.sin(cy) * TWO_PI + y * 2;
        return [value, gx, gy];
      },
    },
    booth: {
      params: [],
      make: () => (x, y) => {
        const u = x + y * 2 - 7;
        const v = x * 2 + y - 5;
        const du = u * 2;
        const dv = v * 2;
        return [u * u + v * v, dv * 2 + du, dv + du * 2];
      },
    },
    quadratic: {
      params: ["condition"],
      make: ({ condition }) => (x, y) => {
        const value = (x * x + y * y * condition) * 0.5;
        return [value, 0.5 * (x * 2), 0.5 * condition * (y * 2)];
      },
    },
    saddle: {
      params: [],
      make: () => (x, y) => {
        const value = x * x - y * y * 2 + powInt(y, 4); // pow(y, 4) is C's pow
        return [value, x * 2, y * y * y * 4 + -2 * (y * 2)];
      },
    },
  };

  // -- the optimizers ------------------------------------------------------------------------
  // Each rule: names (its hyperparameters, torch's names, all required), init(h) -> state,
  // step(p, g, state, h) -> the new [x, y]. The formulas follow torch/optim/<name>.py's
  // single-tensor path (the one CPU runs by default), coordinate by coordinate.
  const both = (f) => [f(0), f(1)];

  /** L2 decay as torch's optimizers apply their own weight_decay: g.add(p, alpha=wd). */
  const l2 = (p, g, wd) => (wd !== 0 ? both((i) => add(g[i], p[i], wd)) : g);

  /** Adam-family decay: p.mul_(1 - lr * wd) (decoupled) or g.add(p, alpha=wd) (L2). */
  function adamDecay(p, g, h, decoupled) {
    if (h.weight_decay === 0) return [p, g];
    if (decoupled) {
      const keep = 1 - h.lr * h.weight_decay;
      return [both((i) => p[i] * keep), g];
    }
    return [p, l2(p, g, h.weight_decay)];
  }

  /** m.lerp_(g, 1 - beta1); v.mul_(beta2).addcmul_(g, g, value=1 - beta2). */
  function moments(s, g, beta1, beta2) {
    s.m = both((i) => lerp(s.m[i], g[i], 1 - beta1));
    s.v = both((i) => addcmul(s.v[i] * beta2, g[i], g[i], 1 - beta2));
  }

  const zeros = () => [0, 0];

  function adamRule(decoupled) {
    return {
      names: ["lr", "betas", "eps", "weight_decay"],
      init: () => ({ step: 0, m: zeros(), v: zeros() }),
      step(p0, g0, s, h) {
        const [beta1, beta2] = h.betas;
        s.step += 1;
        const [p, g] = adamDecay(p0, g0, h, decoupled);
        moments(s, g, beta1, beta2);
        const stepSize = h.lr / (1 - powInt(beta1, s.step));
        const bc2Sqrt = Math.sqrt(1 - powInt(beta2, s.step)); // (1 - beta2 ** t) ** 0.5
        return both((i) => {
          const denom = Math.sqrt(s.v[i]) / bc2Sqrt + h.eps; // (v.sqrt() / bc2_sqrt).add_(eps)
          return addcdiv(p[i], s.m[i], denom, -stepSize);
        });
      },
    };
  }

  const OPTIMIZERS = {
    adamw: adamRule(true),
    adam: adamRule(false),
    sgd: {
      names: ["lr", "momentum", "dampening", "weight_decay", "nesterov"],
      init: () => ({ buf: null }),
      step(p, g0, s, h) {
        let g = l2(p, g0, h.weight_decay);
        if (h.momentum !== 0) {
          if (s.buf === null) s.buf = g.slice(); // the first buffer is the gradient itself
          else s.buf = both((i) => add(s.buf[i] * h.momentum, g[i], 1 - h.dampening));
          g = h.nesterov ? both((i) => add(g[i], s.buf[i], h.momentum)) : s.buf;
        }
        return both((i) => add(p[i], g[i], -h.lr));
      },
    },
    rmsprop: {
      names: ["lr", "alpha", "eps", "weight_decay", "momentum", "centered"],
      init: () => ({ square: zeros(), gradAvg: zeros(), buf: zeros() }),
      step(p, g0, s, h) {
        const g = l2(p, g0, h.weight_decay);
        s.square = both((i) => addcmul(s.square[i] * h.alpha, g[i], g[i], 1 - h.alpha));
        let avg;
        if (h.centered) {
          s.gradAvg = both((i) => lerp(s.gradAvg[i], g[i], 1 - h.alpha));
          avg = both((i) => Math.sqrt(addcmul(s.square[i], s.gradAvg[i], s.gradAvg[i], -1)));
        } else {
          avg = both((i) => Math.sqrt(s.square[i]));
        }
        avg = both((i) => avg[i] + h.eps);
        if (h.momentum > 0) {
          s.buf = both((i) => addcdiv(s.buf[i] * h.momentum, g[i], avg[i], 1));
          return both((i) => add(p[i], s.buf[i], -h.lr));
        }
        return both((i) => addcdiv(p[i], g[i], avg[i], -h.lr));
      },
    },
    adagrad: {
      names: ["lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"],
      init: (h) => ({ step: 0, sum: [h.initial_accumulator_value, h.initial_accumulator_value] }),
      step(p, g0, s, h) {
        s.step += 1;
        const g = l2(p, g0, h.weight_decay);
        const clr = h.lr / (1 + (s.step - 1) * h.lr_decay);
        s.sum = both((i) => addcmul(s.sum[i], g[i], g[i], 1));
        return both((i) => addcdiv(p[i], g[i], Math.sqrt(s.sum[i]) + h.eps, -clr));
      },
    },
    nadam: {
      names: ["lr", "betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay"],
      // torch keeps mu_product in a float32 tensor (its default scalar dtype) even for float64
      // parameters: Math.fround rounds it as that tensor does
      init: () => ({ step: 0, m: zeros(), v: zeros(), muProduct: 1 }),
      step(p0, g0, s, h) {
        const [beta1, beta2] = h.betas;
        s.step += 1;
        const t = s.step;
        const bc2 = 1 - powInt(beta2, t);
        const [p, g] = adamDecay(p0, g0, h, h.decoupled_weight_decay);
        const mu = beta1 * (1 - 0.5 * Math.pow(0.96, t * h.momentum_decay));
        const muNext = beta1 * (1 - 0.5 * Math.pow(0.96, (t + 1) * h.momentum_decay));
        s.muProduct = Math.fround(s.muProduct * Math.fround(mu)); // mu_product *= mu
        moments(s, g, beta1, beta2);
        const muProductNext = s.muProduct * muNext; // mu_product.item() * mu_next
        const gradScale = (-h.lr * (1 - mu)) / (1 - s.muProduct);
        const avgScale = (-h.lr * muNext) / (1 - muProductNext);
        return both((i) => {
          const denom = Math.sqrt(s.v[i] / bc2) + h.eps; // v.div(bc2).sqrt(), then add_(eps)
          return addcdiv(addcdiv(p[i], g[i], denom, gradScale), s.m[i], denom, avgScale);
        });
      },
    },
    radam: {
      names: ["lr", "betas", "eps", "weight_decay", "decoupled_weight_decay"],
      init: () => ({ step: 0, m: zeros(), v: zeros() }),
      step(p0, g0, s, h) {
        const [beta1, beta2] = h.betas;
        s.step += 1;
        const t = s.step;
        const [p, g] = adamDecay(p0, g0, h, h.decoupled_weight_decay);
        moments(s, g, beta1, beta2);
        const bc1 = 1 - powInt(beta1, t);
        const bc2 = 1 - powInt(beta2, t);
        const corrected = both((i) => s.m[i] / bc1);
        const rhoInf = 2 / (1 - beta2) - 1;
        const rhoT = rhoInf - (2 * t * powInt(beta2, t)) / bc2;
        if (rhoT > 5) {
          const rect = Math.sqrt(
            ((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT),
          );
          const bc2Sqrt = Math.sqrt(bc2);
          return both((i) => {
            // float / tensor is tensor.reciprocal() * float in torch
            const adaptive = (1 / (Math.sqrt(s.v[i]) + h.eps)) * bc2Sqrt;
            return p[i] - corrected[i] * h.lr * adaptive * rect; // add_(..., alpha=-1.0)
          });
        }
        return both((i) => p[i] - corrected[i] * h.lr); // plain momentum while rho_t <= 5
      },
    },
    adamax: {
      names: ["lr", "betas", "eps", "weight_decay"],
      init: () => ({ step: 0, m: zeros(), u: zeros() }),
      step(p, g0, s, h) {
        const [beta1, beta2] = h.betas;
        s.step += 1;
        const g = l2(p, g0, h.weight_decay);
        s.m = both((i) => lerp(s.m[i], g[i], 1 - beta1));
        // torch.maximum(u.mul_(beta2), g.abs().add_(eps)); both propagate NaN
        s.u = both((i) => Math.max(s.u[i] * beta2, Math.abs(g[i]) + h.eps));
        const clr = h.lr / (1 - powInt(beta1, s.step));
        return both((i) => addcdiv(p[i], s.m[i], s.u[i], -clr));
      },
    },
    // the course exercise's momentum (optim/_momentum.py): v.mul_(beta).add_(g, alpha=1 - beta);
    // p.add_(v, alpha=-lr), the velocity starting at zero
    momentum: {
      names: ["lr", "beta"],
      init: () => ({ v: zeros() }),
      step(p, g, s, h) {
        s.v = both((i) => add(s.v[i] * h.beta, g[i], 1 - h.beta));
        return both((i) => add(p[i], s.v[i], -h.lr));
      },
    },
  };

  // -- paths ---------------------------------------------------------------------------------

  /** Why this page cannot compute `spec`'s path itself (the server must), or null.
   * @param {object} spec as for runPath. */
  function uncovered(spec) {
    const landscape = LANDSCAPES[spec.function];
    if (!landscape) return `no JS rule for the function ${spec.function}`;
    const params = spec.params || {};
    const names = Object.keys(params);
    if (names.length !== landscape.params.length || !landscape.params.every((n) => n in params)) {
      return `${spec.function} takes ${landscape.params.join(", ") || "no parameters"}`;
    }
    const rule = OPTIMIZERS[spec.optimizer];
    if (!rule) return `no JS rule for the optimizer ${spec.optimizer}`;
    const given = Object.keys(spec.hparams || {});
    const same = given.length === rule.names.length && rule.names.every((n) => n in spec.hparams);
    if (!same) return `${spec.optimizer}'s JS rule takes exactly ${rule.names.join(", ")}`;
    if (spec.decay !== "decoupled" && spec.decay !== "l2") return `no decay mode ${spec.decay}`;
    return null;
  }

  /** One optimizer step as the engine takes it: value and gradient at p, the run's extra decay
   * (L2 into the gradient, or p.mul_(1 - lr * wd) before the update), then the rule. */
  function stepper(spec) {
    const problem = uncovered(spec);
    if (problem) throw new Error(problem);
    const evaluate = LANDSCAPES[spec.function].make(spec.params || {});
    const rule = OPTIMIZERS[spec.optimizer];
    const h = spec.hparams;
    const state = rule.init(h);
    const rate = spec.weight_decay || 0;
    const l2Rate = spec.decay === "l2" ? rate : 0;
    const shrink = spec.decay === "decoupled" && rate !== 0 ? 1 - (h.lr || 0) * rate : null;
    return {
      evaluate,
      /** [value at p, the new position] */
      step(p) {
        const [value, gx, gy] = evaluate(p[0], p[1]);
        let g = [gx, gy];
        if (l2Rate !== 0) g = both((i) => add(g[i], p[i], l2Rate)); // p.grad.add_(p, alpha=wd)
        const q = shrink === null ? p : both((i) => p[i] * shrink);
        return [value, rule.step(q, g, state, h)];
      },
    };
  }

  /**
   * The path of one optimizer, as optiscope's run_path records it (engine/_trajectory.py):
   * positions 0..steps and the value at each; a run whose value is not finite at position k
   * has diverged at step k and keeps positions 0..k-1. No stop at a tolerance (Python has none).
   * @param {object} spec {function, params, optimizer, hparams (complete, torch's names),
   *   start: [x, y], steps, weight_decay (the run's extra decay), decay: "decoupled" | "l2"}
   * @returns {{x: number[], y: number[], value: number[], status: string, diverged_step: ?number}}
   */
  function runPath(spec) {
    const run = stepper(spec);
    let p = [Number(spec.start[0]), Number(spec.start[1])];
    const x = [p[0]];
    const y = [p[1]];
    const value = [];
    let diverged = null;
    for (let step = 1; step <= spec.steps; step += 1) {
      const [v, next] = run.step(p);
      value.push(v);
      if (!Number.isFinite(v)) {
        diverged = step - 1;
        break;
      }
      p = next;
      x.push(p[0]);
      y.push(p[1]);
    }
    if (diverged === null) {
      const final = run.evaluate(p[0], p[1])[0];
      value.push(final);
      if (!Number.isFinite(final)) diverged = spec.steps;
    }
    if (diverged !== null) {
      x.length = diverged;
      y.length = diverged;
      value.length = diverged;
    }
    return { x, y, value, status: diverged === null ? "done" : "diverged", diverged_step: diverged };
  }

  /**
   * One step from each position of a given path (the optimizer's state carried from step to
   * step): for tests, so a rule is checked from the same point as Python took it, where a
   * chaotic free run would amplify the last bit.
   * @returns {{x: number[], y: number[], value: number[]}} position k + 1 from position k,
   *   and the value at position k
   */
  function stepsFrom(spec, xs, ys) {
    const run = stepper(spec);
    const out = { x: [], y: [], value: [] };
    for (let k = 0; k + 1 < xs.length; k += 1) {
      const [v, next] = run.step([xs[k], ys[k]]);
      out.value.push(v);
      out.x.push(next[0]);
      out.y.push(next[1]);
    }
    return out;
  }

  /** Value and gradient of a function at points, for tests: [[value, gx, gy], ...]. */
  function gradients(name, params, points) {
    const evaluate = LANDSCAPES[name].make(params || {});
    return points.map(([px, py]) => evaluate(px, py));
  }

  root.optiscopePaths = Object.freeze({
    functions: Object.fromEntries(Object.entries(LANDSCAPES).map(([n, l]) => [n, l.params])),
    optimizers: Object.fromEntries(Object.entries(OPTIMIZERS).map(([n, o]) => [n, o.names])),
    uncovered,
    runPath,
    stepsFrom,
    gradients,
    fma,
    powInt,
  });
})(typeof window !== "undefined" ? window : globalThis);
