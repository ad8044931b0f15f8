// mega dashboard: plain JavaScript, no framework, no build step, no external URLs.
// Served by mega itself: / is index.html, /assets/NAME is a file of admin/dashboard/.
// Talks to the admin API under /api/ (JSON; ids are strings of 64-bit integers, never parsed
// as numbers here).
//
// Auth: every /api/* call sends `Authorization: Bearer <token>` when localStorage holds
// "mega.adminToken"; a 401 opens a small token prompt that stores it.
//
// URL parameters (for development and tests): ?refresh_ms=N sets the auto-refresh period
// (default 5000, at least 250).
//
// Stable hooks for tests (id == data-testid unless noted):
//   page           health, paused-banner, auto-refresh (checkbox), refresh-now, last-updated
//                  (data-ts = ms of the last complete refresh), notice (data-kind ok|error;
//                  the last action's result; a click hides it), token-dialog, token-input, token-save, token-clear
//   cards          stat-queued, stat-inflight, stat-waiting, stat-sent, stat-failed, stat-dead,
//                  rate-overall, rate-today, rate-hour, queue-high, queue-normal, queue-low,
//                  queue-disk, tput-1m, tput-5m, tput-60m, log-health, log-detail.
//                  Numeric ones carry the raw number in data-value ("" when unknown).
//   charts         chart-minutes, chart-seconds (each holds one <svg data-points=N>);
//                  by-template, by-source (tbody)
//   history        history (section: data-state loading|ok|error, data-range of what it
//                  shows), history-24h, history-7d (range buttons, aria-pressed),
//                  history-summary (data-sent, data-failed: the range's totals),
//                  history-error ("history unavailable: …" when the server could not read
//                  it), chart-history, chart-wait, chart-latency (each one <svg
//                  data-points=N>; the wait and latency ones also data-values = steps with a
//                  value). Loaded at most every 30 s (or the refresh period if longer), at
//                  once on a range button or Refresh.
//   messages       message-filters (form), filter-status, filter-openid, filter-key,
//                  filter-source, filter-from, filter-to, filter-apply, filter-reset,
//                  messages-body, messages-count, messages-prev, messages-next, messages-page,
//                  messages-limit, message-detail; rows: [data-testid=message-row] with
//                  data-id, data-status, data-openid; in a row: [data-testid=message-retry]
//                  (failed rows only), [data-testid=message-open]
//   message detail message-detail (data-id), message-detail-close, message-timeline (ol) of
//                  [data-testid=timeline-step] with data-event (queued, retry, sent, failed,
//                  cancelled), data-attempt, data-ms; in a step [data-testid=timeline-time]
//                  (local time, YYYY-MM-DD HH:MM:SS.mmm); timeline-zone, message-body,
//                  message-raw (details: the reply as JSON)
//   dead letters   dead-count, dead-retry-all, dead-flush (both ask confirm()), dead-groups;
//                  [data-testid=dead-group] with data-class, data-errcode;
//                  [data-testid=dead-retry-group]; rows [data-testid=dead-row] with data-id,
//                  data-openid; in a row [data-testid=dead-retry], [data-testid=dead-forget]
//   waiting        waiting-count, waiting-body; rows [data-testid=waiting-row] with data-id,
//                  data-kind; in a row [data-testid=waiting-cancel]
//   cluster        cluster-summary (data-up, data-down), cluster-body; rows
//                  [data-testid=cluster-node] with data-id, data-state (up|down)
//   account        account-appid, account-state (data-paused true|false), account-reason,
//                  account-pause, account-resume
//   tasks          tasks-list; [data-testid=task-row] with data-id, data-status; in it
//                  [data-testid=task-progress] (data-done = sent+failed, data-total),
//                  [data-testid=task-start|task-pause|task-resume|task-cancel] (cancel asks
//                  confirm()); task-create (details), task-form, task-key, task-openids,
//                  task-data, task-rate, task-options, task-submit
//   templates      templates-count, templates-body; rows [data-testid=template-row] with
//                  data-key; in a row [data-testid=template-reload]; reload-key,
//                  reload-submit; test-message (details), test-form, test-openid, test-key,
//                  test-data, test-submit
//   every section  [data-testid=panel-error] inside it when its endpoint failed
'use strict';

