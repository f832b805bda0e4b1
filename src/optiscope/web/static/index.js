// The list of sweeps: name, size, status counts, updated; refreshed live.
"use strict";

(() => {
  const { api, element, when, live, showError } = optiscope;

  function statusText(counts) {
    return Object.entries(counts).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`).join(", ") || "empty";
  }

  function draw(data) {
    document.getElementById("store").textContent = `Store: ${data.store}`;
    const body = document.querySelector("#sweeps tbody");
    body.replaceChildren(...data.sweeps.map((sweep) => element("tr", { "data-sweep": sweep.name },
      element("td", {}, element("a", { href: `/sweeps/${encodeURIComponent(sweep.name)}` }, sweep.name)),
      element("td", { class: "num" }, sweep.size),
      element("td", { class: "status" }, statusText(sweep.counts)),
      element("td", {}, when(sweep.updated)),
    )));
    document.getElementById("empty").hidden = data.sweeps.length > 0;
  }

  async function refresh() {
    try {
      draw(await api("/api/sweeps"));
      showError("");
    } catch (err) {
      showError(err.message);
    }
  }

  let pending = null;
  function soon() {  // several events in a burst: one refresh
    if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 100);
  }

  refresh().then(() => live({}, { sweep: soon, removed: soon, reload: soon }));
})();
