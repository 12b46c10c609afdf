/**
 * The page of `View`: markup, style and the script that draws the sequence
 * diagram from the run's data (a JSON element in the page). Plain DOM, no
 * library, nothing loaded from anywhere: the file works offline and from a
 * CI artifact.
 *
 * The script draws only the rows near the visible part of the diagram
 * (rows are positioned by a precomputed offset, found by binary search on
 * scroll), so its cost does not grow with the run. It writes every text
 * from the run with `textContent`, never as markup.
 */

const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&quot;"))

const style = `
:root { --in: #0369a1; --out: #15803d; --fault: #c2410c; --violation: #b91c1c; --info: #6b7280; --line: #d1d5db; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, sans-serif; color: #111827; background: #fff; display: flex; flex-direction: column; height: 100vh; }
header { padding: 6px 10px; border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; background: #f9fafb; }
header h1 { font-size: 14px; margin: 0 8px 0 0; }
header label { display: inline-flex; align-items: center; gap: 4px; }
#f-types { display: inline-flex; flex-wrap: wrap; gap: 2px 8px; }
#f-conn { min-width: 160px; max-width: 260px; }
input[type=number] { width: 90px; }
#count { color: var(--info); }
main { flex: 1; display: flex; min-height: 0; }
#diagram { flex: 1; overflow: auto; position: relative; }
#canvas { position: relative; }
#heads { position: sticky; top: 0; height: 30px; z-index: 3; background: #fff; border-bottom: 1px solid var(--line); }
.head { position: absolute; top: 4px; transform: translateX(-50%); max-width: 160px; padding: 2px 6px; border: 1px solid #9ca3af; border-radius: 4px; background: #f3f4f6; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; font-weight: 600; }
.life { position: absolute; top: 30px; width: 0; border-left: 1px dashed #9ca3af; }
.row { position: absolute; left: 0; height: 24px; }
.time { position: absolute; left: 6px; width: 120px; top: 4px; font: 11px/1 ui-monospace, monospace; color: var(--info); white-space: nowrap; }
.arrow { position: absolute; top: 15px; height: 0; border-top: 2px solid var(--in); cursor: pointer; }
.arrow.out { border-top-color: var(--out); }
.arrow::after { content: ""; position: absolute; top: -6px; border: 5px solid transparent; }
.arrow.in::after { left: -2px; border-right: 8px solid var(--in); border-left: 0; }
.arrow.out::after { right: -2px; border-left: 8px solid var(--out); border-right: 0; }
.arrow.marked { border-top-style: dashed; border-top-color: var(--fault); }
.arrow.marked.violated { border-top-color: var(--violation); }
.arrow.in.marked::after { border-right-color: var(--fault); }
.arrow.out.marked::after { border-left-color: var(--fault); }
.label { position: absolute; bottom: 2px; left: 0; right: 0; text-align: center; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; font: 11px/1.2 ui-monospace, monospace; }
.label .type { font-weight: 700; }
.arrow.marked .label { color: var(--fault); }
.arrow.violated .label { color: var(--violation); }
.arrow:hover .label, .note:hover, .selected .label, .note.selected { background: #fef3c7; }
.note { position: absolute; top: 3px; padding: 1px 6px; border-radius: 3px; white-space: nowrap; font: 11px/16px ui-monospace, monospace; cursor: pointer; border: 1px solid var(--line); background: #fff; max-width: 420px; overflow: hidden; text-overflow: ellipsis; }
.note.fault { color: var(--fault); border-color: var(--fault); }
.note.violation { color: var(--violation); border-color: var(--violation); }
.note.open, .note.close, .note.auth, .note.warning { color: var(--info); }
.gap { position: absolute; left: 0; right: 0; border-top: 1px dotted #f59e0b; font: 10px/1 ui-monospace, monospace; color: #b45309; padding: 2px 6px; background: repeating-linear-gradient(135deg, #fffbeb, #fffbeb 6px, #fff 6px, #fff 12px); }
#detail { width: 440px; border-left: 1px solid var(--line); overflow: auto; padding: 8px 10px; background: #fafafa; }
#detail[hidden] { display: none; }
#detail h2 { font-size: 13px; margin: 0 0 6px; word-break: break-all; }
#detail pre { margin: 0; font: 11px/1.35 ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; }
#detail button { float: right; }
.marks { margin: 0 0 8px; padding-left: 16px; color: var(--fault); }
`

