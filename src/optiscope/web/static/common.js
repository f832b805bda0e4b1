// optiscope web lab: what every page shares (the token, API calls, live events, formatting).
"use strict";

const optiscope = (() => {
  // The token arrives once in the URL the server printed (?token=...); keep it for this tab
  // and take it out of the address bar (it should not end up in history or screenshots).
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get("token");
  if (fromUrl) {
    sessionStorage.setItem("optiscope-token", fromUrl);
    url.searchParams.delete("token");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  const token = () => sessionStorage.getItem("optiscope-token") || "";

  function showError(message) {
    let box = document.getElementById("error");
    if (!box) {
      box = document.createElement("div");
      box.id = "error";
      box.className = "error";
      document.body.prepend(box);
    }
    box.textContent = message;
    box.hidden = !message;
  }

  async function api(path, options = {}) {
    const headers = Object.assign({ "X-Optiscope-Token": token() }, options.headers || {});
    if (options.body !== undefined && typeof options.body !== "string") {
      headers["Content-Type"] = "application/json";
      options = Object.assign({}, options, { body: JSON.stringify(options.body) });
    }
    const response = await fetch(path, Object.assign({}, options, { headers }));
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (err) { data = { error: text }; }
    if (!response.ok) {
      const message = (data && data.error) || `${response.status} ${response.statusText}`;
      const error = new Error(message);
      error.status = response.status;
      error.data = data;
      throw error;
    }
    return data;
  }

  // A link that downloads with the token (a GET may carry it as ?token=).
  function link(path, params = {}) {
    const query = new URLSearchParams(params);
    query.set("token", token());
    return `${path}?${query}`;
  }

  // One EventSource per page; handlers by event type.
  function live(params, handlers) {
    const source = new EventSource(link("/api/events", params));
    for (const [type, handler] of Object.entries(handlers)) {
      source.addEventListener(type, (event) => handler(JSON.parse(event.data)));
    }
    return source;
  }

  function format(value, digits = 4) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") {
      if (!Number.isFinite(value)) return "–";
      if (Number.isInteger(value)) return String(value);
      return value.toPrecision(digits).replace(/\.?0+(e|$)/, "$1");
    }
    return String(value);
  }

  function when(stamp) {
    return stamp ? new Date(stamp * 1000).toLocaleString() : "–";
  }

  function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== undefined && value !== null) node.setAttribute(key, value);
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  return { token, api, link, live, format, when, element, showError };
})();
