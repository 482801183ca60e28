/**
 * The dashboard page (served by dashboard/server.ts at GET /): one self-contained HTML document
 * with inline CSS and vanilla JS, no external resources (it must work on a closed network).
 * The script loads /api/state, subscribes to /events and re-renders on every event; charts are
 * inline SVG drawn by the script. All data is inserted as text (never as HTML).
 */
import { createHash } from 'node:crypto';

const STYLE = `
:root { --bg:#f6f7f9; --card:#fff; --ink:#1d2430; --muted:#6b7585; --line:#e3e6eb; --accent:#2563eb;
  --ok:#16a34a; --busy:#2563eb; --warn:#d97706; --bad:#dc2626; --off:#9ca3af; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; background:var(--bg); color:var(--ink); }
header { display:flex; flex-wrap:wrap; align-items:baseline; gap:.4rem 1rem; padding:14px 24px; background:var(--card); border-bottom:1px solid var(--line); }
header h1 { font-size:18px; margin:0; font-weight:650; }
header .sub { color:var(--muted); }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; background:#e8efff; color:var(--accent); font-weight:600; font-size:12px; text-transform:uppercase; letter-spacing:.03em; }
.badge.finished { background:#e7f6ec; color:var(--ok); }
#conn { margin-left:auto; font-size:12px; color:var(--muted); }
#conn .dot { vertical-align:middle; }
#banner { display:none; padding:8px 24px; background:#fff4e5; color:#8a4b00; border-bottom:1px solid #f3d19c; font-weight:600; }
#banner.show { display:block; }
main { padding:18px 24px 32px; max-width:1280px; margin:0 auto; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(200px, 1fr)); gap:12px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px; }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .value { font-size:26px; font-weight:650; margin-top:2px; font-variant-numeric:tabular-nums; }
.card .hint { color:var(--muted); font-size:12px; font-variant-numeric:tabular-nums; }
.charts { display:grid; grid-template-columns:repeat(auto-fit, minmax(260px, 1fr)); gap:12px; margin-top:12px; }
.chart h3 { margin:0 0 4px; font-size:13px; font-weight:600; }
.chart svg { width:100%; height:110px; display:block; }
.chart .empty { fill:var(--muted); font-size:11px; }
.chart .axis { fill:var(--muted); font-size:10px; }
.legend { font-size:11px; color:var(--muted); }
.legend i { display:inline-block; width:10px; height:3px; margin:0 4px 2px 8px; vertical-align:middle; }
section { margin-top:18px; }
section h2 { font-size:15px; margin:0 0 8px; font-weight:650; }
.grid2 { display:grid; grid-template-columns:minmax(0, 3fr) minmax(0, 2fr); gap:16px; }
.scroll { overflow-x:auto; border-radius:10px; }
@media (max-width: 900px) { .grid2 { grid-template-columns:1fr; } }
table { width:100%; border-collapse:collapse; background:var(--card); border:1px solid var(--line); border-radius:10px; overflow:hidden; font-variant-numeric:tabular-nums; }
th, td { padding:6px 10px; border-bottom:1px solid var(--line); text-align:left; white-space:nowrap; }
th { background:#fafbfc; color:var(--muted); font-weight:600; font-size:12px; }
td.num, th.num { text-align:right; }
tr:last-child td { border-bottom:none; }
tr.open td { background:#f5f8ff; }
td.none { color:var(--muted); text-align:center; }
.dot { display:inline-block; width:9px; height:9px; border-radius:50%; margin-right:6px; background:var(--off); }
.dot.online, .dot.idle { background:var(--ok); }
.dot.training { background:var(--busy); }
.dot.uploading { background:var(--warn); }
.dot.offline { background:var(--off); }
.dot.unseen { background:transparent; border:1.5px solid var(--off); }
.dot.live { background:var(--ok); }
.dot.lost { background:var(--bad); }
.muted { color:var(--muted); }
.rej { display:flex; flex-wrap:wrap; gap:6px; }
.rej span { background:#fdecec; color:var(--bad); border-radius:6px; padding:2px 8px; font-size:12px; }
footer { color:var(--muted); font-size:12px; margin-top:18px; }
`;