(function () {
  const TOKEN_KEY = 'mega.adminToken';
  const params = new URLSearchParams(location.search);
  const REFRESH_MS = Math.max(250, Number(params.get('refresh_ms')) || 5000);

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------------------------------
  // DOM helpers (text only through textContent: openids and error texts are untrusted)

  function h(tag, props, ...children) {
    const e = tag === 'svg' || SVG_TAGS.has(tag)
      ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    append(e, children);
    return e;
  }
  const SVG_TAGS = new Set(['rect', 'line', 'text', 'g', 'title', 'path', 'circle']);

  function append(parent, children) {
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) append(parent, c);
      else parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  function replace(parent, ...children) {
    parent.replaceChildren();
    append(parent, children);
  }

  const pad = (n, w = 2) => String(n).padStart(w, '0');

  function fmtInt(v) {
    if (v === null || v === undefined || v === '') return '–';
    const n = Number(v);
    return Number.isFinite(n) ? n.toLocaleString('en-US') : String(v);
  }

  function fmtPct(x) {
    if (x === null || x === undefined || !Number.isFinite(Number(x))) return '—';
    const p = Number(x) * 100;
    return (p > 99 && p < 100 ? p.toFixed(2) : p.toFixed(1)) + '%';
  }

  function fmtRate(x) {
    if (x === null || x === undefined || !Number.isFinite(Number(x))) return '–';
    const n = Number(x);
    return (n === 0 ? '0' : n < 10 ? n.toFixed(2) : n.toFixed(0)) + ' /s';
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return '–';
    n = Number(n);
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + ' ' + units[i];
  }

  function fmtTime(ms) {
    ms = Number(ms);
    if (!ms) return '—';
    const d = new Date(ms), now = new Date();
    const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    if (d.toDateString() === now.toDateString()) return t;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}`;
  }

  // A time in full, in this browser's time zone, to the millisecond.
  function fmtLocalFull(ms) {
    const d = new Date(Number(ms));
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  // This browser's time zone: "UTC+05:30 Asia/Kolkata".
  function zoneName() {
    const off = -new Date().getTimezoneOffset(), a = Math.abs(off);
    let zone = '';
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { /* none */ }
    return `UTC${off < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}:${pad(a % 60)}${zone ? ' ' + zone : ''}`;
  }

  // A duration in ms, short: "0.4 ms", "35 ms", "1.2 s", "4.5 min", "2.1 h".
  function fmtDuration(ms) {
    if (ms === null || ms === undefined || !Number.isFinite(Number(ms))) return '–';
    const v = Number(ms);
    const one = (x) => (x < 10 && !Number.isInteger(x) ? x.toFixed(1) : x.toFixed(0));
    if (v < 1) return `${v.toFixed(v < 0.1 ? 2 : 1)} ms`;
    if (v < 1000) return `${v.toFixed(0)} ms`;
    if (v < 60000) return `${one(v / 1000)} s`;
    if (v < 3600000) return `${one(v / 60000)} min`;
    return `${one(v / 3600000)} h`;
  }

  function fmtClock(sec, withSeconds) {
    const d = new Date(sec * 1000);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}` + (withSeconds ? `:${pad(d.getSeconds())}` : '');
  }

  function fmtRel(ms) {
    ms = Number(ms);
    if (!ms) return '';
    let s = Math.round((ms - Date.now()) / 1000);
    const future = s >= 0;
    s = Math.abs(s);
    const txt = s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : s < 172800
      ? `${(s / 3600).toFixed(1)} h` : `${Math.round(s / 86400)} d`;
    return future ? `in ${txt}` : `${txt} ago`;
  }

  // What an operator needs to know about common WeChat errcodes.
  const ERRCODES = {
    '-1': 'system busy, or a local error',
    '40001': 'access_token invalid',
    '40003': 'invalid openid',
    '40037': 'invalid template_id',
    '41001': 'access_token missing',
    '42001': 'access_token expired',
    '43004': 'receiver not subscribed',
    '43101': 'user refuses messages',
    '43116': 'template banned',
    '45009': 'daily API quota reached',
    '45047': 'too many messages to this user',
    '47001': 'malformed body',
    '47003': 'template field value invalid',
    '48001': 'API not authorized',
  };
  const errText = (code) => ERRCODES[String(code)] || '';

  // A short text for a failure: the server's own message when it is plain text (a local error
  // such as "cancelled by an operator"), else what the errcode means, else WeChat's errmsg.
  function failureText(errcode, errmsg) {
    let wechat = null;
    try { wechat = JSON.parse(errmsg); } catch (e) { /* plain text */ }
    if (errmsg && !(wechat && typeof wechat === 'object')) return errmsg;
    return errText(errcode) || (wechat && wechat.errmsg) || '';
  }

  // ---------------------------------------------------------------------------------------
  // API

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    const token = localStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = 'Bearer ' + token;
    const init = { method, headers, cache: 'no-store' };
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body === undefined ? {} : body);
    }
    let r;
    try {
      r = await fetch(path, init);
    } catch (e) {
      setHealth('unreachable', 'bad', 'the server did not answer: ' + e.message);
      throw new ApiError(0, 'server unreachable');
    }
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (r.status === 401) {
      askToken();
      throw new ApiError(401, (data && data.error) || 'unauthorized');
    }
    if (!r.ok) throw new ApiError(r.status, (data && data.error) || `${r.status} ${r.statusText}`);
    return data;
  }

  const get = (path) => api('GET', path);
  const post = (path, body) => api('POST', path, body);

  function askToken() {
    const d = $('token-dialog');
    if (d.open) return;
    $('token-input').value = '';
    if (typeof d.showModal === 'function') d.showModal(); else d.setAttribute('open', '');
    $('token-input').focus();
  }

  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token-input').value.trim();
    if (!t) return;
    localStorage.setItem(TOKEN_KEY, t);
    $('token-dialog').close();
    refreshAll();
  });
  $('token-clear').addEventListener('click', () => {
    localStorage.removeItem(TOKEN_KEY);
    $('token-input').value = '';
    notice('stored token forgotten');
  });

  // ---------------------------------------------------------------------------------------
  // the sticky top bar: its height as --topbar-h, which the page scrolls anchors below (see
  // style.css), also when it wraps to more lines (a long "degraded" badge, a narrow window)

  const topbar = document.querySelector('.topbar');
  const scrollAnchoring = !!(window.CSS && CSS.supports && CSS.supports('overflow-anchor', 'auto'));
  let topbarHeight = 0;
  function trackTopbar() {
    const hgt = Math.ceil(topbar.getBoundingClientRect().height);
    if (hgt === topbarHeight) return;
    // Grown while the page is scrolled (the badge turned "degraded"): the browser's scroll
    // anchoring keeps the content where it was, now under the taller bar; move it down as much.
    if (scrollAnchoring && topbarHeight && hgt > topbarHeight && window.scrollY > 0)
      window.scrollBy(0, topbarHeight - hgt);
    topbarHeight = hgt;
    document.documentElement.style.setProperty('--topbar-h', `${hgt}px`);
  }
  trackTopbar();
  if (typeof ResizeObserver === 'function') new ResizeObserver(trackTopbar).observe(topbar);
  window.addEventListener('resize', trackTopbar);

  // ---------------------------------------------------------------------------------------
  // notices and actions

  let noticeTimer = null;
  $('notice').addEventListener('click', () => { $('notice').hidden = true; });
  function notice(text, kind = 'ok') {
    const n = $('notice');
    n.textContent = text;
    n.dataset.kind = kind;
    n.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { n.hidden = true; }, kind === 'error' ? 12000 : 6000);
  }

  // Runs an operator action: button disabled meanwhile, result in the notice, then a refresh.
  async function act(button, what, fn, confirmText) {
    if (confirmText && !window.confirm(confirmText)) return;
    if (button) button.disabled = true;
    try {
      const r = await fn();
      notice(typeof what === 'function' ? what(r) : what, 'ok');
    } catch (e) {
      if (e.status !== 401) notice(`${button ? button.textContent.trim() : 'action'} failed: ${e.message}`, 'error');
    } finally {
      if (button && button.isConnected) button.disabled = false;
    }
    refreshAll();
  }

  function panelError(section, e) {
    let box = section.querySelector(':scope > [data-testid=panel-error]');
    if (!e) {
      if (box) box.remove();
      return;
    }
    if (e.status === 401) return;  // the token prompt says it
    if (!box) {
      box = h('div', { class: 'panel-error', 'data-testid': 'panel-error' });
      section.querySelector('h2, .cards').after(box);
    }
    box.textContent = e.status === 404
      ? `not available on this server (${e.message})` : `could not load: ${e.message}`;
  }

  // Runs a loader for a section, showing its error in the section instead of failing the page.
  async function panel(sectionId, loader) {
    const section = $(sectionId);
    try {
      await loader();
      panelError(section, null);
    } catch (e) {
      panelError(section, e);
      throw e;
    }
  }

  // Replaces a container's rows only when the data changed (keeps focus and hover stable).
  const lastRendered = new Map();
  function renderIfChanged(container, data, render) {
    const key = JSON.stringify(data);
    if (lastRendered.get(container) === key) return;
    lastRendered.set(container, key);
    render();
  }

  function setNum(id, v, fmt = fmtInt) {
    const e = $(id);
    e.textContent = fmt(v);
    e.dataset.value = v === null || v === undefined ? '' : String(v);
  }

  function pill(text, kind) {
    return h('span', { class: `pill ${kind || ''}`, text });
  }

  const STATUS_KIND = {
    sent: 'good', failed: 'bad', queued: 'info', sending: 'info', retrying: 'warn',
    delayed: 'warn', cancelled: 'muted', loading: 'info', running: 'info', paused: 'warn',
    done: 'good', delivered: 'good', blocked: 'bad', undelivered: 'bad',
  };

  // ---------------------------------------------------------------------------------------
  // health and stats

  function setHealth(text, kind, title) {
    const e = $('health');
    e.textContent = text;
    e.className = `pill ${kind}`;
    e.title = title || '';
  }

  async function loadHealth() {
    let r;
    try {
      r = await fetch('/api/health', { cache: 'no-store' });
    } catch (e) {
      setHealth('unreachable', 'bad', e.message);
      return;
    }
    let data = null;
    try { data = await r.json(); } catch (e) { /* below */ }
    if (!data) return setHealth(`HTTP ${r.status}`, 'bad');
    const problems = data.problems || [];
    if (data.status === 'ok') setHealth('healthy', 'good');
    else setHealth(`${data.status}${problems.length ? ': ' + problems.join('; ') : ''}`,
                   r.status >= 500 ? 'bad' : 'warn', problems.join('\n'));
  }

  let lastStats = null;

  function renderStats(s) {
    lastStats = s;
    const q = s.queue || {};
    setNum('stat-queued', q.total);
    setNum('stat-inflight', s.inflight);
    setNum('stat-waiting', s.waiting);
    setNum('stat-sent', s.sent);
    setNum('stat-failed', s.failed);
    setNum('stat-dead', s.dead_letters);
    const bs = s.by_status || {};
    $('stat-queued-sub').textContent = bs.queued !== undefined ? `${fmtInt(bs.queued)} queued in log` : 'in the disk queue';
    $('stat-sent-sub').textContent = 'since start' + (bs.sent !== undefined ? ` · ${fmtInt(bs.sent)} in log` : '');
    $('stat-failed-sub').textContent = 'since start' + (bs.failed !== undefined ? ` · ${fmtInt(bs.failed)} in log` : '');

    const rates = s.rates || {};
    for (const [id, x] of [['rate-overall', rates.overall], ['rate-today', rates.today], ['rate-hour', rates.last_hour]]) {
      setNum(id, x, fmtPct);
      $(id).className = x === null || x === undefined ? '' : x >= 0.99 ? 'good' : x >= 0.9 ? 'warn' : 'bad';
    }
    setNum('queue-high', q.high);
    setNum('queue-normal', q.normal);
    setNum('queue-low', q.low);
    setNum('queue-disk', q.disk_bytes, fmtBytes);
    const t = s.throughput || {};
    setNum('tput-1m', t['1m'], fmtRate);
    setNum('tput-5m', t['5m'], fmtRate);
    setNum('tput-60m', t['60m'], fmtRate);

    const log = s.message_log || {};
    const lh = $('log-health');
    lh.textContent = log.healthy === undefined ? '–' : log.healthy ? 'healthy' : 'unhealthy';
    lh.className = `big small ${log.healthy === undefined ? '' : log.healthy ? 'good' : 'bad'}`;
    lh.dataset.value = log.healthy === undefined ? '' : String(log.healthy);
    $('log-detail').textContent = log.written === undefined ? '' :
      `written ${fmtInt(log.written)} · pending ${fmtInt(log.pending)} · dropped ${fmtInt(log.dropped)}`;
    $('log-card').classList.toggle('alert', log.healthy === false || Number(log.dropped) > 0);

    $('srv-connections').textContent = fmtInt(s.connections);
    $('srv-attempts').textContent = fmtInt(s.attempts);
    $('srv-retried').textContent = fmtInt(s.retried);
    $('srv-quota').textContent = fmtInt(s.quota_hits);
    $('srv-msgkeys').textContent = fmtInt(s.msgkeys);
    $('srv-tokens').textContent = fmtInt(s.token_refreshes);
    $('paused-banner').hidden = !s.paused;

    const series = s.series || {};
    drawChart($('chart-minutes'), series.minutes, false);
    drawChart($('chart-seconds'), series.seconds, true);
    renderBreakdown($('by-template'), s.by_template, 'key');
    renderBreakdown($('by-source'), s.by_source, 'source');
  }

  function renderBreakdown(tbody, rows, field) {
    renderIfChanged(tbody, rows || null, () => {
      if (!Array.isArray(rows)) return replace(tbody, h('tr', {}, h('td', { colspan: 3, class: 'muted', text: 'not reported by this server' })));
      if (!rows.length) return replace(tbody, h('tr', {}, h('td', { colspan: 3, class: 'muted', text: 'nothing yet' })));
      const sorted = [...rows].sort((a, b) => (b.sent + b.failed) - (a.sent + a.failed)).slice(0, 12);
      replace(tbody, sorted.map((r) => h('tr', {},
        h('td', { text: r[field] === '' ? '(none)' : r[field] }),
        h('td', { class: 'num', text: fmtInt(r.sent) }),
        h('td', { class: `num ${r.failed > 0 ? 'bad' : ''}`, text: fmtInt(r.failed) }))));
    });
  }

  // The live charts: [{t (s), sent, failed}] per minute or per second, from /api/stats.
  function drawChart(box, points, perSecond) {
    if (!Array.isArray(points)) {
      replace(box, h('div', { class: 'muted chart-empty', text: 'no series reported by this server' }));
      return;
    }
    const labelEvery = perSecond ? 60 : 600;  // seconds
    drawBars(box, points, {
      aria: `sent and failed per ${perSecond ? 'second' : 'minute'}`,
      title: (p) => `${fmtClock(p.t, true)}  sent ${p.sent || 0}  failed ${p.failed || 0}`,
      tick: (p, i) => (Math.round(p.t) % labelEvery === 0 && i > 2 && i < points.length - 2
        ? fmtClock(p.t, perSecond) : null),
    });
  }

  const CHART_H = 150;

  // An empty SVG chart at the container's pixel width, with its plot area.
  function chartFrame(box, left, aria, n) {
    const W = Math.max(240, box.clientWidth || 480), H = CHART_H;
    const f = { W, H, L: left, R: 6, T: 8, B: 20 };
    f.pw = W - f.L - f.R;
    f.ph = H - f.T - f.B;
    f.bw = f.pw / Math.max(n, 1);
    f.svg = h('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, 'data-points': n, role: 'img', 'aria-label': aria });
    return f;
  }

  // Under each step of a chart: a tick and a label where axis.tick(p, i) gives one; over it a
  // full-height hover target with axis.title(p) as its tooltip (empty steps too).
  function stepAxis(f, points, axis, drawStep) {
    points.forEach((p, i) => {
      const x = f.L + i * f.bw;
      const g = h('g', {}, h('title', { text: axis.title(p) }),
        h('rect', { x, y: f.T, width: f.bw, height: f.ph, class: 'hit' }));
      if (drawStep) drawStep(g, p, x);
      f.svg.append(g);
      const label = axis.tick(p, i);
      if (label) {
        f.svg.append(h('line', { x1: x, x2: x, y1: f.T + f.ph, y2: f.T + f.ph + 4, class: 'tick' }));
        f.svg.append(h('text', { x, y: f.H - 5, class: 'axis', 'text-anchor': 'middle', text: label }));
      }
    });
  }

  // A stacked bar chart (sent below, failed above) of [{sent, failed, …}], drawn as SVG.
  function drawBars(box, points, axis) {
    const f = chartFrame(box, 36, axis.aria, points.length);
    let max = 0;
    for (const p of points) max = Math.max(max, (p.sent || 0) + (p.failed || 0));
    const top = niceCeil(Math.max(max, 1));
    const y = (v) => f.T + f.ph - (v / top) * f.ph;
    for (const v of [0, top / 2, top]) {
      f.svg.append(h('line', { x1: f.L, x2: f.W - f.R, y1: y(v), y2: y(v), class: 'gridline' }));
      f.svg.append(h('text', { x: f.L - 4, y: y(v) + 4, class: 'axis', 'text-anchor': 'end', text: fmtAxis(v) }));
    }
    const bw = f.bw;
    stepAxis(f, points, axis, (g, p, x) => {
      const sent = p.sent || 0, failed = p.failed || 0;
      if (sent) g.append(h('rect', { x: x + 0.15 * bw, width: Math.max(0.7 * bw, 1), y: y(sent), height: y(0) - y(sent), class: 'bar-sent' }));
      if (failed) g.append(h('rect', { x: x + 0.15 * bw, width: Math.max(0.7 * bw, 1), y: y(sent + failed), height: y(sent) - y(sent + failed), class: 'bar-failed' }));
    });
    f.svg.append(h('line', { x1: f.L, x2: f.W - f.R, y1: y(0), y2: y(0), class: 'baseline' }));
    if (max === 0) f.svg.append(h('text', { x: f.L + f.pw / 2, y: f.T + f.ph / 2, class: 'axis', 'text-anchor': 'middle', text: 'no messages in this period' }));
    replace(box, f.svg);
  }

  // Durations (ms) a chart's log scale may show ticks at: from 0.1 ms to 10 days.
  const DURATION_TICKS = [0.1, 1, 10, 100, 1e3, 1e4, 6e4, 6e5, 36e5, 36e6, 864e6];

  // Lines of durations in ms (series: [{key, cls}] of the points) on a log scale, so that a
  // wait of 40 ms and one of 2 h fit one chart. A step without a value breaks its line.
  function drawDurations(box, points, series, axis) {
    const f = chartFrame(box, 52, axis.aria, points.length);
    let lo = Infinity, hi = 0, values = 0;
    for (const p of points) {
      if (Number(p[series[0].key]) > 0) values++;
      for (const s of series) {
        const v = Number(p[s.key]);
        if (v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      }
    }
    f.svg.setAttribute('data-values', values);
    const ticks = DURATION_TICKS;
    let a = 0, b = ticks.length - 1;
    if (hi > 0) {
      while (a + 1 < ticks.length && ticks[a + 1] <= lo) a++;
      while (b - 1 >= 0 && ticks[b - 1] >= hi) b--;
      if (b <= a) b = Math.min(a + 1, ticks.length - 1), a = b - 1;
    } else {
      a = 2, b = 4;  // 10 ms to 1 s: an empty chart still has an axis
    }
    const l0 = Math.log10(ticks[a]), l1 = Math.log10(ticks[b]);
    const y = (v) => f.T + f.ph - ((Math.log10(Math.min(Math.max(v, ticks[a]), ticks[b])) - l0) / (l1 - l0)) * f.ph;
    for (let i = a; i <= b; i++) {
      f.svg.append(h('line', { x1: f.L, x2: f.W - f.R, y1: y(ticks[i]), y2: y(ticks[i]), class: 'gridline' }));
      f.svg.append(h('text', { x: f.L - 4, y: y(ticks[i]) + 4, class: 'axis', 'text-anchor': 'end', text: fmtDuration(ticks[i]) }));
    }
    stepAxis(f, points, axis, null);
    const xOf = (i) => f.L + (i + 0.5) * f.bw;
    for (const s of series) {
      let d = '', open = false;
      points.forEach((p, i) => {
        const v = Number(p[s.key]);
        if (!(v > 0)) { open = false; return; }
        d += `${open ? 'L' : 'M'}${xOf(i).toFixed(1)} ${y(v).toFixed(1)} `;
        const alone = !(Number(points[i - 1]?.[s.key]) > 0) && !(Number(points[i + 1]?.[s.key]) > 0);
        if (alone) f.svg.append(h('circle', { cx: xOf(i), cy: y(v), r: 2.2, class: `dot-${s.cls}` }));
        open = true;
      });
      if (d) f.svg.append(h('path', { d: d.trim(), class: `line-${s.cls}` }));
    }
    if (hi === 0) f.svg.append(h('text', { x: f.L + f.pw / 2, y: f.T + f.ph / 2, class: 'axis', 'text-anchor': 'middle', text: axis.empty }));
    replace(box, f.svg);
  }

  function niceCeil(v) {
    const e = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (m * e >= v) return m * e;
    return 10 * e;
  }
  function fmtAxis(v) {
    return v >= 1000 ? (v / 1000).toFixed(v % 1000 ? 1 : 0) + 'k' : Number.isInteger(v) ? String(v) : v.toFixed(1);
  }

  window.addEventListener('resize', () => {
    if (historyView.data) renderHistory(historyView.data);
    if (!lastStats) return;
    const series = lastStats.series || {};
    drawChart($('chart-minutes'), series.minutes, false);
    drawChart($('chart-seconds'), series.seconds, true);
  });

  async function loadStats() {
    renderStats(await get('/api/stats'));
  }

  // ---------------------------------------------------------------------------------------
  // history (24 h, 7 d): the message log's buckets, /api/history

  const HISTORY_MS = Math.max(REFRESH_MS, 30000);
  // range: the one chosen; shown: the one on screen (or its error), loaded at loadedAt
  const historyView = { range: '24h', shown: null, loadedAt: 0, data: null };

  async function loadHistory() {
    const range = historyView.range;
    if (historyView.shown === range && Date.now() - historyView.loadedAt < HISTORY_MS) return;
    let data;
    try {
      data = await get(`/api/history?range=${range}`);
    } catch (e) {
      if (e.status === 401 || e.status === 0) throw e;
      if (range === historyView.range) historyUnavailable(range, e.message);
      return;
    }
    if (range !== historyView.range) return;  // switched meanwhile: that load shows its own
    historyView.shown = range;
    historyView.loadedAt = Date.now();
    historyView.data = data;
    renderHistory(data);
  }

  // Tried again at the next load (HISTORY_MS), a range button or Refresh.
  function historyUnavailable(range, why) {
    historyView.shown = range;
    historyView.loadedAt = Date.now();
    historyView.data = null;
    const section = $('history');
    section.dataset.state = 'error';
    const err = $('history-error');
    err.textContent = `history unavailable: ${why}`;
    err.hidden = false;
    $('history-summary').textContent = '';
    for (const id of ['chart-history', 'chart-wait', 'chart-latency'])
      replace($(id), h('div', { class: 'muted chart-empty', text: 'history unavailable' }));
  }

  // Under a step: every third hour (24 h) or each midnight (7 d), in local time.
  function historyTick(h24, p, i, n) {
    if (i < 2 || i > n - 3) return null;
    const d = new Date(p.t_ms);
    if (h24) return d.getMinutes() === 0 && d.getHours() % 3 === 0 ? `${pad(d.getHours())}:00` : null;
    return d.getHours() === 0 && d.getMinutes() === 0
      ? d.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric' }) : null;
  }

  function historyStepText(p, stepMs) {
    const from = new Date(p.t_ms), to = new Date(p.t_ms + stepMs);
    return `${fmtTime(p.t_ms).replace(/:00$/, '')}–${pad(to.getHours())}:${pad(to.getMinutes())}` +
      (from.getDate() !== to.getDate() && stepMs > 300000 ? ' (next day)' : '');
  }

  function renderHistory(data) {
    const section = $('history');
    section.dataset.state = 'ok';
    section.dataset.range = data.range;
    $('history-error').hidden = true;
    const pts = data.points || [], t = data.totals || {}, step = Number(data.step_ms) || 300000;
    const h24 = data.range === '24h';
    const summary = $('history-summary');
    summary.textContent = `${fmtInt(t.sent)} sent · ${fmtInt(t.failed)} failed · ${fmtInt(t.retried)} retries` +
      ` · wait ${fmtDuration(t.wait_avg_ms)} avg · latency ${fmtDuration(t.latency_avg_ms)} avg` +
      (data.message_log === false ? ' · the message log is off: nothing new is counted' : '');
    summary.dataset.sent = String(t.sent ?? '');
    summary.dataset.failed = String(t.failed ?? '');
    $('history-step').textContent = h24 ? 'per 5 minutes' : 'per hour';
    const tick = (p, i) => historyTick(h24, p, i, pts.length);
    drawBars($('chart-history'), pts, {
      aria: `sent and failed per ${h24 ? '5 minutes' : 'hour'}`, tick,
      title: (p) => `${historyStepText(p, step)}  sent ${p.sent}  failed ${p.failed}  retries ${p.retried}  queued ${p.queued}`,
    });
    const durations = (what, avg, max, count) => ({
      aria: `${what}, average and maximum`, tick, empty: 'nothing sent in this period',
      title: (p) => `${historyStepText(p, step)}  ${what}: ${p[count] ? `avg ${fmtDuration(p[avg])}, max ${fmtDuration(p[max])} (${fmtInt(p[count])})` : 'none'}`,
    });
    drawDurations($('chart-wait'), pts, [{ key: 'wait_avg_ms', cls: 'avg' }, { key: 'wait_max_ms', cls: 'max' }],
                   durations('wait', 'wait_avg_ms', 'wait_max_ms', 'wait_count'));
    drawDurations($('chart-latency'), pts, [{ key: 'latency_avg_ms', cls: 'avg' }, { key: 'latency_max_ms', cls: 'max' }],
                   durations('send latency', 'latency_avg_ms', 'latency_max_ms', 'latency_count'));
  }

  for (const button of document.querySelectorAll('#history .range button')) {
    button.addEventListener('click', () => {
      historyView.range = button.dataset.range;
      historyView.loadedAt = 0;
      for (const b of document.querySelectorAll('#history .range button'))
        b.setAttribute('aria-pressed', String(b === button));
      $('history').dataset.state = 'loading';
      panel('history', loadHistory).catch(() => {});
    });
  }

  // ---------------------------------------------------------------------------------------
  // messages

  const msgState = { offset: 0, limit: 25, filters: {} };

  function readFilters() {
    const f = new FormData($('message-filters'));
    const out = {};
    for (const k of ['status', 'openid', 'key', 'source']) {
      const v = String(f.get(k) || '').trim();
      if (v) out[k] = v;
    }
    for (const k of ['from', 'to']) {
      const v = String(f.get(k) || '');
      if (v) {
        const ms = new Date(v).getTime();
        if (Number.isFinite(ms)) out[k] = String(ms);
      }
    }
    return out;
  }

  $('message-filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    msgState.filters = readFilters();
    msgState.offset = 0;
    panel('messages', loadMessages).catch(() => {});
  });
  $('message-filters').addEventListener('reset', () => {
    msgState.filters = {};
    msgState.offset = 0;
    setTimeout(() => panel('messages', loadMessages).catch(() => {}), 0);
  });
  $('messages-prev').addEventListener('click', () => {
    msgState.offset = Math.max(0, msgState.offset - msgState.limit);
    panel('messages', loadMessages).catch(() => {});
  });
  $('messages-next').addEventListener('click', () => {
    msgState.offset += msgState.limit;
    panel('messages', loadMessages).catch(() => {});
  });
  $('messages-limit').addEventListener('change', (ev) => {
    msgState.limit = Number(ev.target.value) || 25;
    msgState.offset = 0;
    panel('messages', loadMessages).catch(() => {});
  });

  async function loadMessages() {
    const q = new URLSearchParams({ ...msgState.filters, offset: msgState.offset, limit: msgState.limit });
    const r = await get('/api/messages?' + q);
    const total = Number(r.total) || 0;
    if (msgState.offset > 0 && msgState.offset >= total) {  // the page emptied: go back
      msgState.offset = Math.max(0, Math.floor((total - 1) / msgState.limit) * msgState.limit);
      if (total > 0) return loadMessages();
    }
    const items = r.items || [];
    const filtered = Object.keys(msgState.filters).length > 0;
    $('messages-count').textContent = `${fmtInt(total)} ${filtered ? 'matching' : 'in the log'}`;
    $('messages-page').textContent = total
      ? `${fmtInt(msgState.offset + 1)}–${fmtInt(msgState.offset + items.length)} of ${fmtInt(total)}` : '';
    $('messages-prev').disabled = msgState.offset === 0;
    $('messages-next').disabled = msgState.offset + items.length >= total;
    const body = $('messages-body');
    renderIfChanged(body, items, () => {
      if (!items.length) return replace(body, h('tr', {}, h('td', { colspan: 10, class: 'muted', text: filtered ? 'no message matches these filters' : 'no messages yet' })));
      replace(body, items.map(messageRow));
    });
  }

  function messageRow(m) {
    let result = '';
    if (m.status === 'sent' && m.msgid) result = h('span', { class: 'muted', text: `msgid ${m.msgid}` });
    else if (m.errcode) result = h('span', { class: 'err', title: m.errmsg || '', text: `${m.errcode} ${failureText(m.errcode, m.errmsg)}` });
    else if (m.errmsg) result = h('span', { class: 'err', text: m.errmsg });
    const retry = m.status === 'failed'
      ? h('button', { type: 'button', class: 'small', 'data-testid': 'message-retry',
                      onclick: (ev) => act(ev.currentTarget, `message ${m.id} queued again`, () => post(`/api/messages/${encodeURIComponent(m.id)}/retry`)) }, 'Retry')
      : null;
    return h('tr', { 'data-testid': 'message-row', 'data-id': m.id, 'data-status': m.status, 'data-openid': m.openid },
      h('td', {}, h('a', { href: '#messages', class: 'mono', 'data-testid': 'message-open', title: 'show details',
                           onclick: (ev) => { ev.preventDefault(); showMessage(m.id); } }, m.id)),
      h('td', { class: 'nowrap', title: `updated ${fmtTime(m.updated_ms)}${m.sent_ms ? `, sent ${fmtTime(m.sent_ms)}` : ''}`, text: fmtTime(m.created_ms) }),
      h('td', { class: 'mono', text: m.openid }),
      h('td', { text: m.key }),
      h('td', { text: m.source || '' }),
      h('td', { text: m.priority || '' }),
      h('td', {}, pill(m.status, STATUS_KIND[m.status])),
      h('td', { class: 'num', text: fmtInt(m.attempts) }),
      h('td', { class: 'result' }, result),
      h('td', {}, retry));
  }

  async function showMessage(id) {
    const box = $('message-detail');
    try {
      const m = await get(`/api/messages/${encodeURIComponent(id)}`);
      renderMessage(box, id, m);
      box.hidden = false;
      box.scrollIntoView({ block: 'nearest' });
    } catch (e) {
      if (e.status !== 401) notice(`message ${id}: ${e.message}`, 'error');
    }
  }

  function renderMessage(box, id, m) {
    const steps = Array.isArray(m.timeline) ? m.timeline : [];
    box.dataset.id = id;
    replace(box,
      h('div', { class: 'detail-head' },
        h('strong', { class: 'mono', text: `message ${id}` }), ' ', pill(m.status, STATUS_KIND[m.status]),
        h('span', { class: 'muted', text: ` to ${m.openid} · template ${m.key}${m.source ? ` · source ${m.source}` : ''}` +
                                          ` · ${fmtInt(m.attempts)} attempt${m.attempts === 1 ? '' : 's'}` }),
        h('span', { class: 'spacer' }),
        h('button', { type: 'button', class: 'small', 'data-testid': 'message-detail-close',
                      onclick: () => { box.hidden = true; } }, 'Close')),
      steps.length
        ? h('ol', { class: 'timeline', 'data-testid': 'message-timeline' }, steps.map((s, i) => timelineStep(s, m, i, steps)))
        : h('p', { class: 'muted', text: 'no timeline from this server: see raw' }),
      steps.length && m.timeline_itemized === false
        ? h('p', { class: 'muted', text: 'Earlier attempts are not listed one by one: the message was logged before the server kept a timeline (schema 006).' })
        : null,
      h('p', { class: 'muted note', 'data-testid': 'timeline-zone', text: `Times are this browser's local time (${zoneName()}).` }),
      m.body ? h('details', { 'data-testid': 'message-body' }, h('summary', { text: 'body sent to WeChat' }),
                 h('pre', { class: 'detail-pre', text: prettyJson(m.body) })) : null,
      h('details', { 'data-testid': 'message-raw' }, h('summary', { text: 'raw' }),
        h('pre', { class: 'detail-pre', text: JSON.stringify(m, null, 2) })));
  }

  // One step of a message's timeline: its local time, what happened, the details.
  function timelineStep(s, m, i, steps) {
    const [what, ...details] = stepText(s, m);
    if (s.from_row) details.push('from the message row');
    if (i > 0 && steps[i - 1].event === 'failed') details.unshift('queued again from the dead letters');
    return h('li', { class: `step ${s.event}`, 'data-testid': 'timeline-step', 'data-event': s.event,
                     'data-attempt': s.attempt, 'data-ms': s.at_ms },
      h('time', { datetime: new Date(Number(s.at_ms)).toISOString(), 'data-testid': 'timeline-time', text: fmtLocalFull(s.at_ms) }),
      h('span', { class: 'what', text: what }),
      details.length ? h('span', { class: 'muted', text: details.join(' · ') }) : null);
  }

  function stepText(s, m) {
    const call = s.latency_ms === null || s.latency_ms === undefined ? null : `WeChat call ${fmtDuration(s.latency_ms)}`;
    const error = s.errcode ? `${s.errcode} ${failureText(s.errcode, s.errmsg)}`.trim() : s.errmsg || null;
    const since = `${fmtDuration(Number(s.at_ms) - Number(m.created_ms))} after it was queued`;
    switch (s.event) {
      case 'queued':
        return ['Accepted and queued', `priority ${m.priority}`];
      case 'retry':
        return [`Attempt ${s.attempt} failed, a retry follows`, error, call].filter(Boolean);
      case 'sent':
        return [`Sent on attempt ${s.attempt}`, call, m.msgid && m.msgid !== '0' ? `msgid ${m.msgid}` : null, since].filter(Boolean);
      case 'failed':
        return [call || s.from_row ? `Attempt ${s.attempt} failed, given up` : 'Failed without a WeChat call', error, call, since].filter(Boolean);
      case 'cancelled':
        return ['Cancelled', s.errmsg, since].filter(Boolean);
      default:
        return [s.event, error].filter(Boolean);
    }
  }

  // ---------------------------------------------------------------------------------------
  // dead letters

  const DEAD_LIMIT = 500;

  async function loadDead() {
    const r = await get(`/api/failed?limit=${DEAD_LIMIT}`);
    const items = r.items || [];
    const total = Number(r.total) || 0;
    $('dead-count').textContent = total > items.length
      ? `${fmtInt(total)} (showing the oldest ${fmtInt(items.length)})` : fmtInt(total);
    $('dead-retry-all').disabled = total === 0;
    $('dead-flush').disabled = total === 0;
    const box = $('dead-groups');
    renderIfChanged(box, items, () => {
      if (!items.length) return replace(box, h('p', { class: 'muted', text: 'no dead letters' }));
      const groups = new Map();
      for (const d of items) {
        const cls = d.class || 'unclassified';
        const k = `${cls}\u0000${d.errcode}`;
        if (!groups.has(k)) groups.set(k, { cls, errcode: d.errcode, items: [] });
        groups.get(k).items.push(d);
      }
      const sorted = [...groups.values()].sort((a, b) => b.items.length - a.items.length);
      replace(box, sorted.map(deadGroup));
    });
  }

  function deadGroup(g) {
    const ids = g.items.map((d) => d.id);
    return h('div', { class: 'group', 'data-testid': 'dead-group', 'data-class': g.cls, 'data-errcode': g.errcode },
      h('div', { class: 'group-head' },
        pill(g.cls, g.cls === 'permanent' ? 'bad' : 'warn'),
        h('strong', { text: ` errcode ${g.errcode}` }),
        errText(g.errcode) ? h('span', { class: 'muted', text: ` ${errText(g.errcode)}` }) : null,
        h('span', { class: 'count', text: ` × ${fmtInt(g.items.length)}` }),
        h('button', { type: 'button', class: 'small', 'data-testid': 'dead-retry-group',
                      onclick: (ev) => act(ev.currentTarget, (n) => `${n} dead letters queued again`, async () => {
                        let n = 0;
                        for (const id of ids) { await post('/api/failed/retry', { id }); n++; }
                        return n;
                      }, `Queue the ${ids.length} dead letters of this group again?`) }, 'Retry group')),
      h('table', { class: 'grid compact' },
        h('thead', {}, h('tr', {}, ['id', 'openid', 'template', 'error', 'tries', 'failed', ''].map((t) => h('th', { text: t })))),
        h('tbody', {}, g.items.map((d) => h('tr', { 'data-testid': 'dead-row', 'data-id': d.id, 'data-openid': d.openid },
          h('td', { class: 'mono', text: d.id }),
          h('td', { class: 'mono', text: d.openid }),
          h('td', { text: d.key, title: d.options ? `options: ${d.options}` : '' }),
          h('td', { class: 'err', text: d.error || '' }),
          h('td', { class: 'num', text: fmtInt(d.attempts) }),
          h('td', { class: 'nowrap', title: `created ${fmtTime(d.created_ms)}`, text: fmtTime(d.failed_ms) }),
          h('td', { class: 'nowrap' },
            h('button', { type: 'button', class: 'small', 'data-testid': 'dead-retry',
                          onclick: (ev) => act(ev.currentTarget, `dead letter ${d.id} queued again`, () => post('/api/failed/retry', { id: d.id })) }, 'Retry'),
            ' ',
            h('button', { type: 'button', class: 'small danger', 'data-testid': 'dead-forget',
                          onclick: (ev) => act(ev.currentTarget, `dead letter ${d.id} forgotten`, () => post('/api/failed/forget', { id: d.id })) }, 'Forget')))))));
  }

  $('dead-retry-all').addEventListener('click', (ev) => act(ev.currentTarget,
    (r) => `${fmtInt(r && r.retried)} dead letters queued again`, () => post('/api/failed/retry', { all: true }),
    'Queue every dead letter again?'));
  $('dead-flush').addEventListener('click', (ev) => act(ev.currentTarget,
    (r) => `${fmtInt(r && r.forgotten)} dead letters forgotten`, () => post('/api/failed/flush'),
    'Forget every dead letter? They will not be delivered.'));

  // ---------------------------------------------------------------------------------------
  // waiting (delayed and retrying)

  async function loadWaiting() {
    const r = await get('/api/waiting?limit=200');
    const items = r.items || [];
    const total = Number(r.total) || 0;
    $('waiting-count').textContent = total > items.length ? `${fmtInt(total)} (showing ${items.length})` : fmtInt(total);
    const body = $('waiting-body');
    if (!items.length) return renderIfChanged(body, [], () => replace(body, h('tr', {}, h('td', { colspan: 7, class: 'muted', text: 'nothing delayed or waiting for a retry' }))));
    lastRendered.delete(body);  // "due in" changes every time
    replace(body, items.map((w) => h('tr', { 'data-testid': 'waiting-row', 'data-id': w.id, 'data-kind': w.kind },
      h('td', { class: 'mono', text: w.id }),
      h('td', {}, pill(w.kind, STATUS_KIND[w.kind])),
      h('td', { class: 'mono', text: w.openid }),
      h('td', { text: w.key }),
      h('td', { class: 'num', text: fmtInt(w.attempts) }),
      h('td', { class: 'nowrap', text: `${fmtTime(w.due_ms)} (${fmtRel(w.due_ms)})` }),
      h('td', {}, h('button', { type: 'button', class: 'small danger', 'data-testid': 'waiting-cancel',
                                onclick: (ev) => act(ev.currentTarget, `message ${w.id} cancelled`, () => post('/api/waiting/cancel', { id: w.id })) }, 'Cancel')))));
  }

  // ---------------------------------------------------------------------------------------
  // cluster: the nodes sharing the queue (one row on the file backend)

  async function loadCluster() {
    const c = await get('/api/cluster');
    const t = c.totals || {};
    const sum = $('cluster-summary');
    sum.textContent = `${c.backend} queue · ${fmtInt(t.up)} up, ${fmtInt(t.down)} down · sending ${fmtRate(t.rate)}`;
    sum.dataset.up = String(t.up);
    sum.dataset.down = String(t.down);
    lastRendered.delete($('cluster-body'));  // the heartbeat ages change every time
    replace($('cluster-body'), (c.nodes || []).map((n) => h('tr', { 'data-testid': 'cluster-node', 'data-id': n.id, 'data-state': n.state },
      h('td', { class: 'mono', text: n.id + (n.id === c.self ? ' (this node)' : '') }),
      h('td', {}, pill(n.state, n.state === 'up' ? 'good' : 'bad')),
      h('td', { class: 'nowrap', text: `${fmtTime(n.last_heartbeat_ms)} (${fmtRel(n.last_heartbeat_ms)})` }),
      h('td', { class: 'num', text: fmtInt(n.inflight) }),
      h('td', { class: 'num', text: fmtRate(n.rate) }),
      h('td', { class: 'num', text: fmtInt(n.queue_depth) }),
      h('td', { text: n.version }),
      h('td', { class: 'mono', text: n.admin || '–' }))));
  }

  // ---------------------------------------------------------------------------------------
  // account

  async function loadAccount() {
    const a = await get('/api/account');
    $('account-appid').textContent = a.app_id ? `app_id ${a.app_id}` : '';
    const st = $('account-state');
    st.dataset.paused = String(!!a.paused);
    if (!a.paused) {
      replace(st, pill('sending', 'good'), ' messages are delivered as they come');
    } else {
      const code = (String(a.reason).match(/\b4\d{4}\b/) || [])[0];
      replace(st, pill('paused', 'bad'), ' ',
        h('strong', { text: a.reason || 'no reason given' }),
        code && errText(code) && !String(a.reason).includes(errText(code)) ? h('span', { class: 'muted', text: ` (${errText(code)})` }) : null,
        h('br'),
        `since ${fmtTime(a.since_ms)} (${fmtRel(a.since_ms)}) · ${a.by_operator ? 'by an operator' : 'automatically'} · `,
        a.until_ms ? `resumes at ${fmtTime(a.until_ms)} (${fmtRel(a.until_ms)})` : 'until an operator resumes it');
    }
    $('account-pause').disabled = !!a.paused;
    $('account-resume').disabled = !a.paused;
    await loadAccounts();
  }

  // Every account ([wechat] is `default`, then each [account.NAME]), shown when there are several.
  async function loadAccounts() {
    const all = await get('/api/accounts');
    $('accounts').hidden = !Array.isArray(all) || all.length < 2;
    if ($('accounts').hidden) return;
    const path = (name) => `/api/accounts/${encodeURIComponent(name)}`;
    replace($('accounts-rows'), ...all.map((a) => h('tr', { 'data-account': a.account },
      h('td', { text: a.account }),
      h('td', {}, a.paused ? pill('paused', 'bad') : pill('sending', 'good'), a.paused ? ` ${a.reason}` : ''),
      h('td', { text: String(a.sent) }), h('td', { text: String(a.failed) }),
      h('td', { text: String(a.quota_hits) }), h('td', { text: String(a.held) }),
      h('td', {}, a.paused
        ? h('button', { type: 'button', class: 'small primary', onclick: (ev) => act(ev.currentTarget, `${a.account} resumed`, () => post(path(a.account) + '/resume')) }, 'Resume')
        : h('button', { type: 'button', class: 'small danger', onclick: (ev) => act(ev.currentTarget, `${a.account} paused`, () => post(path(a.account) + '/pause', {})) }, 'Pause')))));
  }

  $('account-pause-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const reason = $('account-reason').value.trim();
    act($('account-pause'), 'sending paused', () => post('/api/account/pause', reason ? { reason } : {}));
  });
  $('account-resume').addEventListener('click', (ev) => act(ev.currentTarget, 'sending resumed', () => post('/api/account/resume')));

  // ---------------------------------------------------------------------------------------
  // batch tasks

  async function loadTasks() {
    const tasks = await get('/api/tasks');
    const box = $('tasks-list');
    renderIfChanged(box, tasks, () => {
      if (!Array.isArray(tasks) || !tasks.length) return replace(box, h('p', { class: 'muted', text: 'no batch tasks' }));
      replace(box, tasks.map(taskRow));
    });
  }

  function taskRow(t) {
    const total = Number(t.total) || 0, sent = Number(t.sent) || 0, failed = Number(t.failed) || 0,
      queued = Number(t.queued) || 0;
    const pct = (v) => (total ? (100 * v / total) : 0).toFixed(2) + '%';
    const done = sent + failed;
    const pending = Math.max(0, queued - done);  // handed to the queue, not yet sent or failed
    const live = t.status === 'running' || t.status === 'loading' || t.status === 'paused';
    const btn = (name, label, cls, confirmText) => h('button', {
      type: 'button', class: `small ${cls || ''}`, 'data-testid': `task-${name}`,
      onclick: (ev) => act(ev.currentTarget, `task ${t.id}: ${name} done`, () => post(`/api/tasks/${encodeURIComponent(t.id)}/${name}`), confirmText),
    }, label);
    return h('div', { class: 'task', 'data-testid': 'task-row', 'data-id': t.id, 'data-status': t.status },
      h('div', { class: 'task-head' },
        h('span', { class: 'mono', text: `#${t.id}` }), ' ',
        h('strong', { text: t.key }), ' ',
        pill(t.status, STATUS_KIND[t.status]),
        h('span', { class: 'muted', text: ` created ${fmtTime(t.created_ms)}${t.updated_ms ? ` · updated ${fmtTime(t.updated_ms)}` : ''} · rate ${t.rate ? t.rate + ' /s' : 'unlimited'}` }),
        h('span', { class: 'spacer' }),
        t.status === 'loading' ? btn('start', 'Start', 'primary') : null,
        t.status === 'running' ? btn('pause', 'Pause') : null,
        t.status === 'paused' ? btn('resume', 'Resume', 'primary') : null,
        live ? btn('cancel', 'Cancel', 'danger', `Cancel task ${t.id}? Messages not yet queued are dropped.`) : null),
      h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': done,
                 'data-testid': 'task-progress', 'data-done': done, 'data-total': total },
        h('span', { class: 'seg sent', style: `width:${pct(sent)}` }),
        h('span', { class: 'seg failed', style: `width:${pct(failed)}` }),
        h('span', { class: 'seg queued', style: `width:${pct(pending)}` })),
      h('div', { class: 'task-nums' },
        `${total ? Math.floor(100 * done / total) : 0}% · sent ${fmtInt(sent)} · failed ${fmtInt(failed)} · in the queue ${fmtInt(pending)} · queued ${fmtInt(queued)} of ${fmtInt(total)}`));
  }

  function parseJsonObject(text, what) {
    const s = text.trim() || '{}';
    let v;
    try { v = JSON.parse(s); } catch (e) { throw new ApiError(0, `${what} is not valid JSON: ${e.message}`); }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ApiError(0, `${what} must be a JSON object`);
    return v;
  }

  $('task-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    act($('task-submit'), (r) => `task ${r && r.id} created`, async () => {
      const openids = $('task-openids').value.split(/[\s,]+/).filter(Boolean);
      if (!openids.length) throw new ApiError(0, 'no openids');
      const body = { key: $('task-key').value.trim(), openids, data: parseJsonObject($('task-data').value, 'data'),
                     rate: Number($('task-rate').value) || 0 };
      const options = $('task-options').value.trim();
      if (options) body.options = options;
      const r = await post('/api/tasks', body);
      $('task-openids').value = '';
      return r;
    });
  });

  // ---------------------------------------------------------------------------------------
  // templates and test message

  async function loadTemplates() {
    const list = await get('/api/templates');
    const body = $('templates-body');
    $('templates-count').textContent = Array.isArray(list) ? `${fmtInt(list.length)} cached` : '';
    renderIfChanged(body, list, () => {
      if (!Array.isArray(list) || !list.length) return replace(body, h('tr', {}, h('td', { colspan: 5, class: 'muted', text: 'no template cached yet' })));
      const sorted = [...list].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      replace(body, sorted.map((t) => h('tr', { 'data-testid': 'template-row', 'data-key': t.key },
        h('td', { class: 'mono nowrap', text: t.key }),
        h('td', { class: 'nowrap', 'data-testid': 'template-account', text: t.account || 'default' }),
        h('td', { class: 'nowrap', 'data-testid': 'template-kind', text: t.kind || 'template' }),
        h('td', {}, h('details', {}, h('summary', { class: 'mono clip', text: t.template }), h('pre', { class: 'tpl', text: prettyJson(t.template) }))),
        h('td', {}, h('button', { type: 'button', class: 'small', 'data-testid': 'template-reload',
                                  onclick: (ev) => act(ev.currentTarget, `template ${t.key} reloaded`, () => post('/api/templates/reload', { key: t.key })) }, 'Reload')))));
    });
  }

  function prettyJson(text) {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
  }

  $('reload-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = $('reload-key').value.trim();
    act($('reload-submit'), `template ${key} loaded`, () => post('/api/templates/reload', { key }));
  });

  $('test-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    act($('test-submit'), (r) => `test message ${r && r.id} queued`, () => post('/api/test-message', {
      openid: $('test-openid').value.trim(), key: $('test-key').value.trim(),
      data: parseJsonObject($('test-data').value, 'data'),
    }));
  });

  // ---------------------------------------------------------------------------------------
  // refresh loop

  let refreshing = null;
  let again = false;
  let timer = null;

  // Reloads every panel. Called while a refresh runs, it runs one more right after it (what
  // the caller just changed may not be in the running one).
  function refreshAll() {
    if (refreshing) {
      again = true;
      return refreshing;
    }
    again = false;
    refreshing = (async () => {
      const jobs = [
        loadHealth(),
        panel('overview', loadStats),
        panel('history', loadHistory),
        panel('cluster', loadCluster),
        panel('account', loadAccount),
        panel('messages', loadMessages),
        panel('dead', loadDead),
        panel('waiting', loadWaiting),
        panel('tasks', loadTasks),
        panel('templates', loadTemplates),
      ];
      const results = await Promise.allSettled(jobs);
      const unauthorized = results.some((r) => r.status === 'rejected' && r.reason && r.reason.status === 401);
      const unreachable = results.some((r) => r.status === 'rejected' && r.reason && r.reason.status === 0);
      if (!unauthorized && !unreachable) {
        const now = Date.now();
        const lu = $('last-updated');
        lu.textContent = fmtTime(now);
        lu.dataset.ts = String(now);
        lu.dateTime = new Date(now).toISOString();
      }
    })().finally(() => {
      refreshing = null;
      if (again) refreshAll();
    });
    return refreshing;
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (!$('auto-refresh').checked) return;
    timer = setTimeout(async () => {
      if (!document.hidden) await refreshAll();
      schedule();
    }, REFRESH_MS);
  }

  $('refresh-every').textContent = REFRESH_MS % 1000 ? `${REFRESH_MS} ms` : `${REFRESH_MS / 1000} s`;
  $('auto-refresh').addEventListener('change', () => {
    if ($('auto-refresh').checked) refreshAll();
    schedule();
  });
  $('refresh-now').addEventListener('click', () => {
    historyView.loadedAt = 0;
    refreshAll();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && $('auto-refresh').checked) refreshAll();
  });

  refreshAll().finally(schedule);
})();
