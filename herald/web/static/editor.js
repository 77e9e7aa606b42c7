// The Segment Editor's insights trend: a uPlot chart of the JSON in a data-trend attribute
// (the CSP allows no inline script). Drawn again whenever htmx swaps the editor's body.
(function () {
  "use strict";

  function draw(box) {
    if (box.dataset.drawn || typeof uPlot === "undefined") return;
    var data = JSON.parse(box.dataset.trend);
    box.dataset.drawn = "1";
    var options = {
      width: Math.min(box.clientWidth || 640, 800),
      height: 220,
      series: [
        {},
        { label: "Customers", stroke: "#1f5fbf", width: 2 },
        { label: "Reachable", stroke: "#1b6e37", width: 2 },
      ],
      axes: [{}, { size: 70 }],
    };
    new uPlot(options, [data.t, data.customers, data.reachable], box);
  }

  function drawAll() {
    document.querySelectorAll("[data-trend]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll);
})();