const SCRIPT = `
'use strict';
(function () {
  var S = null;          // last state
  var receivedAt = 0;    // Date.now() when S arrived
  var events = 0;
  var $ = function (id) { return document.getElementById(id); };
  var SVGNS = 'http://www.w3.org/2000/svg';

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) el.setAttribute(k, attrs[k]);
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  function s(tag, attrs, text) {
    var el = document.createElementNS(SVGNS, tag);
    for (var k in attrs) el.setAttribute(k, attrs[k]);
    if (text !== undefined) el.textContent = text;
    return el;
  }
  function setText(id, t) { var el = $(id); if (el.textContent !== t) el.textContent = t; }
  function replace(el, children) { while (el.firstChild) el.removeChild(el.firstChild); children.forEach(function (c) { el.appendChild(c); }); }

  // ---- formats
  var DASH = '\\u2014';
  function isNum(x) { return typeof x === 'number' && isFinite(x); }
  function bytes(n) {
    if (!isNum(n)) return DASH;
    if (n < 1024) return Math.round(n) + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    if (n < 1073741824) return (n / 1048576).toFixed(2) + ' MiB';
    return (n / 1073741824).toFixed(2) + ' GiB';
  }
  function pct(x) { return isNum(x) ? (100 * x).toFixed(1) + '%' : DASH; }
  function joules(j) {
    if (!isNum(j)) return DASH;
    if (j >= 1e6) return (j / 1e6).toFixed(2) + ' MJ';
    if (j >= 1e3) return (j / 1e3).toFixed(2) + ' kJ';
    return j.toFixed(j < 10 ? 2 : 1) + ' J';
  }
  function mb(x) { return isNum(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) + ' MB' : DASH; }
  function secs(x) {
    if (!isNum(x)) return DASH;
    if (x < 60) return x.toFixed(1) + ' s';
    var m = Math.floor(x / 60); return m + ' m ' + Math.round(x - 60 * m) + ' s';
  }
  function clock(ms) {
    var t = Math.max(0, Math.round(ms / 1000)), hh = Math.floor(t / 3600), mm = Math.floor((t % 3600) / 60), ss = t % 60;
    var p = function (v) { return v < 10 ? '0' + v : String(v); };
    return (hh > 0 ? hh + ':' + p(mm) : String(mm)) + ':' + p(ss);
  }
  function ago(t) {
    if (!isNum(t)) return 'never';
    var d = Math.max(0, (serverNow() - t) / 1000);
    if (d < 60) return Math.round(d) + ' s ago';
    if (d < 3600) return Math.round(d / 60) + ' min ago';
    if (d < 86400) return (d / 3600).toFixed(1) + ' h ago';
    return new Date(t).toLocaleString();
  }
  function serverNow() { return S ? S.serverTime + (Date.now() - receivedAt) : Date.now(); }
  function muText(mu) { return isNum(mu) ? Number(mu.toPrecision(3)).toString() : (mu === null || mu === undefined ? 'n/a' : String(mu)); }

  // ---- charts
  function chart(svg, xs, series, fmt, yUnit) {
    var W = 300, H = 110, L = 46, R = 8, T = 8, B = 18;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var vals = [];
    series.forEach(function (se) { se.values.forEach(function (v) { if (isNum(v)) vals.push(v); }); });
    if (vals.length === 0) { svg.appendChild(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, 'no data yet')); return; }
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    if (hi === lo) { hi = hi + (Math.abs(hi) || 1) * 0.05; lo = lo - (Math.abs(lo) || 1) * 0.05; }
    var x0 = xs[0], x1 = xs[xs.length - 1];
    var X = function (x) { return x1 === x0 ? L + (W - L - R) / 2 : L + (x - x0) / (x1 - x0) * (W - L - R); };
    var Y = function (v) { return T + (hi - v) / (hi - lo) * (H - T - B); };
    svg.appendChild(s('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#e3e6eb' }));
    svg.appendChild(s('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#e3e6eb' }));
    svg.appendChild(s('text', { x: L - 4, y: T + 8, 'text-anchor': 'end', class: 'axis' }, fmt(hi)));
    svg.appendChild(s('text', { x: L - 4, y: H - B, 'text-anchor': 'end', class: 'axis' }, fmt(lo)));
    svg.appendChild(s('text', { x: L, y: H - 4, class: 'axis' }, 'round ' + x0));
    if (x1 !== x0) svg.appendChild(s('text', { x: W - R, y: H - 4, 'text-anchor': 'end', class: 'axis' }, String(x1)));
    // axis titles with units: x is the round, y says what and in which unit
    svg.appendChild(s('text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle', class: 'axis' }, 'round'));
    svg.appendChild(s('text', { x: L + 4, y: T + 8, class: 'axis unit' }, yUnit));
    series.forEach(function (se) {
      var pts = [];
      var flushLine = function () {
        if (pts.length > 1) svg.appendChild(s('polyline', { points: pts.join(' '), fill: 'none', stroke: se.color, 'stroke-width': 2, 'stroke-linejoin': 'round' }));
        pts = [];
      };
      se.values.forEach(function (v, i) {
        if (!isNum(v)) { flushLine(); return; }
        var px = X(xs[i]).toFixed(1), py = Y(v).toFixed(1);
        pts.push(px + ',' + py);
        var c = s('circle', { cx: px, cy: py, r: xs.length > 40 ? 1.5 : 2.5, fill: se.color });
        c.appendChild(s('title', {}, se.label + ', round ' + xs[i] + ': ' + fmt(v)));
        svg.appendChild(c);
      });
      flushLine();
    });
  }

  function tel(r, k) { return r.telemetry ? r.telemetry[k] : null; }

  // ---- render
  function render() {
    if (!S) return;
    var e = S.experiment;
    document.title = 'tinyproto ' + DASH + ' ' + e.id;
    setText('exp', e.id);
    setText('method', e.method);
    $('status').className = 'badge' + (e.status === 'finished' ? ' finished' : '');
    setText('status', e.status);
    setText('params', 'K ' + e.numClasses + ' \\u00b7 d ' + e.d + (e.method === 'tinyproto' ? ' \\u00b7 r ' + e.r + ' \\u00b7 \\u03bc ' + muText(e.mu) : '') +
      ' \\u00b7 ' + e.valueType + ' \\u00b7 ' + e.agents + ' agents \\u00b7 participation ' + pct(e.participation));

    var online = S.agents.filter(function (a) { return a.online; }).length;
    setText('c-agents', online + ' / ' + S.agents.length);
    var states = {};
    S.agents.forEach(function (a) { states[a.state] = (states[a.state] || 0) + 1; });
    setText('c-agents-hint', Object.keys(states).sort().map(function (k) { return states[k] + ' ' + k; }).join(', ') || DASH);

    var cur = S.current;
    var shownRound = cur ? cur.round : e.currentRound;
    setText('c-round', (shownRound || 0) + ' / ' + e.rounds);
    setText('c-uploads', cur ? cur.uploads + ' / ' + cur.selected : DASH);
    setText('c-uploads-hint', cur ? 'round ' + cur.round : (e.status === 'finished' ? 'experiment finished' : 'no round open'));
    setText('c-bytes', bytes(S.totals.bytesIn + S.totals.globalBytes));
    setText('c-bytes-hint', bytes(S.totals.bytesIn) + ' up \\u00b7 ' + bytes(S.totals.globalBytes) + ' global' +
      (isNum(S.totals.energyJ) ? ' \\u00b7 ' + joules(S.totals.energyJ) : ''));
    tick();

    // agents
    replace($('agents'), S.agents.length ? S.agents.map(function (a) {
      return h('tr', { 'data-agent': a.id, 'data-state': a.state },
        h('td', null, a.id),
        h('td', null, h('span', { class: 'dot ' + (/^[a-z]+$/.test(a.state) ? a.state : 'unseen') }), a.state),
        h('td', null, a.family || DASH),
        h('td', { class: 'num' }, a.lastRound === null ? DASH : a.lastRound),
        h('td', { class: 'num', 'data-seen': a.lastSeen === null ? '' : a.lastSeen }, ago(a.lastSeen)));
    }) : [h('tr', null, h('td', { colspan: 5, class: 'none' }, 'no agents'))]);

    // rounds, newest first, with the open round on top
    var rows = [];
    if (cur) rows.push(h('tr', { class: 'open', 'data-round': cur.round, 'data-status': 'open' },
      h('td', null, cur.round), h('td', { class: 'num' }, cur.uploads + ' / ' + cur.selected),
      h('td', { colspan: 6, class: 'muted' }, 'open ' + DASH + ' waiting for uploads')));
    S.rounds.slice().reverse().forEach(function (r) {
      var acc = tel(r, 'accuracyHead'), accP = tel(r, 'accuracyPrototype');
      rows.push(h('tr', { 'data-round': r.round, 'data-status': 'closed' },
        h('td', null, r.round),
        h('td', { class: 'num' }, r.uploads + ' / ' + r.selected),
        h('td', { class: 'num', title: bytes(r.bytesIn) + ' uploaded, ' + bytes(r.globalBytes) + ' global' }, bytes(r.bytesIn) + ' / ' + bytes(r.globalBytes)),
        h('td', { class: 'num' }, pct(acc) + (isNum(accP) ? ' / ' + pct(accP) : '')),
        h('td', { class: 'num' }, joules(tel(r, 'energyJ'))),
        h('td', { class: 'num' }, r.telemetry ? mb(r.telemetry.peakRssMbMean) + ' / ' + mb(r.telemetry.peakRssMbMax) : DASH),
        h('td', { class: 'num' }, secs(r.seconds)),
        h('td', { class: 'num' }, secs(tel(r, 'latencyMeanS')))));
    });
    replace($('rounds'), rows.length ? rows : [h('tr', null, h('td', { colspan: 8, class: 'none' }, 'no round closed yet'))]);

    // charts
    var xs = S.rounds.map(function (r) { return r.round; });
    chart($('ch-acc'), xs, [
      { label: 'head', color: '#2563eb', values: S.rounds.map(function (r) { return tel(r, 'accuracyHead'); }) },
      { label: 'prototype', color: '#16a34a', values: S.rounds.map(function (r) { return tel(r, 'accuracyPrototype'); }) }], pct, 'accuracy (%, test-count-weighted)');
    chart($('ch-bytes'), xs, [
      { label: 'uploaded', color: '#7c3aed', values: S.rounds.map(function (r) { return r.bytesIn; }) },
      { label: 'global', color: '#0891b2', values: S.rounds.map(function (r) { return r.globalBytes; }) }], bytes, 'bytes per round (encoded messages)');
    chart($('ch-energy'), xs, [{ label: 'energy', color: '#d97706', values: S.rounds.map(function (r) { return tel(r, 'energyJ'); }) }], joules, 'energy per round (J, all agents)');
    chart($('ch-mem'), xs, [
      { label: 'mean', color: '#db2777', values: S.rounds.map(function (r) { return tel(r, 'peakRssMbMean'); }) },
      { label: 'max', color: '#9f1239', values: S.rounds.map(function (r) { return tel(r, 'peakRssMbMax'); }) }], mb, 'peak RSS (MB)');
    $('telemetry-note').style.display = S.telemetryAvailable && S.rounds.some(function (r) { return r.telemetry; }) || !S.rounds.length ? 'none' : '';

    // rejections
    var rej = Object.keys(S.rejections);
    replace($('rejections'), rej.length ? rej.map(function (k) { return h('span', { title: k }, k + ' \\u00d7 ' + S.rejections[k]); })
      : [h('span', { class: 'muted', style: 'background:none;color:inherit;padding:0' }, 'none')]);
    replace($('recent'), S.recentRejections.slice(0, 5).map(function (r) {
      return h('tr', null, h('td', null, ago(r.at)), h('td', null, r.agent || '?'), h('td', { class: 'num' }, r.round === null ? DASH : r.round),
        h('td', null, r.code), h('td', { style: 'white-space:normal' }, r.message));
    }));
    $('recent-wrap').style.display = S.recentRejections.length ? '' : 'none';
    setText('updated', 'updated ' + new Date(receivedAt).toLocaleTimeString() + ' \\u00b7 ' + events + ' live event' + (events === 1 ? '' : 's'));
    document.body.setAttribute('data-events', String(events));
  }

  // the countdown and the "last seen" ages move between events
  function tick() {
    if (!S) return;
    var cur = S.current;
    if (!cur) { setText('c-deadline', S.experiment.status === 'finished' ? 'finished' : DASH); return; }
    var left = cur.deadlineMs - serverNow();
    setText('c-deadline', left > 0 ? 'deadline in ' + clock(left) : 'deadline passed ' + clock(-left) + ' ago');
    var cells = document.querySelectorAll('td[data-seen]');
    for (var i = 0; i < cells.length; i++) {
      var v = cells[i].getAttribute('data-seen');
      var t = v ? ago(Number(v)) : 'never';
      if (cells[i].textContent !== t) cells[i].textContent = t;
    }
  }

  function accept(state) {
    if (!state) return;
    S = state;
    receivedAt = Date.now();
    render();
  }

  function setConn(ok, text) {
    $('banner').className = ok ? '' : 'show';
    $('conn-dot').className = 'dot ' + (ok ? 'live' : 'lost');
    setText('conn-text', text);
  }

  function load() {
    return fetch('api/state', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(accept).catch(function () {});
  }

  function subscribe() {
    if (!window.EventSource) { setConn(false, 'no live updates in this browser'); setInterval(load, 5000); return; }
    var es = new EventSource('events');
    var names = ['state', 'roundOpened', 'upload', 'rejected', 'roundClosed', 'status', 'finished', 'failure'];
    names.forEach(function (name) {
      es.addEventListener(name, function (m) {
        try {
          var d = JSON.parse(m.data);
          if (name !== 'state') events++;
          accept(d.state);
        } catch (err) { /* ignore a malformed event */ }
      });
    });
    es.onopen = function () { setConn(true, 'live'); };
    es.onerror = function () { setConn(false, 'connection lost, retrying\\u2026'); };
  }

  load();
  subscribe();
  setInterval(tick, 1000);
})();
`;

