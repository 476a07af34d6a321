// Attesta dashboard: a little script where it truly helps. Every page works
// without it; it only selects many requests at once and keeps the kiosks'
// online state fresh on the overview.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Bulk selection in the requests queue.
  const all = document.querySelector("[data-select-all]");
  const count = document.querySelector("[data-count]");
  const boxes = () => Array.from(document.querySelectorAll('input[type=checkbox][name=id]:not(:disabled)'));
  const update = () => {
    if (!count) return;
    const n = boxes().filter(b => b.checked).length;
    count.textContent = n + " selected";
    if (all) all.checked = n > 0 && n === boxes().length;
  };
  if (all) all.addEventListener("change", () => { boxes().forEach(b => { b.checked = all.checked; }); update(); });
  document.addEventListener("change", e => { if (e.target.name === "id") update(); });
  update();

  // Extend, refuse and note need a reason: say so before the round trip.
  document.querySelectorAll("form").forEach(form => {
    const action = form.querySelector("select[name=action]");
    const note = form.querySelector("[name=note]");
    if (!action || !note) return;
    const sync = () => { note.required = ["extend", "refuse", "note"].includes(action.value); };
    action.addEventListener("change", sync);
    sync();
  });

  // The overview's kiosk table: refresh online state every 15 s.
  const table = document.querySelector("table.devices");
  if (!table || !document.querySelector("[data-testid=tile-online]")) return;
  const refresh = async () => {
    try {
      const res = await fetch("api/live", { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (res.status === 401) { location.reload(); return; }
      if (!res.ok) return;
      const data = await res.json();
      let online = 0;
      for (const d of data.devices) {
        if (d.online) online++;
        const row = table.querySelector(`tr[data-device="${CSS.escape(d.id)}"]`);
        if (!row) continue;
        const status = row.querySelector("[data-live=status]");
        if (status && !status.querySelector(".badge")) {
          status.textContent = "";
          const dot = document.createElement("span");
          dot.className = d.online ? "dot on" : "dot";
          status.append(dot, d.online ? "online" : "offline");
        }
        const pending = row.querySelector("[data-live=pending]");
        if (pending) pending.textContent = String(d.pending);
      }
      const tile = document.querySelector("[data-testid=tile-online]");
      tile.textContent = online + " / " + data.devices.length;
    } catch (e) { /* offline: try again later */ }
  };
  setInterval(refresh, 15000);
  document.addEventListener("attesta:refresh", refresh); // now, for tests and other scripts
});
