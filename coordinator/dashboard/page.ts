// The dashboard page: one self-contained HTML document (inline CSS and JS, no external requests).
// It polls ./dashboard/state every second and redraws. Kept as a string so it ships inside dist/.
export const DASHBOARD_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gptoss-cluster dashboard</title>
<style>
  body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px; color: #222; background: #fafafa; }
  h1 { font-size: 18px; margin: 0 0 8px; }
  h2 { font-size: 14px; margin: 16px 0 6px; }
  .bar { display: flex; gap: 18px; flex-wrap: wrap; align-items: baseline; }
  .pill { padding: 2px 8px; border-radius: 10px; background: #e8e8e8; }
  .ok { background: #d4f4d4; } .bad { background: #fbd4d4; }
  table.workers { border-collapse: collapse; background: #fff; }
  table.workers th, table.workers td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
  .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: middle; margin-right: 4px; }
  .panels { display: flex; gap: 24px; flex-wrap: wrap; }
  .grid { display: grid; gap: 1px; background: #ccc; border: 1px solid #ccc; width: max-content; }
  .grid .cell { width: 22px; height: 16px; font-size: 9px; line-height: 16px; text-align: center; overflow: hidden; }
  .grid .lab { background: #f0f0f0; font-size: 9px; line-height: 16px; text-align: center; min-width: 22px; height: 16px; }
  .cell.missing { background: repeating-linear-gradient(45deg, #eee, #eee 3px, #ccc 3px, #ccc 6px); }
  .cell.replicated { box-shadow: inset 0 0 0 2px rgba(255,255,255,.7); }
  svg { background: #fff; border: 1px solid #ddd; }
  .muted { color: #777; }
  #error { color: #b00; }
</style>
</head>
<body>
<h1>gptoss-cluster</h1>
<div class="bar">
  <span id="health" class="pill">health: ?</span>
  <span class="pill">running <b id="running">0</b></span>
  <span class="pill">waiting <b id="waiting">0</b></span>
  <span class="pill">workers <b id="nworkers">0</b></span>
  <span class="pill">placement v<b id="pversion">-</b></span>
  <span class="pill">tokens <b id="totaltokens">0</b></span>
  <span class="pill">re-replication <b id="rereplication">-</b></span>
  <span class="muted" id="updated">waiting for first update</span>
  <span id="error"></span>
</div>
<h2>Coordinators</h2>
<table class="workers"><thead><tr><th>coordinator</th><th>url</th><th>role</th></tr></thead>
<tbody id="coordinators"></tbody></table>
<h2>Workers</h2>
<table class="workers"><thead><tr><th>worker</th><th>address</th><th>state</th><th>held / capacity</th><th>assigned</th><th>loading</th><th>loaded in</th><th>heartbeat age</th><th>load</th></tr></thead>
<tbody id="workers"></tbody></table>
<div class="panels">
  <div><h2>Placement (layers &times; experts, coloured by serving worker)</h2><div id="placement" class="grid"></div></div>
  <div><h2>Tokens per expert</h2><div id="heatmap" class="grid"></div></div>
</div>
<div class="panels">
  <div><h2>Throughput (tokens/s)</h2><svg id="throughput" width="420" height="140"></svg></div>
  <div><h2>MoE layer latency (ms, mean per interval)</h2><svg id="latency" width="420" height="140"></svg></div>
</div>
<script>
(function () {
  'use strict';
  var stateUrl = location.pathname.replace(/\/+$/, '') + '/state';
  var updates = 0;
  function el(id) { return document.getElementById(id); }
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; }); }
  function age(ms) { return ms < 1000 ? ms + ' ms' : (ms / 1000).toFixed(1) + ' s'; }

  function gridHtml(L, E, cell) {
    var h = '<div class="lab"></div>';
    for (var e = 0; e < E; e++) h += '<div class="lab">' + e + '</div>';
    for (var l = 0; l < L; l++) {
      h += '<div class="lab">L' + l + '</div>';
      for (var x = 0; x < E; x++) h += cell(l, x);
    }
    return h;
  }

  function chart(svg, points, fmt) {
    var W = +svg.getAttribute('width'), H = +svg.getAttribute('height'), pad = 24;
    var vals = points.map(function (p) { return p.v; }).filter(function (v) { return v !== null; });
    var max = Math.max.apply(null, vals.concat([1e-9]));
    var n = Math.max(points.length - 1, 1);
    var pts = [], dots = '';
    points.forEach(function (p, i) {
      if (p.v === null) return;
      var x = pad + (W - 2 * pad) * (i / n), y = H - pad - (H - 2 * pad) * (p.v / max);
      pts.push(x.toFixed(1) + ',' + y.toFixed(1));
      dots += '<circle cx="' + x.toFixed(1) + '" cy="' + y.toFixed(1) + '" r="2" fill="#1f77b4"/>';
    });
    var last = vals.length ? vals[vals.length - 1] : null;
    svg.innerHTML =
      '<line x1="' + pad + '" y1="' + (H - pad) + '" x2="' + (W - pad) + '" y2="' + (H - pad) + '" stroke="#999"/>' +
      '<line x1="' + pad + '" y1="' + pad + '" x2="' + pad + '" y2="' + (H - pad) + '" stroke="#999"/>' +
      '<text x="' + (pad + 2) + '" y="' + (pad - 6) + '" font-size="10" fill="#555">max ' + fmt(max) + '</text>' +
      '<text x="' + (W - pad) + '" y="' + (pad - 6) + '" font-size="10" fill="#555" text-anchor="end">last ' + (last === null ? '-' : fmt(last)) + '</text>' +
      '<text x="' + (W - pad) + '" y="' + (H - 8) + '" font-size="10" fill="#555" text-anchor="end">' + points.length + ' s</text>' +
      '<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="' + pts.join(' ') + '"/>' + dots;
  }

  function render(s) {
    var colors = {};
    s.workers.forEach(function (w) { colors[w.workerId] = w.color; });
    el('health').textContent = 'health: ' + (s.health.ok ? 'ok' : 'degraded') + ' - ' + s.health.detail;
    el('health').className = 'pill ' + (s.health.ok ? 'ok' : 'bad');
    el('running').textContent = s.sessions.running;
    el('waiting').textContent = s.sessions.waiting;
    el('nworkers').textContent = s.workers.length;
    el('pversion').textContent = s.placement.version === null ? '-' : s.placement.version;
    el('totaltokens').textContent = s.totals.tokens;
    el('coordinators').innerHTML = (s.coordinators || []).map(function (c) {
      return '<tr data-coordinator-id="' + esc(c.coordinatorId) + '" data-leader="' + (c.leader ? 'true' : 'false') + '">' +
        '<td class="coordinator-id">' + esc(c.coordinatorId) + (c.self ? ' (this one)' : '') + '</td>' +
        '<td>' + esc(c.url) + '</td>' +
        '<td>' + (c.leader ? 'placement leader' : 'follower') + '</td></tr>';
    }).join('');
    var rr = s.rereplication;
    el('rereplication').textContent = (rr.awaiting > 0 ? rr.awaiting + ' experts awaiting; ' : '') +
      (rr.last ? 'last ' + rr.last.slots + ' experts in ' + rr.last.seconds.toFixed(1) + ' s (' + rr.last.perSecond.toFixed(1) + '/s)' : (rr.awaiting > 0 ? '' : '-'));
    el('workers').innerHTML = s.workers.map(function (w) {
      return '<tr data-worker-id="' + esc(w.workerId) + '" data-color="' + esc(w.color) + '">' +
        '<td class="worker-id"><span class="swatch" style="background:' + esc(w.color) + '"></span>' + esc(w.workerId) + '</td>' +
        '<td class="worker-address">' + esc(w.address) + '</td>' +
        '<td>' + esc(w.state) + '</td>' +
        '<td>' + w.held + ' / ' + w.capacity + '</td>' +
        '<td>' + w.assigned + '</td>' +
        '<td class="worker-loading">' + (w.loading === null ? '-' : w.loading === 0 ? 'done' : w.loading + ' left') + '</td>' +
        '<td class="worker-loaded-in">' + (w.loadedInS === null ? '-' : w.loadedInS.toFixed(1) + ' s') + '</td>' +
        '<td>' + age(w.heartbeatAgeMs) + '</td>' +
        '<td>' + (w.load === null ? '-' : w.load) + '</td></tr>';
    }).join('');
    var L = s.numLayers, E = s.numExperts;
    el('placement').style.gridTemplateColumns = 'repeat(' + (E + 1) + ', auto)';
    el('heatmap').style.gridTemplateColumns = 'repeat(' + (E + 1) + ', auto)';
    el('placement').innerHTML = gridHtml(L, E, function (l, e) {
      var holders = s.placement.grid[l][e];
      var slot = l * E + e;
      if (!holders.length) return '<div class="cell missing" data-slot="' + slot + '" data-workers="" title="layer ' + l + ' expert ' + e + ': no live holder"></div>';
      return '<div class="cell' + (holders.length > 1 ? ' replicated' : '') + '" data-slot="' + slot + '" data-worker="' + esc(holders[0]) +
        '" data-workers="' + esc(holders.join(',')) + '" style="background:' + esc(colors[holders[0]] || '#000') +
        '" title="layer ' + l + ' expert ' + e + ': ' + esc(holders.join(', ')) + '"></div>';
    });
    var max = 0;
    s.tokens.forEach(function (row) { row.forEach(function (v) { if (v > max) max = v; }); });
    el('heatmap').innerHTML = gridHtml(L, E, function (l, e) {
      var v = s.tokens[l][e], f = max > 0 ? v / max : 0;
      var bg = 'rgba(214,39,40,' + (0.06 + 0.94 * f).toFixed(3) + ')';
      return '<div class="cell heat" data-slot="' + (l * E + e) + '" data-tokens="' + v + '" style="background:' + bg + ';color:' + (f > 0.55 ? '#fff' : '#333') +
        '" title="layer ' + l + ' expert ' + e + ': ' + v + ' tokens">' + (v > 0 ? (v >= 1000 ? Math.round(v / 1000) + 'k' : v) : '') + '</div>';
    });
    chart(el('throughput'), s.history.map(function (h) { return { v: h.tokensPerSec }; }), function (v) { return v.toFixed(1); });
    chart(el('latency'), s.history.map(function (h) { return { v: h.latencyMs }; }), function (v) { return v.toFixed(2); });
    updates++;
    document.body.setAttribute('data-updates', String(updates));
    el('updated').textContent = 'updated ' + new Date(s.nowMs).toLocaleTimeString();
    el('error').textContent = '';
  }

  function poll() {
    fetch(stateUrl, { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(render)
      .catch(function (err) { el('error').textContent = 'update failed: ' + err.message; })
      .then(function () { setTimeout(poll, 1000); });
  }
  poll();
})();
</script>
</body>
</html>
`;
