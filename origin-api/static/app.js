// SparkMotion dashboard enhancements (progressive: every flow works without this).
// - [data-sync-url]: polls the KV-sync status of an event until the edge has the change.
// - [data-recent-url]: refreshes the latest taps table every 5 seconds.
// - form[data-confirm]: asks before destructive actions.
// Text only ever goes in through textContent: no HTML is built from data.
"use strict";
(function () {
  function poll(el) {
    var url = el.getAttribute("data-sync-url");
    fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        el.textContent = s.synced ? "Live at the edge" : "Propagating to the edge…";
        el.className = "badge " + (s.synced ? "live" : "propagating");
        if (!s.synced) { setTimeout(function () { poll(el); }, 2000); }
      })
      .catch(function () { setTimeout(function () { poll(el); }, 5000); });
  }

  function refresh(table) {
    var url = table.getAttribute("data-recent-url");
    fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (hits) {
        if (!hits) { return; }
        var body = table.tBodies[0];
        while (body.firstChild) { body.removeChild(body.firstChild); }
        hits.forEach(function (h) {
          var tr = document.createElement("tr");
          [new Date(h.tapped_at).toLocaleTimeString(), h.band_id, h.outcome, h.head ? "HEAD" : h.agent, h.device].forEach(function (text) {
            var td = document.createElement("td");
            td.textContent = text;
            tr.appendChild(td);
          });
          body.appendChild(tr);
        });
      })
      .finally(function () { setTimeout(function () { refresh(table); }, 5000); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-sync-url]").forEach(poll);
    document.querySelectorAll("[data-recent-url]").forEach(function (t) { setTimeout(function () { refresh(t); }, 5000); });
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); }
      });
    });
  });
})();
