// optiscope landscape playground: paths of up to six optimizers, redrawn on every slider move.
// A moved slider's path is computed here at once in float64 (pathsteps.js: the step rules of
// torch and optiscope ported to JS, equal to optiscope.race(..., dtype="float64") to 1e-12);
// the server's answer (the same paths from the batched path engine, the labels and the decay's
// rest points) follows when the slider rests and replaces it. Settings the JS has no rule for
// wait for the server.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const { api, element, format, showError } = optiscope;
  const pathsteps = window.optiscopePaths; // pathsteps.js
  const SERVER_DELAY_MS = 150; // ask the server once the slider has rested this long
  const BAND_COLORS = ["#0d0887", "#41049d", "#6a00a8", "#8f0da4", "#b12a90", "#cc4778",
    "#e16462", "#f2844b", "#fca636", "#fcce25", "#f0f921"]; // plasma, dark = low
  const state = {
    options: null, surface: null, paths: null, start: null, step: 300, playing: null,
    optimizers: [], mapFor: 0, map: null, mapCell: null, training: null, version: 0,
    lastMove: null, moves: 0, agreement: null, busy: false,
  };
  let inflight = false;
  let again = false;
  let serverTimer = null;
  const localCache = new Map(); // path spec (JSON) -> path computed here
  let nextId = 1;

  // -- sliders: lr on a log scale, weight decay 0 or log, beta linear ---------------------
  const LR = { min: -5, max: 0.5 };
  const lrToSlider = (lr) => Math.round(((Math.log10(lr) - LR.min) / (LR.max - LR.min)) * 1000);
  const sliderToLr = (v) => Number((10 ** (LR.min + (v / 1000) * (LR.max - LR.min))).toPrecision(3));
  const wdToSlider = (wd) => (wd <= 0 ? 0 : Math.max(1, Math.round(1 + ((Math.log10(wd) + 4) / 4) * 99)));
  const sliderToWd = (v) => (v <= 0 ? 0 : Number((10 ** (-4 + ((v - 1) / 99) * 4)).toPrecision(3)));

  function defaultsFor(name) {
    const info = state.options.optimizers[name];
    const beta = info.beta;
    let betaValue = null;
    if (beta === "beta1") betaValue = info.defaults.betas[0];
    else if (beta) betaValue = info.defaults[beta];
    return { name, lr: info.defaults.lr, beta, betaValue, weightDecay: 0 };
  }

  function settingsOf(opt) {
    const settings = { lr: opt.lr };
    if (opt.beta) settings[opt.beta] = opt.betaValue;
    if ("weight_decay" in state.options.optimizers[opt.name].defaults) settings.weight_decay = 0;
    return settings;
  }

  function optimizerCard(opt, index) {
    const info = state.options.optimizers[opt.name];
    const color = state.paths && state.paths.paths[index] ? state.paths.paths[index].color : "#888";
    const card = element("div", { class: "opt", "data-index": index });
    card.style.setProperty("--color", color);
    const select = element("select", { class: "opt-name" });
    for (const name of Object.keys(state.options.optimizers)) {
      const option = element("option", { value: name }, state.options.optimizers[name].title);
      if (name === opt.name) option.selected = true;
      select.append(option);
    }
    select.addEventListener("change", () => {
      state.optimizers[index] = Object.assign(defaultsFor(select.value), { id: opt.id });
      renderCards();
      refresh();
    });
    const mapRadio = element("input", { type: "radio", name: "map-for", title: "use for the sensitivity map" });
    mapRadio.checked = state.mapFor === index;
    mapRadio.addEventListener("change", () => { state.mapFor = index; state.map = null; drawMap(); });
    const remove = element("button", { class: "remove", title: "remove" }, "×");
    remove.disabled = state.optimizers.length <= 1;
    remove.addEventListener("click", () => {
      state.optimizers.splice(index, 1);
      state.mapFor = Math.min(state.mapFor, state.optimizers.length - 1);
      renderCards();
      refresh();
    });
    card.append(element("div", { class: "head" }, select, element("label", {}, mapRadio, "map"), remove));

    function row(label, min, max, step, value, shown, onInput, cls) {
      const input = element("input", { type: "range", min, max, step, value, class: cls });
      const out = element("span", { class: "muted" }, shown);
      input.addEventListener("input", (event) => { out.textContent = onInput(Number(input.value)); refresh(event); });
      card.append(element("div", { class: "row" }, label, input, out));
    }
    row("lr", 0, 1000, 1, lrToSlider(opt.lr), format(opt.lr, 3), (v) => {
      opt.lr = sliderToLr(v); return format(opt.lr, 3);
    }, "lr");
    if (opt.beta) {
      const [low, high] = info.beta_range;
      row(opt.beta, low, high, (high - low) / 200, opt.betaValue, format(opt.betaValue, 3), (v) => {
        opt.betaValue = v; return format(v, 3);
      }, "beta");
    }
    row("weight decay", 0, 100, 1, wdToSlider(opt.weightDecay), format(opt.weightDecay, 3), (v) => {
      opt.weightDecay = sliderToWd(v); return format(opt.weightDecay, 3);
    }, "wd");
    card.append(element("div", { class: "note muted" }));
    return card;
  }

  function renderCards() {
    const box = $("optimizers");
    box.replaceChildren(...state.optimizers.map(optimizerCard));
    $("add").disabled = state.optimizers.length >= state.options.limits.optimizers;
    updateNotes();
  }

  function updateNotes() {
    if (!state.paths) return;
    document.querySelectorAll(".opt").forEach((card, index) => {
      const path = state.paths.paths[index];
      if (!path) return;
      card.style.setProperty("--color", path.color);
      const note = card.querySelector(".note");
      const end = path.x.length - 1;
      let text = path.status === "diverged"
        ? `diverged at step ${path.diverged_step}`
        : `ends at (${format(path.x[end])}, ${format(path.y[end])}), value ${format(path.value[end])}`;
      if (path.fixed_point) {
        text += `; decay's rest point (${format(path.fixed_point.x)}, ${format(path.fixed_point.y)})`;
      } else if (path.fixed_note) {
        text += `; ${path.fixed_note}`;
      }
      note.textContent = text;
      note.classList.toggle("diverged", path.status === "diverged");
    });
  }

  // -- requests ---------------------------------------------------------------------------
  function body() {
    return {
      function: $("function").value,
      start: state.start,
      steps: Number($("steps").value),
      decay: $("decay").value,
      optimizers: state.optimizers.map((o) => ({ name: o.name, settings: settingsOf(o), weight_decay: o.weightDecay })),
    };
  }

  // -- paths computed in the page ---------------------------------------------------------
  /** Every hyperparameter the server runs the optimizer with: its defaults (as /options gives
   * them) and the sliders' settings, the exercise's beta1 put into torch's betas. */
  function hparamsOf(opt) {
    const defaults = state.options.optimizers[opt.name].defaults;
    const hparams = Object.assign({}, defaults, { lr: opt.lr });
    if (opt.beta === "beta1") hparams.betas = [opt.betaValue, defaults.betas[1]];
    else if (opt.beta) hparams[opt.beta] = opt.betaValue;
    return hparams;
  }

  function functionInfo(name) {
    return state.options.functions.find((f) => f.name === name);
  }

  function localSpec(opt) {
    const name = $("function").value;
    return {
      function: name,
      params: functionInfo(name).params,
      optimizer: opt.name,
      hparams: hparamsOf(opt),
      start: state.start,
      steps: Number($("steps").value),
      weight_decay: opt.weightDecay,
      decay: $("decay").value,
    };
  }

  function localPath(spec) {
    const key = JSON.stringify(spec);
    let path = localCache.get(key);
    if (!path) {
      path = pathsteps.runPath(spec);
      if (localCache.size > 256) localCache.delete(localCache.keys().next().value);
      localCache.set(key, path);
    }
    return { key, path };
  }

  /** Draw every path computed here, keeping each optimizer's label, colour and (when its
   * settings did not change) its rest point from the server's last answer. Returns false,
   * drawing nothing, when an optimizer is new to the page or has no JS rule. */
  function drawLocal() {
    const previous = state.paths;
    if (!previous || !pathsteps) return false;
    const entries = [];
    for (const [index, opt] of state.optimizers.entries()) {
      const spec = localSpec(opt);
      const before = previous.paths.find((p) => p.id === opt.id && p.name === opt.name);
      if (!before || pathsteps.uncovered(spec) !== null) return false; // new here: ask the server
      const { key, path } = localPath(spec);
      const same = before.key === key;
      entries.push(Object.assign({}, before, path, {
        key, color: (previous.paths[index] || before).color, source: "page",
        fixed_point: same ? before.fixed_point : null, fixed_note: same ? before.fixed_note : "",
      }));
    }
    const name = $("function").value;
    state.paths = {
      function: functionInfo(name), start: state.start, steps: Number($("steps").value),
      decay: $("decay").value, paths: entries,
    };
    drawPaths();
    return true;
  }

  function drawPaths() {
    const steps = state.paths.steps;
    $("step").max = steps;
    if (!state.playing) { state.step = steps; $("step").value = steps; $("step-value").textContent = steps; }
    state.version += 1;
    $("contour").dataset.version = String(state.version);
    drawContour();
    drawValues();
    updateNotes();
  }

  /** Redraw at once from the page's own computation, then ask the server (at once when the
   * page could not draw, else once the slider rests). `event`: the slider's input event,
   * whose time stamp starts the measured round trip. */
  function refresh(event) {
    const started = performance.now();
    const drawn = drawLocal();
    if (drawn) {
      const done = performance.now();
      const since = event && event.timeStamp ? event.timeStamp : started;
      state.lastMove = { ms: done - since, compute_ms: done - started };
      state.moves += 1;
      $("timing").textContent = `drawn in ${(done - since).toFixed(1)} ms in the page`;
      $("timing").dataset.ms = (done - since).toFixed(2);
    }
    state.busy = true; // until the server's answer to the latest settings is drawn
    clearTimeout(serverTimer);
    serverTimer = setTimeout(() => { serverTimer = null; askServer(); }, drawn ? SERVER_DELAY_MS : 0);
  }

  /** The largest difference between the paths drawn here and the server's, relative where a
   * number is above 1 in size (the tests hold it to 1e-12). */
  function agreement(local, served) {
    let worst = null; // nothing compared
    for (const path of served.paths) {
      const mine = local && local.paths.find((p) => p.id === path.id && p.key === path.key);
      if (!mine || mine.source !== "page") continue;
      if (mine.x.length !== path.x.length || mine.status !== path.status) return Infinity;
      worst = worst || 0;
      for (const name of ["x", "y", "value"]) {
        mine[name].forEach((v, i) => {
          const w = path[name][i];
          worst = Math.max(worst, w === null ? Infinity : Math.abs(v - w) / Math.max(1, Math.abs(w)));
        });
      }
    }
    return worst;
  }

  async function askServer() {
    if (inflight) { again = true; return; }
    inflight = true;
    let settled = false; // the answer to the latest settings is drawn (or failed)
    const sent = body();
    const ids = state.optimizers.map((o) => o.id);
    const names = state.optimizers.map((o) => o.name);
    const keys = state.optimizers.map((o) => JSON.stringify(localSpec(o)));
    const started = performance.now();
    try {
      const answer = await api("/api/playground/paths", { method: "POST", body: sent });
      const ms = performance.now() - started;
      if (JSON.stringify(sent) === JSON.stringify(body())) { // not overtaken by a newer move
        answer.paths.forEach((p, i) => { p.id = ids[i]; p.name = names[i]; p.key = keys[i]; p.source = "server"; });
        const worst = agreement(state.paths, answer);
        if (worst !== null) state.agreement = Math.max(state.agreement || 0, worst);
        state.paths = answer;
        $("timing").dataset.serverMs = ms.toFixed(1);
        const page = state.lastMove ? `drawn in ${state.lastMove.ms.toFixed(1)} ms in the page; ` : "";
        $("timing").textContent = `${page}server ${ms.toFixed(0)} ms`;
        showError("");
        drawPaths();
        settled = true;
      }
    } catch (err) {
      showError(err.message);
      settled = true;
    } finally {
      inflight = false;
      if (again) { again = false; askServer(); } else if (settled && serverTimer === null) { state.busy = false; }
    }
  }

  async function loadSurface() {
    const name = $("function").value;
    state.surface = await api(`/api/playground/surface?function=${encodeURIComponent(name)}&n=160`);
    state.start = state.options.starts[name];
    $("start-text").textContent = `start (${format(state.start[0])}, ${format(state.start[1])})`;
    state.surfaceImage = null;
    state.map = null;
    drawMap();
  }

  // -- the contour and the paths ----------------------------------------------------------
  function toCanvas(x, y, canvas) {
    const [[xl, xh], [yl, yh]] = state.surface.domain;
    return [((x - xl) / (xh - xl)) * canvas.width, canvas.height - ((y - yl) / (yh - yl)) * canvas.height];
  }

  function fromCanvas(px, py, canvas) {
    const [[xl, xh], [yl, yh]] = state.surface.domain;
    return [xl + (px / canvas.width) * (xh - xl), yl + ((canvas.height - py) / canvas.height) * (yh - yl)];
  }

  function surfaceImage() {
    if (state.surfaceImage) return state.surfaceImage;
    const { z, levels } = state.surface;
    const n = z.length;
    const off = document.createElement("canvas");
    off.width = n; off.height = n;
    const ctx = off.getContext("2d");
    const image = ctx.createImageData(n, n);
    const colors = BAND_COLORS.map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
    for (let row = 0; row < n; row += 1) {
      for (let col = 0; col < n; col += 1) {
        const value = z[row][col];
        let band = 0;
        while (band < levels.length - 1 && value !== null && value > levels[band + 1]) band += 1;
        const color = colors[Math.min(colors.length - 1, Math.floor((band / Math.max(1, levels.length - 1)) * colors.length))];
        const at = ((n - 1 - row) * n + col) * 4;
        image.data.set([color[0], color[1], color[2], 255], at);
      }
    }
    ctx.putImageData(image, 0, 0);
    state.surfaceImage = off;
    return off;
  }

  function drawContour() {
    const canvas = $("contour");
    const ctx = canvas.getContext("2d");
    if (!state.surface) return;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(surfaceImage(), 0, 0, canvas.width, canvas.height);
    for (const [mx, my] of state.surface.minima) {
      const [px, py] = toCanvas(mx, my, canvas);
      ctx.fillStyle = "#fff"; ctx.font = "16px sans-serif"; ctx.fillText("★", px - 6, py + 6);
    }
    if (state.start) {
      const [sx, sy] = toCanvas(state.start[0], state.start[1], canvas);
      ctx.strokeStyle = "#fff"; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(sx, sy, 6, 0, 2 * Math.PI); ctx.stroke();
    }
    if (!state.paths) return;
    for (const path of state.paths.paths) {
      const upto = Math.min(path.x.length, state.step + 1);
      ctx.strokeStyle = path.color; ctx.lineWidth = 2; ctx.beginPath();
      for (let i = 0; i < upto; i += 1) {
        const [px, py] = toCanvas(path.x[i], path.y[i], canvas);
        if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      }
      ctx.stroke();
      if (upto > 0) {
        const [ex, ey] = toCanvas(path.x[upto - 1], path.y[upto - 1], canvas);
        ctx.fillStyle = path.color; ctx.beginPath(); ctx.arc(ex, ey, 4, 0, 2 * Math.PI); ctx.fill();
      }
      if (path.fixed_point) { // the weight-decay rest point: a diamond
        const [fx, fy] = toCanvas(path.fixed_point.x, path.fixed_point.y, canvas);
        ctx.save(); ctx.translate(fx, fy); ctx.rotate(Math.PI / 4);
        ctx.fillStyle = path.color; ctx.strokeStyle = "#000"; ctx.lineWidth = 1;
        ctx.fillRect(-5, -5, 10, 10); ctx.strokeRect(-5, -5, 10, 10); ctx.restore();
      }
    }
  }

  let valuesPlot = null;
  function drawValues() {
    const paths = state.paths.paths;
    const steps = state.paths.steps;
    const low = state.paths.function.min_value ?? 0;
    const x = Array.from({ length: steps + 1 }, (_, i) => i);
    const series = paths.map((p) => x.map((i) => {
      const v = p.value[i];
      return v === undefined || v === null || v - low <= 0 ? null : v - low;
    }));
    const opts = {
      width: 640, height: 200, title: "value above the minimum per step",
      scales: { x: { time: false }, y: { distr: 3 } },
      series: [{ label: "step" }, ...paths.map((p) => ({ label: p.label, stroke: p.color, width: 1.5 }))],
      axes: [{}, { size: 80 }],
    };
    if (valuesPlot) valuesPlot.destroy();
    valuesPlot = new uPlot(opts, [x, ...series], $("values"));
  }

  // -- the sensitivity map ----------------------------------------------------------------
  async function runMap() {
    const opt = state.optimizers[state.mapFor];
    if (!opt) return;
    const started = performance.now();
    try {
      state.map = await api("/api/playground/map", {
        method: "POST",
        body: {
          function: $("function").value, start: state.start, steps: Number($("steps").value),
          decay: $("decay").value, side: Number($("map-side").value),
          lr: [opt.lr / 30, Math.min(100, opt.lr * 30)], // 3 decades around the slider's lr
          optimizer: { name: opt.name, settings: settingsOf(opt), weight_decay: opt.weightDecay },
        },
      });
      state.map.optimizer = opt.id;
      $("map-timing").textContent = `map in ${(performance.now() - started).toFixed(0)} ms`;
      $("map-title").textContent = `(${state.options.optimizers[opt.name].title})`;
      showError("");
      drawMap();
      $("map").dataset.version = String(Number($("map").dataset.version) + 1);
    } catch (err) {
      showError(err.message);
    }
  }

  function mapGeometry(canvas) {
    const m = state.map;
    return { left: 50, top: 10, w: (canvas.width - 60) / m.x_values.length, h: (canvas.height - 40) / m.y_values.length };
  }

  function drawMap() {
    const canvas = $("map");
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const m = state.map;
    if (!m) {
      ctx.fillStyle = "#888"; ctx.fillText("press 'Compute map'", 120, 150);
      return;
    }
    const g = mapGeometry(canvas);
    const finite = m.final_distance.flat().filter((v) => v !== null && v > 0);
    const lo = finite.length ? Math.log10(Math.min(...finite)) : 0;
    const hi = finite.length ? Math.log10(Math.max(...finite)) : 1;
    m.y_values.forEach((_, row) => m.x_values.forEach((__, col) => {
      const d = m.final_distance[row][col];
      let color = "#bbb"; // diverged
      if (d !== null) {
        const t = d <= 0 ? 0 : (Math.log10(d) - lo) / Math.max(1e-9, hi - lo);
        color = BAND_COLORS[Math.min(BAND_COLORS.length - 1, Math.max(0, Math.floor(t * BAND_COLORS.length)))];
      }
      ctx.fillStyle = color;
      const y = g.top + (m.y_values.length - 1 - row) * g.h;
      ctx.fillRect(g.left + col * g.w, y, g.w + 0.5, g.h + 0.5);
      if (state.mapCell && state.mapCell[0] === row && state.mapCell[1] === col) {
        ctx.strokeStyle = "#fff"; ctx.lineWidth = 2; ctx.strokeRect(g.left + col * g.w + 1, y + 1, g.w - 2, g.h - 2);
      }
    }));
    ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
    ctx.fillText(`lr ${format(m.x_values[0], 2)} … ${format(m.x_values[m.x_values.length - 1], 2)} (log)`, g.left, canvas.height - 12);
    ctx.save(); ctx.translate(12, canvas.height / 2); ctx.rotate(-Math.PI / 2);
    ctx.fillText(`${m.y_name} ${format(m.y_values[0], 2)} … ${format(m.y_values[m.y_values.length - 1], 2)}`, -60, 0);
    ctx.restore();
  }

  function mapClick(event) {
    const m = state.map;
    if (!m) return;
    const canvas = $("map");
    const rect = canvas.getBoundingClientRect();
    const px = ((event.clientX - rect.left) / rect.width) * canvas.width;
    const py = ((event.clientY - rect.top) / rect.height) * canvas.height;
    const g = mapGeometry(canvas);
    const col = Math.floor((px - g.left) / g.w);
    const row = m.y_values.length - 1 - Math.floor((py - g.top) / g.h);
    if (col < 0 || row < 0 || col >= m.x_values.length || row >= m.y_values.length) return;
    const index = state.optimizers.findIndex((o) => o.id === m.optimizer);
    if (index < 0) return;
    const opt = state.optimizers[index];
    opt.lr = m.x_values[col];
    if (opt.beta) opt.betaValue = m.y_values[row];
    state.mapCell = [row, col];
    drawMap();
    renderCards();
    refresh();
  }

  // -- time: the step slider and play -----------------------------------------------------
  function setStep(step) {
    state.step = step;
    $("step").value = step;
    $("step-value").textContent = step;
    drawContour();
  }

  function play() {
    if (state.playing) { clearInterval(state.playing); state.playing = null; $("play").textContent = "Play"; return; }
    const steps = state.paths ? state.paths.steps : 0;
    let step = state.step >= steps ? 0 : state.step;
    $("play").textContent = "Pause";
    state.playing = setInterval(() => {
      step = Math.min(steps, step + Math.max(1, Math.round(steps / 120)));
      setStep(step);
      if (step >= steps) play();
    }, 30);
  }

  // -- real training: the precomputed grid ------------------------------------------------
  let trainingPlot = null;
  async function loadTraining() {
    state.training = await api("/api/playground/training");
    if (!state.training.available) {
      $("training-status").textContent = state.training.message;
      $("training-start").hidden = false;
      return;
    }
    $("training-start").hidden = true;
    const data = state.training;
    const counts = data.counts || {};
    $("training-status").textContent = `${data.configs.length} configs loaded (${counts.done || 0} runs done` +
      `${counts.pending ? `, ${counts.pending} pending` : ""})`;
    const box = $("training-sliders");
    box.replaceChildren();
    state.trainingChoice = {};
    for (const name of data.settings) {
      const values = data.values[name];
      const preferred = { lr: 0.01, beta1: 0.9, weight_decay: 0.01 }[name];
      let index = values.indexOf(preferred);
      if (index < 0) index = Math.floor(values.length / 2);
      state.trainingChoice[name] = values[index];
      const out = element("span", { class: "muted" }, format(values[index]));
      const input = element("input", { type: "range", min: 0, max: values.length - 1, step: 1, value: index, "data-setting": name });
      input.addEventListener("input", () => {
        state.trainingChoice[name] = values[Number(input.value)];
        out.textContent = format(state.trainingChoice[name]);
        drawTraining();
      });
      box.append(element("label", {}, name, input, out));
    }
    drawTraining();
  }

  function drawTraining() {
    const data = state.training;
    const choice = state.trainingChoice;
    const config = data.configs.find((c) => data.settings.every((n) => c.settings[n] === choice[n]));
    const box = $("training-plot");
    if (trainingPlot) { trainingPlot.destroy(); trainingPlot = null; }
    if (!config) { box.textContent = "this config has no finished seed yet"; return; }
    box.textContent = "";
    const upper = config.mean.map((m, i) => (m === null || config.sd[i] === null ? null : m + config.sd[i]));
    const lower = config.mean.map((m, i) => (m === null || config.sd[i] === null ? null : m - config.sd[i]));
    const title = data.settings.map((n) => `${n} = ${format(choice[n])}`).join(", ");
    trainingPlot = new uPlot({
      width: 900, height: 300, title: `validation loss, ${title} (${config.seeds} seeds)`,
      scales: { x: { time: false } },
      series: [{ label: "epoch" },
        { label: "mean", stroke: "#2a6fdb", width: 2 },
        { label: "+1 sd", stroke: "#9bb9ec", dash: [4, 4] },
        { label: "-1 sd", stroke: "#9bb9ec", dash: [4, 4] }],
    }, [config.epoch, config.mean, upper, lower], box);
    box.dataset.config = JSON.stringify(config.settings);
  }

  async function startTraining() {
    try {
      const job = await api("/api/playground/training", { method: "POST" });
      $("training-start").hidden = true;
      const poll = setInterval(async () => {
        const now = await api(`/api/launch/jobs/${job.id}`);
        const p = now.progress;
        $("training-status").textContent = `training the grid: ${now.state}, ${p.done || 0} of ${now.configs} runs done`;
        if (["done", "cancelled", "error"].includes(now.state)) {
          clearInterval(poll);
          if (now.state === "done") loadTraining();
          else $("training-status").textContent = `training ${now.state}: ${now.message}`;
        }
      }, 1000);
    } catch (err) {
      showError(err.message);
    }
  }

  // -- start ------------------------------------------------------------------------------
  async function init() {
    state.options = await api("/api/playground/options");
    const select = $("function");
    for (const f of state.options.functions) select.append(element("option", { value: f.name }, f.title));
    select.value = "rosenbrock";
    await loadSurface();
    state.optimizers = ["momentum", "adam"].map((name) => Object.assign(defaultsFor(name), { id: nextId++ }));
    renderCards();
    select.addEventListener("change", async () => { await loadSurface(); refresh(); });
    $("steps").addEventListener("input", () => { $("steps-value").textContent = $("steps").value; refresh(); });
    $("decay").addEventListener("change", refresh);
    $("add").addEventListener("click", () => {
      const names = Object.keys(state.options.optimizers);
      const name = names[state.optimizers.length % names.length];
      state.optimizers.push(Object.assign(defaultsFor(name), { id: nextId++ }));
      renderCards();
      refresh();
    });
    $("step").addEventListener("input", () => setStep(Number($("step").value)));
    $("play").addEventListener("click", play);
    $("contour").addEventListener("click", (event) => {
      const canvas = $("contour");
      const rect = canvas.getBoundingClientRect();
      const px = ((event.clientX - rect.left) / rect.width) * canvas.width;
      const py = ((event.clientY - rect.top) / rect.height) * canvas.height;
      const [x, y] = fromCanvas(px, py, canvas);
      state.start = [Number(x.toPrecision(4)), Number(y.toPrecision(4))];
      $("start-text").textContent = `start (${format(state.start[0])}, ${format(state.start[1])})`;
      state.map = null; drawMap();
      refresh(event);
    });
    $("map-run").addEventListener("click", runMap);
    $("map").addEventListener("click", mapClick);
    $("training-start").addEventListener("click", startTraining);
    await refresh();
    await loadTraining();
  }

  window.playground = state; // for the browser tests: what the page drew
  init().catch((err) => showError(err.message));
})();
