// optiscope launch form: fields from the settings registry, jobs with progress and cancel.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const { api, element, showError, when } = optiscope;
  let form = null;

  // One value as the registry's kind wants it; several separated by commas (as the CLI reads
  // them). Anything the server must refuse is sent as written, so its message names it.
  function parse(field, text) {
    return text.split(",").map((piece) => piece.trim()).map((piece) => {
      if (field.kind === "float" || field.kind === "int") {
        const number = Number(piece);
        return piece !== "" && Number.isFinite(number) ? number : piece;
      }
      if (field.kind === "bool") {
        if (["true", "yes", "1", "on"].includes(piece.toLowerCase())) return true;
        if (["false", "no", "0", "off"].includes(piece.toLowerCase())) return false;
        return piece;
      }
      if (field.kind === "widths") return piece.toLowerCase().split("x").map(Number);
      if (field.kind === "pair") return piece.split(":").map(Number);
      return piece;
    });
  }

  function kind() {
    return document.querySelector("input[name=kind]:checked").value;
  }

  function renderForm() {
    const box = $("launch-form");
    box.replaceChildren();
    for (const field of form.fields) {
      const input = element("input", { name: field.name, placeholder: field.default, title: field.help });
      const label = element("label", { title: field.help, "data-compare": field.compare }, field.name, input);
      box.append(label);
    }
    updateKind();
  }

  function updateKind() {
    const compare = kind() === "compare";
    document.querySelectorAll("#launch-form label").forEach((label) => {
      const off = compare && label.dataset.compare !== "true";
      label.classList.toggle("off", off);
      label.querySelector("input").disabled = off;
    });
    $("launch-seeds").disabled = compare;
  }

  function body() {
    const settings = {};
    for (const field of form.fields) {
      const input = document.querySelector(`#launch-form input[name='${field.name}']`);
      if (!input.disabled && input.value.trim() !== "") settings[field.name] = parse(field, input.value);
    }
    const request = { kind: kind(), settings };
    const name = $("launch-name").value.trim();
    if (name) request.name = name;
    const seeds = $("launch-seeds").value.trim();
    if (seeds && kind() === "sweep") {
      const parts = seeds.split(",").map(Number);
      request.seeds = parts.length === 1 ? parts[0] : parts;
    }
    return request;
  }

  async function start() {
    try {
      await api("/api/launch", { method: "POST", body: body() });
      showError("");
      await refreshJobs();
    } catch (err) {
      showError(err.message);
    }
  }

  async function cancel(id) {
    try {
      await api(`/api/launch/jobs/${id}/cancel`, { method: "POST" });
      await refreshJobs();
    } catch (err) {
      showError(err.message);
    }
  }

  async function refreshJobs() {
    const { jobs } = await api("/api/launch/jobs");
    const box = $("jobs");
    box.replaceChildren(...jobs.map((job) => {
      const p = job.progress || {};
      const finished = (p.done || 0) + (p.diverged || 0);
      const bar = element("progress", { max: job.configs, value: finished });
      const link = element("a", { href: `/sweeps/${encodeURIComponent(job.name)}` }, job.name);
      const row = element("div", { class: "job", "data-state": job.state, "data-id": job.id },
        element("strong", {}, `#${job.id}`), link, element("span", {}, job.kind),
        element("span", { class: "state" }, job.state), bar,
        element("span", { class: "muted" }, `${finished} of ${job.configs} runs; started ${when(job.started)}`));
      if (job.message) row.append(element("span", { class: "error" }, job.message));
      if (job.state === "queued" || job.state === "running") {
        row.append(element("button", { class: "cancel", onclick: () => cancel(job.id) }, "Cancel"));
      }
      return row;
    }));
    if (!jobs.length) box.textContent = "No jobs yet.";
  }

  async function init() {
    form = await api("/api/launch/form");
    $("bounds").textContent = `this server starts at most ${form.max_configs} configs (seeds ` +
      `included) of at most ${form.max_epochs} epochs, ${form.max_queued} waiting at a time.`;
    renderForm();
    document.querySelectorAll("input[name=kind]").forEach((radio) => radio.addEventListener("change", updateKind));
    $("launch-start").addEventListener("click", start);
    await refreshJobs();
    setInterval(() => refreshJobs().catch((err) => showError(err.message)), 1000);
  }

  init().catch((err) => showError(err.message));
})();