const BODY = `
<div id="banner" role="status">Connection lost, retrying&hellip;</div>
<header>
  <h1>tinyproto &middot; <span id="exp">&hellip;</span></h1>
  <span class="badge" id="method">&hellip;</span>
  <span class="badge" id="status">&hellip;</span>
  <span class="sub" id="params"></span>
  <span id="conn"><span class="dot" id="conn-dot"></span><span id="conn-text">connecting&hellip;</span></span>
</header>
<main>
  <div class="cards">
    <div class="card"><div class="label">Agents online</div><div class="value" id="c-agents">&ndash;</div><div class="hint" id="c-agents-hint"></div></div>
    <div class="card"><div class="label">Round</div><div class="value" id="c-round">&ndash;</div><div class="hint" id="c-deadline"></div></div>
    <div class="card"><div class="label">Uploads this round</div><div class="value" id="c-uploads">&ndash;</div><div class="hint" id="c-uploads-hint"></div></div>
    <div class="card"><div class="label">Total bytes</div><div class="value" id="c-bytes">&ndash;</div><div class="hint" id="c-bytes-hint"></div></div>
  </div>
  <div class="charts">
    <div class="card chart"><h3>Accuracy <span class="legend"><i style="background:#2563eb"></i>head<i style="background:#16a34a"></i>prototype</span></h3><svg id="ch-acc" role="img" aria-label="accuracy per round"></svg></div>
    <div class="card chart"><h3>Bytes per round <span class="legend"><i style="background:#7c3aed"></i>uploaded<i style="background:#0891b2"></i>global</span></h3><svg id="ch-bytes" role="img" aria-label="bytes per round"></svg></div>
    <div class="card chart"><h3>Energy per round <span class="legend"><i style="background:#d97706"></i>all agents</span></h3><svg id="ch-energy" role="img" aria-label="energy per round"></svg></div>
    <div class="card chart"><h3>Peak memory (RSS) <span class="legend"><i style="background:#db2777"></i>mean<i style="background:#9f1239"></i>max</span></h3><svg id="ch-mem" role="img" aria-label="peak memory per round"></svg></div>
  </div>
  <p class="muted" id="telemetry-note" style="display:none">No agent telemetry stored yet: accuracy, energy and memory appear once agents report it.</p>
  <section>
    <h2>Rounds</h2>
    <div class="scroll"><table><thead><tr><th>round</th><th class="num">uploads</th><th class="num" title="uploaded by the agents / global prototypes published">bytes up / global</th><th class="num" title="test-count-weighted mean over the agents: head / prototype classifier">accuracy head / proto</th><th class="num" title="all agents">energy</th><th class="num" title="peak RSS over the agents">peak mem mean / max</th><th class="num" title="round open to close at the aggregator">time</th><th class="num" title="mean agent round latency, announcement to evaluation">agent latency</th></tr></thead><tbody id="rounds"></tbody></table></div>
  </section>
  <div class="grid2">
    <section>
      <h2>Agents</h2>
      <div class="scroll"><table><thead><tr><th>agent</th><th>state</th><th>family</th><th class="num">last round</th><th class="num">last seen</th></tr></thead><tbody id="agents"></tbody></table></div>
    </section>
    <section>
      <h2>Rejected messages</h2>
      <div class="rej" id="rejections"></div>
      <div id="recent-wrap" class="scroll" style="display:none; margin-top:8px">
        <table><thead><tr><th>when</th><th>agent</th><th class="num">round</th><th>code</th><th>message</th></tr></thead><tbody id="recent"></tbody></table>
      </div>
    </section>
  </div>
  <footer id="updated"></footer>
</main>
`;

export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tinyproto dashboard</title>
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

/** CSP source for the page's only script ('sha256-...'). */
export const DASHBOARD_SCRIPT_HASH = `sha256-${createHash('sha256').update(SCRIPT, 'utf8').digest('base64')}`;
