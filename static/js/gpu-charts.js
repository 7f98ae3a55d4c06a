// Line charts of the GPU pages, drawn as SVG from the JSON that the page embeds
// (an element with id "gpu-chart-data", written by Django's json_script).
// Each <figure data-chart="KEY"> gets the series under KEY: a list of
// {label, points: [[ISO time, value or null], ...]}. A null value leaves a gap.
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  // The drawing is sized to the chart area's width in CSS pixels, so the
  // 12 px axis text in gpus.css stays 12 px on a phone.
  var FALLBACK_WIDTH = 640;
  var HEIGHT = 220;
  var MARGIN = { top: 10, right: 12, bottom: 28, left: 64 };
  var COLOURS = ["#1f5fbf", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#4d7c0f"];
  var Y_TICKS = 4;
  // Spacing between time labels in CSS pixels, an estimate from Chromium screenshots: "18:40" is
  // about 32 px wide at 12 px and "12-04 18:40" about 70 px, and the first label sits half a label right.
  var X_LABEL_WIDTH = 64;
  var X_LABEL_WIDTH_WITH_DATE = 120;
  var DOT_RADIUS = 3.5;
  var MIB_PER_GIB = 1024;

  function element(name, attributes) {
    var node = document.createElementNS(SVG_NS, name);
    Object.keys(attributes || {}).forEach(function (key) {
      node.setAttribute(key, attributes[key]);
    });
    return node;
  }

  // The smallest step of 1, 2 or 5 times a power of ten that is at least `value`.
  function niceStep(value) {
    if (value <= 0) {
      return 1;
    }
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var factors = [1, 2, 5, 10];
    for (var i = 0; i < factors.length; i++) {
      if (factors[i] * power >= value * (1 - 1e-9)) {
        return factors[i] * power;
      }
    }
    return 10 * power;
  }

  function decimalsOf(step) {
    return step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step)));
  }

  // The y axis: the display unit, and the tick step and top in that unit.
  // Memory in MiB is shown in GiB from 1 GiB up, so the steps are round in GiB.
  // A fixed maximum (data-max, e.g. 100 %) is split into Y_TICKS equal steps.
  function yScale(highest, unit, fixedMaximum) {
    if (!isNaN(fixedMaximum)) {
      return { unit: unit, divisor: 1, step: fixedMaximum / Y_TICKS, top: fixedMaximum };
    }
    var divisor = 1;
    var displayUnit = unit;
    if (unit === "MiB" && highest >= MIB_PER_GIB) {
      divisor = MIB_PER_GIB;
      displayUnit = "GiB";
    }
    var displayHighest = highest / divisor;
    var step = niceStep(displayHighest / Y_TICKS);
    if (unit === "MiB" && divisor === 1) {
      step = Math.max(step, 1);
    }
    var top = Math.max(step, Math.ceil(displayHighest / step - 1e-9) * step);
    return { unit: displayUnit, divisor: divisor, step: step, top: top };
  }

  // A tick value with the step's decimals and no trailing zeros: "0 GiB", "0.5 GiB", "1 GiB".
  function formatTick(value, scale) {
    return String(parseFloat(value.toFixed(decimalsOf(scale.step)))) + " " + scale.unit;
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

  // Sample indexes whose value has no non-null neighbour: a path through them
  // would be a lone "M" command, which draws nothing, so they get a dot.
  function isolatedIndexes(points) {
    var indexes = [];
    points.forEach(function (point, index) {
      var before = index > 0 ? points[index - 1][1] : null;
      var after = index < points.length - 1 ? points[index + 1][1] : null;
      if (point[1] !== null && before === null && after === null) {
        indexes.push(index);
      }
    });
    return indexes;
  }

  function draw(figure, seriesList) {
    var area = figure.querySelector(".chart-area");
    var empty = figure.querySelector(".chart-empty");
    var unit = figure.getAttribute("data-unit") || "";
    var fixedMaximum = parseFloat(figure.getAttribute("data-max"));

    area.textContent = "";
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
    if (empty) {
      empty.hidden = hasValue;
    }
    area.hidden = !hasValue;
    if (!hasValue) {
      return;
    }

    var width = Math.round(area.clientWidth) || FALLBACK_WIDTH;
    var start = Math.min.apply(null, times);
    var end = Math.max.apply(null, times);
    if (end === start) {
      // One point in time: centre it in a one-hour window.
      start -= 30 * 60 * 1000;
      end += 30 * 60 * 1000;
    }
    var span = end - start;
    var scale = yScale(highest, unit, fixedMaximum);
    var plotWidth = width - MARGIN.left - MARGIN.right;
    var plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
    var x = function (time) {
      return MARGIN.left + ((time - start) / span) * plotWidth;
    };
    var y = function (value) {
      return MARGIN.top + plotHeight - (value / scale.divisor / scale.top) * plotHeight;
    };

    var svg = element("svg", { viewBox: "0 0 " + width + " " + HEIGHT, width: width, height: HEIGHT });
    var axis = element("g", { class: "axis" });
    var tickCount = Math.round(scale.top / scale.step);
    for (var i = 0; i <= tickCount; i++) {
      var tickValue = scale.step * i;
      var level = y(tickValue * scale.divisor);
      axis.appendChild(element("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: level, y2: level }));
      var label = element("text", { x: MARGIN.left - 6, y: level + 4, "text-anchor": "end", class: "y-label" });
      label.textContent = formatTick(tickValue, scale);
      axis.appendChild(label);
    }

    // As many time labels as fit, at least the two ends. The first is
    // anchored at its start and the last at its end, so none leaves the drawing.
    var labelWidth = span > 2 * 24 * 3600 * 1000 ? X_LABEL_WIDTH_WITH_DATE : X_LABEL_WIDTH;
    var intervals = Math.max(1, Math.min(6, Math.floor(plotWidth / labelWidth)));
    for (var j = 0; j <= intervals; j++) {
      var time = start + (span * j) / intervals;
      var anchor = "middle";
      if (j === 0) {
        anchor = "start";
      } else if (j === intervals) {
        anchor = "end";
      }
      var tick = element("text", { x: x(time), y: HEIGHT - 8, "text-anchor": anchor, class: "x-label" });
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
      if (path) {
        svg.appendChild(element("path", { d: path.trim(), class: "series", stroke: colour }));
      }
      isolatedIndexes(series.points).forEach(function (pointIndex) {
        var point = series.points[pointIndex];
        svg.appendChild(
          element("circle", {
            cx: x(Date.parse(point[0])).toFixed(1),
            cy: y(point[1]).toFixed(1),
            r: DOT_RADIUS,
            class: "sample-dot",
            fill: colour,
          })
        );
      });

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
    var drawAll = function () {
      document.querySelectorAll("figure[data-chart]").forEach(function (figure) {
        draw(figure, data[figure.getAttribute("data-chart")] || []);
      });
    };
    drawAll();

    // Redraw when the window width changes, because the drawing is sized in pixels.
    var drawnWidth = window.innerWidth;
    var pending = false;
    window.addEventListener("resize", function () {
      if (pending || window.innerWidth === drawnWidth) {
        return;
      }
      pending = true;
      window.requestAnimationFrame(function () {
        pending = false;
        drawnWidth = window.innerWidth;
        drawAll();
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
