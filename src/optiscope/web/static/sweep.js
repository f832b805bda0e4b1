// One sweep's page: seed bands of the best configs, live curves of running ones, a sortable
// summary linked to the curves, slices of final loss per setting, exports.
// Every number is computed in Python (the same build_* functions as the figures); this file
// only draws. In a static report (window.OPTISCOPE_REPORT) the data is inline.
"use strict";

(() => {
  const { api, element, format, link, live, showError } = optiscope;
  const report = window.OPTISCOPE_REPORT || null;
  const name = report ? report.meta.name : decodeURIComponent(location.pathname.split("/").pop());
  const $ = (id) => document.getElementById(id);
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf"];

  const state = {
    meta: null, view: null, chart: null, slicePlots: [], sort: { column: "rank", up: true },
    pinned: null, live: new Map(),  // position -> {status, curve}
    lastLive: null,  // the latest run update and when it arrived (the benchmark reads it)
  };

  // -- data sources: the server, or the report's inline data --------------------------------

  function query() {
    return {
      x: $("x").value, band: $("band").value, metric: $("metric").value,
      top: Math.max(1, parseInt($("top").value, 10) || 1),
      hide_diverged: $("hide-diverged").checked, seeds: $("seeds").checked,
      baseline: $("baseline").value || null,
    };
  }

  async function fetchView(q) {
    if (report) return reportView(q);
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== null && v !== undefined) params.set(k, v);
    return api(`/api/sweeps/${encodeURIComponent(name)}/view?${params}`);
  }

  // The report holds each x-axis/band figure with every config, the summary (with paired
  // differences for each baseline it kept) and both slice sets; the filters run here.
  function reportView(q) {
    const figure = report.figures[`${q.x}|${q.band}`];
    const summary = report.summaries[q.baseline || ""] || report.summaries[""];
    const column = q.metric === "best" ? "best_mean" : "final_mean";
    let rows = summary.rows.slice();
    if (q.hide_diverged) rows = rows.filter((r) => !/diverged|error/.test(r.status));
    rows.sort((a, b) => (a[column] ?? Infinity) - (b[column] ?? Infinity));
    const shown = rows.slice(0, q.top).map((r) => r.config);
    const keep = new Set(shown);
    return {
      figure: Object.assign({}, figure, { lines: figure.lines.filter((l) => keep.has(l.label)) }),
      summary, slices: report.slices[q.metric], shown, total: summary.rows.length,
    };
  }

  // -- the curves -------------------------------------------------------------------------

  function color(label) {
    const index = state.meta.labels.indexOf(label);
    return COLORS[(index < 0 ? 0 : index) % COLORS.length];
  }

  function drawChart() {
    const view = state.view;
    const figure = view.figure;
    const logX = $("log-x").checked, logY = $("log-y").checked;
    const tables = [], series = [{ label: figure.x_label }], bands = [], labels = [], notes = [];
    const usable = (v) => v !== null && (!logY || v > 0);
    for (const line of figure.lines) {
      const c = color(line.label);
      const xs = line.x.map((x) => (logX && x <= 0 ? null : x));
      tables.push([xs, line.mean.map((v) => (usable(v) ? v : null)),
        line.high.map((v) => (usable(v) ? v : null)), line.low.map((v) => (usable(v) ? v : null))]);
      const mean = series.length;
      series.push({ label: line.label, stroke: c, width: 2, spanGaps: true });
      series.push({ label: `${line.label} high`, stroke: "transparent", spanGaps: true });
      series.push({ label: `${line.label} low`, stroke: "transparent", spanGaps: true });
      bands.push({ series: [mean + 1, mean + 2], fill: c + "1a" });
      labels[mean] = line.label;
      notes[mean] = `${line.legend}: ${line.seeds} seed${line.seeds === 1 ? "" : "s"}, ` +
        `${Math.min(...line.count)}–${Math.max(...line.count)} finite per point`;
      if (figure.show_seeds) {
        for (const seed of line.seed_lines) {
          tables.push([seed.x, seed.y.map((v) => (usable(v) ? v : null))]);
          labels[series.length] = line.label;
          series.push({ label: `${line.label} seed ${seed.seed}`, stroke: c + "80", width: 1, spanGaps: true });
        }
      }
    }
    // Live runs: their curves so far, dashed, until they finish and join the bands.
    for (const [position, run] of state.live) {
      if (run.status !== "running" || !run.curve) continue;
      const [labelIndex, seed] = state.meta.runs[position];
      const label = state.meta.labels[labelIndex];
      const xs = run.curve[figure.x];
      tables.push([xs, run.curve.valid_loss.map((v) => (usable(v) ? v : null))]);
      labels[series.length] = label;
      series.push({ label: `${label} seed ${seed} (training)`, stroke: color(label),
        width: 1.5, dash: [5, 4], spanGaps: true });
    }
    const data = tables.length ? uPlot.join(tables) : [[]];
    const width = Math.max(320, $("chart").clientWidth || 700);
    const options = {
      width, height: 380, series, bands,
      legend: { show: false },
      focus: { alpha: 0.25 },
      cursor: { focus: { prox: 16 } },
      scales: {
        x: { time: false, distr: logX ? 3 : 1 },
        y: Object.assign({ distr: logY ? 3 : 1 },
          figure.y_limits && !logY ? { range: figure.y_limits } : {}),
      },
      axes: [{ label: figure.x_label }, { label: figure.y_label }],
      hooks: {
        setSeries: [(u, index) => {
          const label = index ? labels[index] : null;
          $("focus").textContent = (index && notes[index]) || label || "\u00a0";
          highlightRow(label);
        }],
      },
    };
    if (state.chart) state.chart.destroy();
    $("chart").replaceChildren();
    state.chart = new uPlot(options, data, $("chart"));
    state.chart.optiscopeLabels = labels;
    $("chart").dataset.series = String(series.length - 1);
    $("chart").dataset.logX = String(logX);
    $("chart").dataset.logY = String(logY);
    const bandNote = figure.lines.length ? figure.band_label : "no finished config yet";
    $("figure-note").textContent = [bandNote, figure.note].filter(Boolean).join(" · ");
  }

  function focusLabel(label) {
    const chart = state.chart;
    if (!chart) return;
    const index = label ? chart.optiscopeLabels.indexOf(label) : null;
    chart.setSeries(index !== null && index >= 0 ? index : null, { focus: true });
  }

  // -- slices of final (or best) loss per setting ------------------------------------------

  function drawSlices() {
    for (const plot of state.slicePlots) plot.destroy();
    state.slicePlots = [];
    $("slices").replaceChildren();
    const logY = $("log-y").checked;
    for (const slice of state.view.slices) {
      const box = element("div", { class: "slice", "data-setting": slice.setting });
      $("slices").append(box);
      const points = slice.points.filter((p) => p.y !== null && (!logY || p.y > 0));
      if (!points.length) {
        box.append(element("p", { class: "muted" }, `${slice.setting}: no finished config yet`));
        continue;
      }
      const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
      // y: every config's value at its setting value (a dot each); the mean over configs too.
      const byX = xs.map((x) => points.filter((p) => p.x === x));
      const best = byX.map((ps) => Math.min(...ps.map((p) => p.y)));
      const worst = byX.map((ps) => Math.max(...ps.map((p) => p.y)));
      const categories = slice.categories;
      const plot = new uPlot({
        width: Math.max(260, $("slices").clientWidth - 10), height: 170,
        title: `${slice.setting}${slice.log_x ? " (log)" : ""}`,
        legend: { show: false },
        scales: { x: { time: false, distr: slice.log_x ? 3 : 1 }, y: { distr: logY ? 3 : 1 } },
        axes: [
          { values: categories.length ? (u, ticks) => ticks.map((t) => categories[t] ?? "")
              : (u, ticks) => ticks.map((t) => (t === null ? "" : format(t, 3))),
            splits: categories.length ? () => categories.map((_, i) => i) : undefined },
          { label: slice.metric === "best" ? "best loss" : "final loss", size: 60 },
        ],
        series: [{},
          { label: "best config", stroke: "#2a6fdb", width: 2, points: { size: 7 } },
          { label: "worst config", stroke: "#c0392b", width: 1, dash: [4, 4], points: { size: 5 } }],
      }, [xs, best, worst], box);
      state.slicePlots.push(plot);
    }
  }

  // -- the summary table -------------------------------------------------------------------

  const MAX_TABLE_ROWS = 500;
  const NUMERIC = new Set(["rank", "seeds", "done", "diverged", "final_mean", "final_sd",
    "final_ci_low", "final_ci_high", "best_mean", "diff_mean", "diff_ci_low", "diff_ci_high", "pairs"]);
  const TITLES = { final_mean: "final", final_sd: "sd", final_ci_low: "CI low",
    final_ci_high: "CI high", best_mean: "best", diff_mean: "Δ vs baseline",
    diff_ci_low: "Δ low", diff_ci_high: "Δ high" };

  function drawTable() {
    const { columns, rows } = state.view.summary;
    const shown = new Set(state.view.shown);
    const { column, up } = state.sort;
    const sorted = rows.slice().sort((a, b) => {
      const va = a[column], vb = b[column];
      if (va === vb) return 0;
      if (va === null || va === undefined) return 1;
      if (vb === null || vb === undefined) return -1;
      return (va < vb ? -1 : 1) * (up ? 1 : -1);
    });
    $("summary").tHead.replaceChildren(element("tr", {}, ...columns.map((c) => element("th", {
      class: NUMERIC.has(c) ? "num" : "", "data-column": c,
      onclick: () => { state.sort = { column: c, up: state.sort.column === c ? !state.sort.up : true }; drawTable(); },
    }, (TITLES[c] || c) + (c === column ? (up ? " ▲" : " ▼") : "")))));
    const listed = sorted.slice(0, MAX_TABLE_ROWS);  // thousands of rows: sort to see others
    $("summary").tBodies[0].replaceChildren(...listed.map((row) => element("tr", {
      "data-label": row.config, class: shown.has(row.config) ? "" : "hidden-line",
      onmouseenter: () => { if (!state.pinned) focusLabel(row.config); },
      onmouseleave: () => { if (!state.pinned) focusLabel(null); },
      onclick: () => { state.pinned = state.pinned === row.config ? null : row.config; focusLabel(state.pinned); },
    }, ...columns.map((c) => element("td", {
      class: NUMERIC.has(c) ? "num" : "", "data-column": c,
      "data-value": row[c] === null || row[c] === undefined ? "" : String(row[c]),
    }, format(row[c]))))));
    $("shown").textContent = `(${state.view.shown.length} of ${state.view.total} drawn)` +
      (rows.length > listed.length ? `; the table lists ${listed.length} of ${rows.length}, sort to see others` : "");
  }

  function highlightRow(label) {
    for (const tr of $("summary").tBodies[0].rows) {
      tr.classList.toggle("highlight", label !== null && tr.dataset.label === label);
    }
  }

  // -- page --------------------------------------------------------------------------------

  function drawMeta() {
    const meta = state.meta;
    $("title").textContent = meta.name;
    document.title = `${meta.name} · optiscope`;
    const counts = Object.entries(meta.counts).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`);
    const epochs = [...state.live.values()].filter((r) => r.status === "running")
      .reduce((sum, r) => sum + (r.curve ? r.curve.epoch.length : 0), 0);
    $("progress").textContent = `${meta.size} runs: ${counts.join(", ") || "none"}` +
      (epochs ? ` · ${epochs} epochs of running configs so far` : "");
    $("progress").dataset.done = String(meta.counts.done || 0);
    $("progress").dataset.liveEpochs = String(epochs);
    $("spec").textContent = JSON.stringify(meta.spec, null, 2);
    $("versions").textContent = Object.entries(meta.versions).map(([k, v]) => `${k} ${v}`).join("\n");
    $("command").textContent = meta.command;
    const select = $("baseline"), chosen = select.value;
    const choices = report ? Object.keys(report.summaries).filter(Boolean) : meta.labels;
    const known = choices.join("\n");
    if (select.dataset.choices !== known) {  // rebuilt only when the configs change
      select.replaceChildren(element("option", { value: "" }, "none"),
        ...choices.map((l) => element("option", { value: l }, l)));
      select.dataset.choices = known;
      select.value = choices.includes(chosen) ? chosen : "";
    }
  }

  function drawExports() {
    if (report) { $("exports").replaceChildren(); return; }
    const q = query(), base = `/api/sweeps/${encodeURIComponent(name)}`;
    const figure = { x: q.x, band: q.band, log_x: $("log-x").checked, log_y: $("log-y").checked };
    $("exports").replaceChildren("Export: ",
      element("a", { href: link(`${base}/export.csv`), id: "export-csv" }, "CSV"),
      element("a", { href: link(`${base}/export.parquet`), id: "export-parquet" }, "Parquet"),
      element("a", { href: link(`${base}/export.png`, figure), id: "export-png" }, "PNG"),
      element("a", { href: link(`${base}/spec.json`), id: "export-spec" }, "spec (for --config)"));
  }

  function drawAll() {
    drawChart();
    drawSlices();
    drawTable();
    drawExports();
    document.body.dataset.ready = "true";
  }

  let loading = null;
  async function load() {
    try {
      const q = query();
      const [meta, view] = report ? [report.meta, reportView(q)]
        : await Promise.all([api(`/api/sweeps/${encodeURIComponent(name)}`), fetchView(q)]);
      state.meta = meta;
      state.view = view;
      // Runs that finished are in the bands now.
      for (const [position, run] of state.live) {
        if (run.status !== "running") state.live.delete(position);
      }
      drawMeta();
      drawAll();
      showError("");
    } catch (err) {
      showError(err.message);
    }
  }
  function refresh() {  // one load at a time (.finally runs after the assignment, even when
    if (!loading) loading = load().finally(() => { loading = null; });  // load is synchronous)
    return loading;
  }

  // Redraws from live events, at most every 250 ms; a finished run refetches the view.
  let redrawTimer = null, refetchTimer = null;
  function redrawSoon() {
    if (!redrawTimer) redrawTimer = setTimeout(() => { redrawTimer = null; drawMeta(); drawChart(); }, 50);
  }
  function refetchSoon() {
    if (!refetchTimer) refetchTimer = setTimeout(() => { refetchTimer = null; refresh(); }, 300);
  }

  function onSweepEvent(event) {
    if (event.sweep !== name) return;
    if (event.counts) state.meta.counts = event.counts;
    if (event.reload) { refetchSoon(); return; }
    let finished = false;
    for (const run of event.runs || []) {
      state.live.set(run.position, run);
      state.lastLive = { position: run.position, epochs: run.epochs, status: run.status, at: Date.now() };
      if (run.status !== "running" && run.status !== "pending") finished = true;
    }
    if (finished) refetchSoon();
    redrawSoon();
  }

  function autoLog() {
    // Curves span decades when a log-spaced lr makes some configs far worse: start in log y
    // when the drawn means do (the user can untick it).
    const means = state.view.figure.lines.flatMap((l) => l.mean).filter((v) => v > 0);
    const wide = means.length > 0 && Math.max(...means) / Math.min(...means) > 100;
    if (wide) $("log-y").checked = true;
    return wide;
  }

  async function start() {
    if (report) $("top").value = String(Math.min(50, report.summaries[""].rows.length));
    await refresh();
    if (!state.view) return;
    if (autoLog()) { drawChart(); drawSlices(); drawExports(); }
    for (const id of ["x", "band", "metric", "hide-diverged", "top", "baseline", "seeds"]) {
      $(id).addEventListener("change", refresh);
    }
    for (const id of ["log-x", "log-y"]) $(id).addEventListener("change", () => { drawChart(); drawSlices(); drawExports(); });
    window.addEventListener("resize", () => { if (state.view) { drawChart(); drawSlices(); } });
    if (report) return;
    const initial = await api(`/api/sweeps/${encodeURIComponent(name)}/live`);
    for (const run of initial.runs) state.live.set(run.position, run);
    if (initial.runs.length) redrawSoon();
    const source = live({ sweep: name }, {
      hello: () => $("live-dot").classList.add("on"),
      sweep: onSweepEvent,
      reload: refetchSoon,
      removed: (event) => { if (event.sweep === name) showError(`sweep ${name} was removed from the store`); },
      "store-error": (event) => showError(event.error),
    });
    source.onerror = () => $("live-dot").classList.remove("on");
    source.onopen = () => $("live-dot").classList.add("on");
  }

  window.optiscopeSweep = { state, refresh };  // for the browser tests and the console
  start();
})();
