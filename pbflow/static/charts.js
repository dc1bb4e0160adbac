/* Supervision charts: each <canvas data-chart="{...}"> is drawn with the locally served
   Chart.js. The numbers are also in the table next to each chart (one click away), so the
   page reads without this script, and print shows the tables too. No inline script: the
   data comes in a data attribute (Content-Security-Policy friendly). */
(function () {
  "use strict";

  var COLORS = ["#b3121b", "#2f6f9f", "#e0a100", "#3f8f4f", "#7a4fa0", "#6b6b70"];

  function draw(canvas) {
    var spec;
    try {
      spec = JSON.parse(canvas.getAttribute("data-chart"));
    } catch (err) {
      canvas.setAttribute("data-rendered", "error");
      return;
    }
    var percent = !!spec.percent;
    var datasets = spec.datasets.map(function (ds, i) {
      var color = COLORS[i % COLORS.length];
      return {
        label: ds.label,
        data: ds.data,
        backgroundColor: spec.type === "line" ? color : color + "cc",
        borderColor: color,
        borderWidth: spec.type === "line" ? 2 : 1,
        spanGaps: true,
        pointRadius: 3,
        pointStyle: ["circle", "rect", "triangle", "rectRot"][i % 4],
      };
    });
    /* eslint-disable-next-line no-new */
    new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          legend: { display: datasets.length > 1, labels: { usePointStyle: true } },
          title: { display: !!spec.title, text: spec.title || "" },
          tooltip: {
            callbacks: percent
              ? { label: function (ctx) { return ctx.dataset.label + ": " + ctx.formattedValue + "%"; } }
              : {},
          },
        },
        scales: {
          y: percent
            ? { min: 0, max: 100, ticks: { callback: function (v) { return v + "%"; } } }
            : { beginAtZero: true, ticks: { precision: 0 } },
        },
      },
    });
    canvas.setAttribute("data-rendered", "1");
  }

  /* Printing: open every chart's table so the paper has the numbers. */
  function openTablesForPrint() {
    window.addEventListener("beforeprint", function () {
      document.querySelectorAll("details.chart-table").forEach(function (d) {
        d.setAttribute("open", "");
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    openTablesForPrint();
    if (!window.Chart) {
      return;
    }
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  });
})();
