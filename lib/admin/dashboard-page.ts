/**
 * The dashboard page served at `/dashboard` (a .ts module so that `tsc` puts it in dist/ with no
 * copy step). No framework, no external assets: it asks for the admin key once (kept in
 * sessionStorage), then polls the admin API every 2 s.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>wsq dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 10px 20px; display: flex; gap: 24px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  header .kpi b { font-size: 18px; }
  main { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; padding: 16px 20px; }
  section { background: #fff; border-radius: 6px; padding: 10px 14px; box-shadow: 0 1px 2px #0002; }
  section.wide { grid-column: 1 / 3; }
  h2 { font-size: 15px; margin: 4px 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #e4e6eb; font-variant-numeric: tabular-nums; }
  th { font-weight: 600; color: #555; }
  td.num, th.num { text-align: right; }
  .lag { color: #b45309; font-weight: 600; }
  .bad { color: #b91c1c; }
  .muted { color: #888; }
  button { font: inherit; padding: 2px 10px; cursor: pointer; }
  #login { max-width: 420px; margin: 80px auto; background: #fff; padding: 20px; border-radius: 6px; box-shadow: 0 1px 3px #0003; }
  #login input { width: 100%; box-sizing: border-box; padding: 6px; margin: 8px 0; font-family: monospace; }
  #error { color: #b91c1c; }
  .axis { display: flex; justify-content: space-between; font-size: 12px; color: #555; }
</style>
</head>
<body>
<form id="login" hidden>
  <h2>wsq admin</h2>
  <label for="key">Admin key (kept for this tab only)</label>
  <input id="key" type="password" autocomplete="off" placeholder="wsq_…">
  <button id="enter" type="submit">Open dashboard</button>
  <p id="error"></p>
</form>
<div id="app" hidden>
<header>
  <h1>wsq</h1>
  <span class="kpi">connections <b id="connections">–</b></span>
  <span class="kpi">namespaces <b id="namespaces">–</b></span>
  <span class="kpi">rooms <b id="room-count">–</b></span>
  <span class="kpi">store <b id="store">–</b></span>
  <span class="muted" id="updated"></span>
  <button id="logout" type="button" style="margin-left:auto">Forget key</button>
</header>
<main>
  <section class="wide"><h2>Messages stored per 10 s (last 10 minutes)</h2>
    <div class="axis"><span id="chart-max"></span><span id="chart-now"></span></div>
    <svg id="chart" width="100%" height="100" viewBox="0 0 600 100" preserveAspectRatio="none"></svg>
    <div class="axis muted"><span>10 min ago</span><span>now</span></div></section>
  <section class="wide"><h2>Rooms</h2>
    <table id="rooms"><thead><tr><th>namespace</th><th>room</th><th class="num">members</th><th class="num">first</th><th class="num">last</th><th>epoch</th><th>retention</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Groups and durable consumers</h2>
    <table id="groups"><thead><tr><th>room</th><th>consumer</th><th class="num">members</th><th class="num">floor</th><th class="num">lag</th><th class="num">pending</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Dead letters</h2>
    <table id="dead"><thead><tr><th>namespace</th><th>room</th><th class="num">dead letters</th><th></th></tr></thead><tbody></tbody></table></section>
  <section class="wide"><h2>Recent refusals</h2>
    <table id="refusals"><thead><tr><th>time</th><th class="num">status</th><th>reason</th></tr></thead><tbody></tbody></table></section>
</main>
</div>
<script>
(() => {
  const KEY = 'wsq-admin-key';
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  let timer;

  async function api(method, path) {
    const res = await fetch('/admin/api/' + path, { method, headers: { authorization: 'Bearer ' + sessionStorage.getItem(KEY) } });
    const body = await res.json().catch(() => ({}));
    if (res.status === 401) { logout(body.error || 'Unauthorized'); throw new Error('unauthorized'); }
    if (!res.ok) throw new Error(body.error || res.status + ' ' + res.statusText);
    return body;
  }
  const q = (ns, room) => 'ns=' + encodeURIComponent(ns) + '&room=' + encodeURIComponent(room);
  const fill = (id, rows) => { $(id).querySelector('tbody').innerHTML = rows.join('') || '<tr><td colspan="7" class="muted">none</td></tr>'; };
  const age = (ms) => (ms % 3600000 === 0 ? ms / 3600000 + ' h' : ms % 60000 === 0 ? ms / 60000 + ' min' : ms / 1000 + ' s');
  const bytes = (n) => (n >= 1048576 ? +(n / 1048576).toFixed(1) + ' MiB' : n >= 1024 ? +(n / 1024).toFixed(1) + ' KiB' : n + ' B');
  const ret = (r) => [r.maxMessages ? r.maxMessages + ' msgs' : '', r.maxAgeMs ? age(r.maxAgeMs) : '', r.maxBytes ? bytes(r.maxBytes) : '', r.overflow].filter(Boolean).join(', ');

  function chart(rates) {
    // 60 slots of 10 s, newest at the right; one bar per bucket the server kept.
    const W = 600, H = 100, SLOTS = 60;
    const max = Math.max(1, ...rates.map((b) => b.messages));
    const w = W / SLOTS;
    const bars = rates.slice(-SLOTS).map((b, i, all) => {
      const h = Math.max(b.messages ? 2 : 0, (b.messages * (H - 4)) / max);
      const x = (SLOTS - all.length + i) * w;
      return '<rect class="bar" x="' + (x + 1).toFixed(1) + '" y="' + (H - h).toFixed(1) + '" width="' + (w - 2).toFixed(1) + '" height="' + h.toFixed(1) + '" fill="#2563eb"><title>' +
        new Date(b.ts).toLocaleTimeString() + ': ' + b.messages + ' messages, ' + b.connections + ' connections</title></rect>';
    });
    $('chart').innerHTML = '<line x1="0" y1="' + H + '" x2="' + W + '" y2="' + H + '" stroke="#ccc" vector-effect="non-scaling-stroke"/>' + bars.join('');
    const last = rates.at(-1);
    $('chart-max').textContent = 'peak ' + max + ' per 10 s';
    $('chart-now').textContent = 'now: ' + (last ? last.messages : 0) + ' in this 10 s, ' + (last ? last.connections : 0) + ' connections';
  }

  async function refresh() {
    try {
      const [stats, { rooms }] = await Promise.all([api('GET', 'stats'), api('GET', 'rooms')]);
      $('connections').textContent = stats.connections;
      $('namespaces').textContent = stats.namespaces;
      $('store').textContent = stats.store;
      const plain = rooms.filter((r) => !r.room.startsWith('$dead:'));
      const deadRooms = rooms.filter((r) => r.room.startsWith('$dead:'));
      $('room-count').textContent = plain.length;
      fill('rooms', plain.map((r) => '<tr data-ns="' + esc(r.ns) + '" data-room="' + esc(r.room) + '"><td>' + esc(r.ns) + '</td><td>' + esc(r.room) + '</td><td class="num members">' + r.members +
        '</td><td class="num">' + (r.first ?? '') + '</td><td class="num last">' + (r.last ?? '') + '</td><td class="muted">' + esc(r.epoch ?? '') + '</td><td>' + esc(ret(r.retention)) + '</td></tr>'));
      const withLog = plain.filter((r) => (r.last ?? 0) > 0).slice(0, 20);
      const groups = await Promise.all(withLog.map((r) => api('GET', 'groups?' + q(r.ns, r.room))));
      fill('groups', groups.flatMap((g) => g.groups.filter((c) => c.kind !== 'admin').map((c) => '<tr data-room="' + esc(g.room) + '" data-consumer="' + esc(c.name) + '"><td>' + esc(g.room) + '</td><td>' + esc(c.name) +
        '</td><td class="num">' + c.members + '</td><td class="num">' + c.floor + '</td><td class="num lagv' + (c.lag > 0 ? ' lag' : '') + '">' + c.lag + '</td><td class="num">' + c.pending + '</td></tr>')));
      const dead = await Promise.all(deadRooms.slice(0, 20).map((r) => api('GET', 'dead?limit=1&' + q(r.ns, r.room.slice(6)))));
      fill('dead', dead.map((d) => '<tr data-ns="' + esc(d.ns) + '" data-room="' + esc(d.room) + '"><td>' + esc(d.ns) + '</td><td>' + esc(d.room) + '</td><td class="num count' + (d.count ? ' bad' : '') + '">' + d.count +
        '</td><td>' + (d.count ? '<button class="redrive">Re-drive</button>' : '') + '</td></tr>'));
      fill('refusals', stats.refusals.slice().reverse().map((r) => '<tr><td>' + new Date(r.ts).toLocaleTimeString() + '</td><td class="num bad">' + r.status + '</td><td>' + esc(r.reason) + '</td></tr>'));
      chart(stats.rates);
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      document.body.dataset.ready = 'true';
    } catch (err) {
      if (err.message !== 'unauthorized') $('updated').textContent = 'error: ' + err.message;
    }
  }

  $('dead').addEventListener('click', async (e) => {
    const btn = e.target.closest('button.redrive');
    if (!btn) return;
    const tr = btn.closest('tr');
    btn.disabled = true;
    try { await api('POST', 'redrive?' + q(tr.dataset.ns, tr.dataset.room)); } catch (err) { $('updated').textContent = 'error: ' + err.message; }
    await refresh();
  });

  function start() {
    $('login').hidden = true;
    $('app').hidden = false;
    refresh();
    clearInterval(timer);
    timer = setInterval(refresh, 2000);
  }
  function logout(reason) {
    clearInterval(timer);
    sessionStorage.removeItem(KEY);
    $('app').hidden = true;
    $('login').hidden = false;
    $('error').textContent = reason || '';
  }
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, $('key').value.trim());
    start();
  });
  $('logout').addEventListener('click', () => logout());
  if (sessionStorage.getItem(KEY)) start(); else logout();
})();
</script>
</body>
</html>
`;