const script = String.raw`
(function () {
  "use strict";
  var model = JSON.parse(document.getElementById("mqttest-data").textContent);
  var items = model.items;
  var ROW = 24, GUTTER = 130, SERVER_X = GUTTER + 70, FIRST_LANE = SERVER_X + 300, LANE = 220, MAX_HEIGHT = 15000000;
  var $ = function (id) { return document.getElementById(id); };
  var el = function (tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  var ms = function (t) { return t >= 1000 ? (t / 1000).toFixed(3) + " s" : t.toFixed(3) + " ms"; };

  // Connections in order of their first event; a lane's label takes the client id once known.
  var lanes = new Map();
  items.forEach(function (it) {
    if (it.c === undefined) return;
    var lane = lanes.get(it.c);
    if (!lane) { lane = { c: it.c, id: undefined }; lanes.set(it.c, lane); }
    if (it.id !== undefined && lane.id === undefined) lane.id = it.id;
  });
  var laneName = function (lane) { return "c" + lane.c + (lane.id !== undefined && lane.id !== "" ? " " + lane.id : ""); };

  // Filter controls, filled from the run.
  var conn = $("f-conn");
  lanes.forEach(function (lane) {
    var o = el("option", "", laneName(lane));
    o.value = String(lane.c);
    conn.appendChild(o);
  });
  var types = [];
  items.forEach(function (it) { var t = it.p || "EVENTS"; if (types.indexOf(t) < 0) types.push(t); });
  types.sort(function (a, b) { return a === "EVENTS" ? 1 : b === "EVENTS" ? -1 : a < b ? -1 : a > b ? 1 : 0; });
  types.forEach(function (t) {
    var label = el("label");
    var box = el("input");
    box.type = "checkbox";
    box.checked = true;
    box.setAttribute("data-type", t);
    label.appendChild(box);
    label.appendChild(document.createTextNode(t === "EVENTS" ? "other events" : t));
    $("f-types").appendChild(label);
  });
  if (model.start) $("start").textContent = "from " + model.start;

  var shown = [], ys = [], gaps = [], height = 0, laneX = new Map(), selected = -1;

  var passes = function () {
    var chosen = new Set();
    Array.prototype.forEach.call(conn.selectedOptions, function (o) { chosen.add(Number(o.value)); });
    var client = $("f-client").value.trim().toLowerCase();
    var allowed = new Set();
    Array.prototype.forEach.call(document.querySelectorAll("#f-types input"), function (b) { if (b.checked) allowed.add(b.getAttribute("data-type")); });
    var from = $("f-from").value === "" ? -Infinity : Number($("f-from").value);
    var to = $("f-to").value === "" ? Infinity : Number($("f-to").value);
    return function (it) {
      if (chosen.size > 0 && (it.c === undefined || !chosen.has(it.c))) return false;
      if (client !== "") {
        var lane = it.c === undefined ? undefined : lanes.get(it.c);
        var id = it.id !== undefined ? it.id : lane ? lane.id : undefined;
        if (id === undefined || id.toLowerCase().indexOf(client) < 0) return false;
      }
      if (!allowed.has(it.p || "EVENTS")) return false;
      return it.t >= from && it.t <= to;
    };
  };

  var layout = function () {
    var keep = passes();
    shown = [];
    for (var i = 0; i < items.length; i++) if (keep(items[i])) shown.push(i);
    // The lanes of the connections left after filtering, left to right.
    laneX = new Map();
    shown.forEach(function (i) { var c = items[i].c; if (c !== undefined && !laneX.has(c)) laneX.set(c, 0); });
    var order = Array.from(laneX.keys()).sort(function (a, b) { return a - b; });
    order.forEach(function (c, n) { laneX.set(c, FIRST_LANE + n * LANE); });
    var real = $("f-axis").value === "real";
    var t0 = shown.length > 0 ? items[shown[0]].t : 0;
    var span = shown.length > 0 ? items[shown[shown.length - 1]].t - t0 : 0;
    var scale = Math.max(0, Number($("f-scale").value) || 0);
    if (real && span * scale > MAX_HEIGHT) scale = MAX_HEIGHT / span;
    ys = new Array(shown.length);
    gaps = [];
    var y = 34, prevT = undefined, shift = 0;
    for (var n = 0; n < shown.length; n++) {
      var t = items[shown[n]].t;
      if (real) {
        // Each gap at least its time at the scale; rows too close in time push the rest down.
        var at = 34 + (t - t0) * scale + shift;
        if (n > 0 && at < y + ROW) { shift += y + ROW - at; at = y + ROW; }
        y = at;
      } else if (prevT !== undefined) {
        var dt = t - prevT;
        y += ROW;
        // Compressed: a gap of 20 ms or more gets a band, taller for longer gaps.
        if (dt >= 20) {
          var band = Math.min(60, 14 + 10 * Math.log10(dt));
          gaps.push({ y: y, h: band, dt: dt });
          y += band;
        }
      }
      ys[n] = y;
      prevT = t;
    }
    height = (shown.length > 0 ? y + ROW : 34) + 20;
    var width = FIRST_LANE + Math.max(0, order.length - 1) * LANE + 260;
    var canvas = $("canvas");
    canvas.style.height = height + "px";
    canvas.style.width = width + "px";
    var heads = $("heads");
    heads.textContent = "";
    heads.style.width = width + "px";
    var lives = $("lives");
    lives.textContent = "";
    var addLane = function (x, name, title) {
      var h = el("div", "head", name);
      h.style.left = x + "px";
      h.title = title;
      heads.appendChild(h);
      var l = el("div", "life");
      l.style.left = x + "px";
      l.style.height = height - 30 + "px";
      lives.appendChild(l);
    };
    addLane(SERVER_X, "server", "mqttest");
    order.forEach(function (c) { var lane = lanes.get(c); addLane(laneX.get(c), laneName(lane), laneName(lane)); });
    $("count").textContent = shown.length + " of " + items.length + " rows";
    draw();
  };

  // The first shown row at or below offset y.
  var firstAt = function (y) {
    var lo = 0, hi = ys.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (ys[mid] < y) lo = mid + 1; else hi = mid; }
    return lo;
  };

  var rowOf = function (n) {
    var i = shown[n], it = items[i];
    var row = el("div", "row" + (i === selected ? " selected" : ""));
    row.style.top = ys[n] + "px";
    row.style.width = $("canvas").style.width;
    row.setAttribute("data-index", String(i));
    row.setAttribute("data-t", String(it.t));
    if (it.c !== undefined) row.setAttribute("data-c", String(it.c));
    row.appendChild(el("div", "time", "+" + ms(it.t)));
    var x = it.c === undefined ? SERVER_X : laneX.get(it.c);
    if (it.k === "in" || it.k === "out") {
      var arrow = el("div", "arrow " + it.k + (it.m ? " marked" : "") + (it.m && it.m.some(function (m) { return m.charAt(0) === "\u2716"; }) ? " violated" : ""));
      arrow.style.left = SERVER_X + "px";
      arrow.style.width = x - SERVER_X + "px";
      arrow.setAttribute("data-type", it.p);
      arrow.title = (it.k === "in" ? "client \u2192 server: " : "server \u2192 client: ") + it.s + (it.m ? "\n" + it.m.join("\n") : "");
      var label = el("div", "label");
      var rest = it.s.slice(it.p.length);
      if (it.m) label.appendChild(document.createTextNode(it.m.map(function (m) { return m.charAt(0); }).join("") + " "));
      label.appendChild(el("span", "type", it.p));
      label.appendChild(document.createTextNode(rest));
      arrow.appendChild(label);
      row.appendChild(arrow);
    } else {
      var icon = { open: "\u25cb ", close: "\u25cf ", fault: "\u26a1 ", violation: "\u2716 ", auth: "\u26bf ", warning: "! " }[it.k] || "";
      var note = el("div", "note " + it.k, icon + it.s);
      note.style.left = x + 8 + "px";
      note.title = it.s;
      row.appendChild(note);
    }
    return row;
  };

  var frame = 0;
  var draw = function () {
    frame = 0;
    var view = $("diagram");
    var top = view.scrollTop - 400, bottom = view.scrollTop + view.clientHeight + 400;
    var rows = $("rows");
    rows.textContent = "";
    var fragment = document.createDocumentFragment();
    for (var g = 0; g < gaps.length; g++) {
      if (gaps[g].y + gaps[g].h < top || gaps[g].y > bottom) continue;
      var band = el("div", "gap", "\u2026 " + ms(gaps[g].dt) + " later");
      band.style.top = gaps[g].y + "px";
      band.style.height = gaps[g].h + "px";
      fragment.appendChild(band);
    }
    for (var n = firstAt(top); n < shown.length && ys[n] <= bottom; n++) fragment.appendChild(rowOf(n));
    rows.appendChild(fragment);
  };
  $("diagram").addEventListener("scroll", function () { if (!frame) frame = requestAnimationFrame(draw); });
  window.addEventListener("resize", function () { if (!frame) frame = requestAnimationFrame(draw); });

  var show = function (i) {
    selected = i;
    var it = items[i];
    var panel = $("detail");
    panel.hidden = false;
    $("detail-title").textContent = (it.c !== undefined ? "c" + it.c + " " : "") + (it.k === "in" ? "\u2192 " : it.k === "out" ? "\u2190 " : "") + it.s;
    var marks = $("detail-marks");
    marks.textContent = "";
    (it.m || []).forEach(function (m) { marks.appendChild(el("li", "", m)); });
    $("detail-body").textContent = JSON.stringify(it.d, null, 2);
    draw();
  };
  $("rows").addEventListener("click", function (e) {
    var row = e.target.closest(".row");
    if (row && (e.target.closest(".arrow") || e.target.closest(".note"))) show(Number(row.getAttribute("data-index")));
  });
  $("detail-close").addEventListener("click", function () { $("detail").hidden = true; selected = -1; draw(); });
  ["f-conn", "f-client", "f-types", "f-from", "f-to", "f-axis", "f-scale"].forEach(function (id) {
    $(id).addEventListener("input", layout);
    $(id).addEventListener("change", layout);
  });
  layout();
  document.body.setAttribute("data-ready", String(performance.now()));
})();
`

