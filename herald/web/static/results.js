// A campaign's results page: each sub-audience's cumulative conversion by day since the launch,
// a uPlot chart of the JSON in a data-daily attribute (the CSP allows no inline script). The
// control group is dashed; the figures are also in a table below each chart.
(function () {
  "use strict";

  var COLOURS = ["#1f5fbf", "#b36b00", "#1b6e37", "#7b2cbf", "#a4161a", "#0f7c8c"];

  function draw(box) {
    if (box.dataset.drawn || typeof uPlot === "undefined") return;
    var data = JSON.parse(box.dataset.daily);
    box.dataset.drawn = "1";
    var series = [{ label: "Day" }];
    var columns = [data.days];
    var treated = 0;
    data.series.forEach(function (s) {
      var colour = s.control ? "#3d4454" : COLOURS[treated++ % COLOURS.length];
      series.push({
        label: s.label,
        stroke: colour,
        width: 2,
        dash: s.control ? [6, 4] : undefined,
        value: function (u, v) { return v == null ? "—" : v.toFixed(2) + " %"; },
      });
      columns.push(s.values);
    });
    var options = {
      width: Math.min(box.clientWidth || 720, 860),
      height: 240,
      scales: { x: { time: false }, y: { range: function (u, min, max) { return [0, Math.max(max, 0.1)]; } } },
      series: series,
      axes: [
        { label: "Day since launch" },
        { label: "Bought so far", size: 60, values: function (u, ticks) { return ticks.map(function (t) { return t + " %"; }); } },
      ],
    };
    new uPlot(options, columns, box);
  }

  function drawAll() {
    document.querySelectorAll("[data-daily]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", drawAll);
})();
