// The readout of canary's report: under the pointer, a chart shows the x
// (a time since the start, or a percentile) and each line's value there.
// The charts are complete without it; it reads only what the SVG carries
// (data-x on the chart, data-v on each line) and writes text, never HTML.
(function () {
  "use strict";

  function seconds(s) {
    if (s < 1) return (Math.round(s * 1000) / 1000) + "s";
    var t = Math.round(s), out = "";
    [[86400, "d"], [3600, "h"], [60, "m"], [1, "s"]].forEach(function (u) {
      var q = Math.floor(t / u[0]);
      if (q > 0) { out += q + u[1]; t -= q * u[0]; }
    });
    return out;
  }

  function percentile(x) {
    var p = 100 * (1 - Math.pow(10, -x));
    return p.toFixed(Math.max(1, Math.floor(x))) + "%";
  }

  function number(v) {
    var a = Math.abs(v);
    return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
  }

  // nearest is the index of the value of xs (ascending) nearest to x.
  function nearest(xs, x) {
    var lo = 0, hi = xs.length - 1;
    while (hi - lo > 1) {
      var mid = (lo + hi) >> 1;
      if (xs[mid] <= x) lo = mid; else hi = mid;
    }
    return Math.abs(xs[hi] - x) < Math.abs(xs[lo] - x) ? hi : lo;
  }

  function attach(svg) {
    var xs = (svg.dataset.x || "").split(" ").filter(function (s) { return s !== ""; }).map(Number);
    var g = (svg.dataset.plot || "").split(" ").map(Number); // left top width height xMax
    if (xs.length === 0 || g.length !== 5) return;
    var unit = svg.dataset.unit || "", scale = Number(svg.dataset.scale) || 1, pct = svg.dataset.xkind === "pct";
    var lines = Array.prototype.map.call(svg.querySelectorAll("path.line"), function (p) {
      return { name: p.dataset.name, color: p.getAttribute("stroke"), vs: p.dataset.v.split(" ").map(parseFloat) };
    });
    var cursor = document.createElementNS(svg.namespaceURI, "line");
    cursor.setAttribute("class", "cursor");
    cursor.setAttribute("y1", g[1]);
    cursor.setAttribute("y2", g[1] + g[3]);
    cursor.style.display = "none";
    svg.appendChild(cursor);
    var box = document.createElement("div");
    box.className = "readout";
    svg.parentNode.appendChild(box);

    function hide() { cursor.style.display = "none"; box.style.display = "none"; }

    svg.addEventListener("pointerleave", hide);
    svg.addEventListener("pointermove", function (ev) {
      var m = svg.getScreenCTM();
      if (!m) return;
      var pt = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(m.inverse());
      if (pt.x < g[0] || pt.x > g[0] + g[2] || pt.y < g[1] || pt.y > g[1] + g[3]) { hide(); return; }
      var i = nearest(xs, (pt.x - g[0]) / g[2] * g[4]);
      var cx = g[0] + xs[i] / g[4] * g[2];
      cursor.setAttribute("x1", cx);
      cursor.setAttribute("x2", cx);
      cursor.style.display = "";
      box.textContent = "";
      var head = document.createElement("b");
      head.textContent = pct ? percentile(xs[i]) : seconds(xs[i]);
      box.appendChild(head);
      lines.forEach(function (l) {
        var v = l.vs[i];
        if (isNaN(v)) return;
        var row = document.createElement("div"), swatch = document.createElement("i");
        swatch.style.background = l.color;
        row.appendChild(swatch);
        row.appendChild(document.createTextNode(l.name + ": " + number(v * scale) + " " + unit));
        box.appendChild(row);
      });
      box.style.display = "block";
      var fig = svg.parentNode.getBoundingClientRect();
      var left = ev.clientX - fig.left + 14;
      if (left + box.offsetWidth > fig.width) left = ev.clientX - fig.left - box.offsetWidth - 14;
      box.style.left = Math.max(0, left) + "px";
      box.style.top = Math.max(0, ev.clientY - fig.top - box.offsetHeight - 8) + "px";
    });
    svg.dataset.readout = "on";
  }

  Array.prototype.forEach.call(document.querySelectorAll("svg.plot"), attach);
})();
