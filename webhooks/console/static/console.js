// Hands each chart's configuration (rendered by the server as JSON) to Chart.js.
"use strict";
document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
  var config = JSON.parse(document.getElementById(canvas.dataset.chart).textContent);
  new Chart(canvas, config);
});
