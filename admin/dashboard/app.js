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
//   messages       message-filters (form), filter-status, filter-openid, filter-key,
//                  filter-source, filter-from, filter-to, filter-apply, filter-reset,
//                  messages-body, messages-count, messages-prev, messages-next, messages-page,
//                  messages-limit, message-detail; rows: [data-testid=message-row] with
//                  data-id, data-status, data-openid; in a row: [data-testid=message-retry]
//                  (failed rows only), [data-testid=message-open]
//   dead letters   dead-count, dead-retry-all, dead-flush (both ask confirm()), dead-groups;
//                  [data-testid=dead-group] with data-class, data-errcode;
//                  [data-testid=dead-retry-group]; rows [data-testid=dead-row] with data-id,
//                  data-openid; in a row [data-testid=dead-retry], [data-testid=dead-forget]
//   waiting        waiting-count, waiting-body; rows [data-testid=waiting-row] with data-id,
//                  data-kind; in a row [data-testid=waiting-cancel]
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
  const SVG_TAGS = new Set(['rect', 'line', 'text', 'g', 'title', 'path']);

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
    done: 'good',
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

  // A stacked bar chart (sent below, failed above) of [{t, sent, failed}], drawn as SVG at the
  // container's pixel width.
  function drawChart(box, points, perSecond) {
    if (!Array.isArray(points)) {
      replace(box, h('div', { class: 'muted chart-empty', text: 'no series reported by this server' }));
      return;
    }
    const W = Math.max(240, box.clientWidth || 480), H = 150;
    const L = 36, R = 6, T = 8, B = 20;
    const pw = W - L - R, ph = H - T - B;
    const n = Math.max(points.length, 1);
    let max = 0;
    for (const p of points) max = Math.max(max, (p.sent || 0) + (p.failed || 0));
    const top = niceCeil(Math.max(max, 1));
    const y = (v) => T + ph - (v / top) * ph;
    const bw = pw / n;
    const svg = h('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, 'data-points': points.length,
                           role: 'img', 'aria-label': `sent and failed per ${perSecond ? 'second' : 'minute'}` });
    for (const v of [0, top / 2, top]) {
      svg.append(h('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'gridline' }));
      svg.append(h('text', { x: L - 4, y: y(v) + 4, class: 'axis', 'text-anchor': 'end', text: fmtAxis(v) }));
    }
    const labelEvery = perSecond ? 60 : 10;
    points.forEach((p, i) => {
      const x = L + i * bw;
      const sent = p.sent || 0, failed = p.failed || 0;
      const g = h('g', {}, h('title', { text: `${fmtClock(p.t, true)}  sent ${sent}  failed ${failed}` }));
      // an invisible full-height rect so that the tooltip works on empty slots too
      g.append(h('rect', { x, y: T, width: bw, height: ph, class: 'hit' }));
      if (sent) g.append(h('rect', { x: x + 0.15 * bw, width: Math.max(0.7 * bw, 1), y: y(sent), height: y(0) - y(sent), class: 'bar-sent' }));
      if (failed) g.append(h('rect', { x: x + 0.15 * bw, width: Math.max(0.7 * bw, 1), y: y(sent + failed), height: y(sent) - y(sent + failed), class: 'bar-failed' }));
      svg.append(g);
      const sinceLabel = Math.round(p.t) % (labelEvery * (perSecond ? 1 : 60));
      if (sinceLabel === 0 && i > 2 && i < points.length - 2) {
        svg.append(h('line', { x1: x, x2: x, y1: T + ph, y2: T + ph + 4, class: 'tick' }));
        svg.append(h('text', { x, y: H - 5, class: 'axis', 'text-anchor': 'middle', text: fmtClock(p.t, perSecond) }));
      }
    });
    svg.append(h('line', { x1: L, x2: W - R, y1: y(0), y2: y(0), class: 'baseline' }));
    if (max === 0) svg.append(h('text', { x: L + pw / 2, y: T + ph / 2, class: 'axis', 'text-anchor': 'middle', text: 'no messages in this period' }));
    replace(box, svg);
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
    if (!lastStats) return;
    const series = lastStats.series || {};
    drawChart($('chart-minutes'), series.minutes, false);
    drawChart($('chart-seconds'), series.seconds, true);
  });

  async function loadStats() {
    renderStats(await get('/api/stats'));
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
    const pre = $('message-detail');
    try {
      const m = await get(`/api/messages/${encodeURIComponent(id)}`);
      let body = m.body;
      if (typeof body === 'string') {
        try { body = JSON.parse(body); } catch (e) { /* keep the text */ }
      }
      pre.textContent = `message ${id}\n` + JSON.stringify({ ...m, body }, null, 2);
      pre.hidden = false;
      pre.scrollIntoView({ block: 'nearest' });
    } catch (e) {
      if (e.status !== 401) notice(`message ${id}: ${e.message}`, 'error');
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
      if (!Array.isArray(list) || !list.length) return replace(body, h('tr', {}, h('td', { colspan: 3, class: 'muted', text: 'no template cached yet' })));
      const sorted = [...list].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      replace(body, sorted.map((t) => h('tr', { 'data-testid': 'template-row', 'data-key': t.key },
        h('td', { class: 'mono nowrap', text: t.key }),
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
  $('refresh-now').addEventListener('click', () => refreshAll());
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && $('auto-refresh').checked) refreshAll();
  });

  refreshAll().finally(schedule);
})();