/** The page: `title` (plain text) and the model as JSON (with `<` already escaped). */
export const page = (title: string, data: string): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>${escapeHtml(title)}</title>
<style>${style}</style>
</head>
<body>
<header>
<h1>${escapeHtml(title)}</h1>
<span id="start"></span>
<label title="Ctrl/Shift-click for several; none selected shows all">connections <select id="f-conn" multiple size="3"></select></label>
<label>client id <input id="f-client" type="search" placeholder="contains"></label>
<span id="f-types"></span>
<label>from <input id="f-from" type="number" step="any" placeholder="ms"></label>
<label>to <input id="f-to" type="number" step="any" placeholder="ms"></label>
<label>time axis <select id="f-axis"><option value="compressed">compressed</option><option value="real">real</option></select></label>
<label>px/ms <input id="f-scale" type="number" step="any" min="0" value="2"></label>
<span id="count"></span>
</header>
<main>
<div id="diagram"><div id="canvas"><div id="heads"></div><div id="lives"></div><div id="rows"></div></div></div>
<aside id="detail" hidden><button id="detail-close" type="button" title="close">×</button><h2 id="detail-title"></h2><ul id="detail-marks" class="marks"></ul><pre id="detail-body"></pre></aside>
</main>
<script type="application/json" id="mqttest-data">${data}</script>
<script>${script}</script>
</body>
</html>
`
