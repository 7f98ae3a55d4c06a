// Line charts of the GPU pages, drawn as SVG from the JSON that the page embeds
// (an element with id "gpu-chart-data", written by Django's json_script).
// Each <figure data-chart="KEY"> gets the series under KEY: a list of
// {label, points: [[ISO time, value or null], ...]}. A null value leaves a gap.
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var WIDTH = 640;
  var HEIGHT = 220;
  var MARGIN = { top: 10, right: 28, bottom: 28, left: 56 };
  var COLOURS = ["#1f5fbf", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#4d7c0f"];
  var Y_TICKS = 4;
  var X_TICKS = 6;

  function element(name, attributes) {
    var node = document.createElementNS(SVG_NS, name);
    Object.keys(attributes || {}).forEach(function (key) {
      node.setAttribute(key, attributes[key]);
    });
    return node;
  }

  // A "nice" upper bound for the y axis: 1, 2 or 5 times a power of ten.
  function niceMaximum(value) {
    if (value <= 0) {
      return 1;
    }
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= value) {
        return steps[i] * power;
      }
    }
    return 10 * power;
  }

  function formatValue(value, unit) {
    if (unit === "MiB" && value >= 1024) {
      return (value / 1024).toFixed(value >= 10240 ? 0 : 1) + " GiB";
    }
    return Math.round(value) + " " + unit;
  }

  function formatTime(date, spanMs) {
    var pad = function (number) {
      return (number < 10 ? "0" : "") + number;
    };
    var clock = pad(date.getHours()) + ":" + pad(date.getMinutes());
    if (spanMs > 2 * 24 * 3600 * 1000) {
      return pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " + clock;
    }
    return clock;
  }

  function draw(figure, seriesList) {
    var area = figure.querySelector(".chart-area");
    var empty = figure.querySelector(".chart-empty");
    var unit = figure.getAttribute("data-unit") || "";
    var fixedMaximum = parseFloat(figure.getAttribute("data-max"));

    var times = [];
    var highest = 0;
    var hasValue = false;
    seriesList.forEach(function (series) {
      series.points.forEach(function (point) {
        times.push(Date.parse(point[0]));
        if (point[1] !== null) {
          hasValue = true;
          highest = Math.max(highest, point[1]);
        }
      });
    });
    if (!hasValue) {
      if (empty) {
        empty.hidden = false;
      }
      return;
    }

    var start = Math.min.apply(null, times);
    var end = Math.max.apply(null, times);
    var span = Math.max(end - start, 1);
    var maximum = isNaN(fixedMaximum) ? niceMaximum(highest) : fixedMaximum;
    var plotWidth = WIDTH - MARGIN.left - MARGIN.right;
    var plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
    var x = function (time) {
      return MARGIN.left + ((time - start) / span) * plotWidth;
    };
    var y = function (value) {
      return MARGIN.top + plotHeight - (value / maximum) * plotHeight;
    };

    var svg = element("svg", { viewBox: "0 0 " + WIDTH + " " + HEIGHT });
    var axis = element("g", { class: "axis" });
    for (var i = 0; i <= Y_TICKS; i++) {
      var value = (maximum * i) / Y_TICKS;
      axis.appendChild(element("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(value), y2: y(value) }));
      var label = element("text", { x: MARGIN.left - 6, y: y(value) + 4, "text-anchor": "end" });
      label.textContent = formatValue(value, unit);
      axis.appendChild(label);
    }
    for (var j = 0; j <= X_TICKS; j++) {
      var time = start + (span * j) / X_TICKS;
      var tick = element("text", { x: x(time), y: HEIGHT - 8, "text-anchor": "middle" });
      tick.textContent = formatTime(new Date(time), span);
      axis.appendChild(tick);
    }
    svg.appendChild(axis);

    var legend = document.createElement("ul");
    legend.className = "chart-legend";
    seriesList.forEach(function (series, index) {
      var colour = COLOURS[index % COLOURS.length];
      // A null value ends the current line segment, so gaps in the data show.
      var path = "";
      var drawing = false;
      series.points.forEach(function (point) {
        if (point[1] === null) {
          drawing = false;
          return;
        }
        path += (drawing ? " L" : " M") + x(Date.parse(point[0])).toFixed(1) + " " + y(point[1]).toFixed(1);
        drawing = true;
      });
      svg.appendChild(element("path", { d: path.trim(), class: "series", stroke: colour }));

      var item = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.style.background = colour;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(series.label));
      legend.appendChild(item);
    });

    area.appendChild(svg);
    area.appendChild(legend);
  }

  function init() {
    var source = document.getElementById("gpu-chart-data");
    if (!source) {
      return;
    }
    var data = JSON.parse(source.textContent);
    document.querySelectorAll("figure[data-chart]").forEach(function (figure) {
      draw(figure, data[figure.getAttribute("data-chart")] || []);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
