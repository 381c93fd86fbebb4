/**
 * The dashboard's browser script: plain JavaScript, no framework, no build step. It loads the
 * backlog history once, then follows the daemon's Server-Sent Events (`status` every second,
 * `alarm` on each change) and redraws. Every string from the API reaches the DOM through
 * textContent or an SVG text node: never innerHTML.
 *
 * Test hooks (data-testid): link-state (exactly the state name: up, down, blackholed,
 * connecting, paused, stopped), backlog-records (integer with ',' as thousands separator, e.g.
 * "12,345"; the raw number is also in its data-value attribute), drain-eta, ingest-rate and
 * forward-rate (records/s; raw numbers in data-value), alarms, instruments, disk-gauge,
 * backlog-chart, connection, disconnected.
 *
 * Written as a String.raw template: keep `${` and backticks out of the script.
 */
export const appJs = String.raw`(function () {
  'use strict';

  var HISTORY_WINDOW_MS = 60 * 60 * 1000;
  var MAX_POINTS = 5000;
  var STALE_AFTER_MS = 4000;
  var RECONNECT_AFTER_MS = 8000;
  /** History points come every 5 s: a longer silence is a gap in the chart. */
  var GAP_MS = 15000;
  /** Drops in this window are "recent". */
  var RECENT_DROPS_MS = 10 * 60 * 1000;
  var SVG_NS = 'http://www.w3.org/2000/svg';

  var STATES = {
    up: { icon: '\u25B2', label: 'up', text: 'Forwarding: records flow to Pulsar as they arrive.' },
    down: { icon: '\u2715', label: 'down', text: 'Link down: records are kept in the buffer and sent when it returns.' },
    blackholed: { icon: '\u25CE', label: 'black-holed', text: 'Black hole: connections open but nothing comes back. Records are kept in the buffer.' },
    connecting: { icon: '\u21BB', label: 'connecting', text: 'Connecting to Pulsar\u2026' },
    paused: { icon: '\u2016', label: 'paused', text: 'Forwarding paused by an operator: records are kept in the buffer.' },
    stopped: { icon: '\u25A0', label: 'stopped', text: 'Forwarder stopped.' },
    unknown: { icon: '?', label: 'unknown', text: 'Link state unknown.' }
  };
  var PRIORITIES = ['alarm', 'control', 'telemetry', 'bulk'];
  var DROP_REASONS = {
    quota_drop_oldest: 'quota full: oldest dropped',
    quota_drop_newest: 'quota full: newest dropped',
    ttl: 'older than the stream TTL',
    disk_low: 'disk low',
    checksum: 'checksum mismatch',
    backpressure_overflow: 'back-pressure overflow'
  };

  var S = {
    status: null,
    lastStatusAt: 0,
    connected: false,
    everConnected: false,
    es: null,
    esOpenedAt: 0,
    reconnects: 0,
    points: [],
    skewMs: 0,
    newAlarms: {},
    /** Snapshots of the cumulative drop counts, to tell recent drops from old ones. */
    dropSnapshots: [],
    renderQueued: false
  };

  // --- small helpers ------------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG_NS, tag);
    if (attrs) for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) node.setAttribute(k, String(attrs[k]));
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function setText(id, text) {
    var node = typeof id === 'string' ? $(id) : id;
    if (node && node.textContent !== text) node.textContent = text;
  }

  function replace(node, children) {
    node.replaceChildren.apply(node, children);
  }

  /** A stream name that may wrap after each '/' rather than in the middle of a word. */
  function streamName(name) {
    var frag = document.createDocumentFragment();
    String(name).split('/').forEach(function (part, i) {
      if (i > 0) {
        frag.appendChild(document.createTextNode('/'));
        frag.appendChild(document.createElement('wbr'));
      }
      frag.appendChild(document.createTextNode(part));
    });
    return frag;
  }

  function isNum(n) { return typeof n === 'number' && isFinite(n); }

  function serverNow() { return Date.now() + S.skewMs; }

  var intFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

  function fmtInt(n) { return isNum(n) ? intFormat.format(Math.round(n)) : '\u2014'; }

  function fmtRate(r) {
    if (!isNum(r)) return '\u2014';
    if (r === 0) return '0';
    if (r >= 1000) return intFormat.format(Math.round(r));
    if (r >= 10) return r.toFixed(1);
    return r.toFixed(2);
  }

  function fmtBytes(b) {
    if (!isNum(b)) return '\u2014';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var i = 0;
    var v = b;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(Math.round(v)) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + ' ' + units[i];
  }

  function fmtCompact(n) {
    if (!isNum(n)) return '';
    var a = Math.abs(n);
    if (a >= 1e9) return trim(n / 1e9) + 'G';
    if (a >= 1e6) return trim(n / 1e6) + 'M';
    if (a >= 1e4) return trim(n / 1e3) + 'k';
    return intFormat.format(n);
    function trim(x) { return (Math.round(x * 10) / 10).toString(); }
  }

  /** Seconds to "4 min 20 s", "2 h 15 min", "3 d 4 h". */
  function fmtDuration(seconds) {
    if (!isNum(seconds)) return '\u2014';
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + ' s';
    if (s < 3600) {
      var m = Math.floor(s / 60);
      var rs = s % 60;
      return m + ' min' + (rs && m < 10 ? ' ' + rs + ' s' : '');
    }
    if (s < 86400) {
      var h = Math.floor(s / 3600);
      var rm = Math.floor((s % 3600) / 60);
      return h + ' h' + (rm ? ' ' + rm + ' min' : '');
    }
    var d = Math.floor(s / 86400);
    var rh = Math.floor((s % 86400) / 3600);
    return d + ' d' + (rh ? ' ' + rh + ' h' : '');
  }

  function ageMs(t) { return Math.max(0, serverNow() - t); }

  function fmtAgo(t) {
    if (!isNum(t)) return 'never';
    var ms = ageMs(t);
    if (ms < 1000) return 'just now';
    return fmtDuration(ms / 1000) + ' ago';
  }

  function pad2(n) { return n < 10 ? '0' + n : String(n); }

  /** A daemon timestamp as browser-local wall time; the date too when it is not today. */
  function fmtClock(t, withSeconds) {
    if (!isNum(t)) return '\u2014';
    var d = new Date(t - S.skewMs);
    var s = pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + (withSeconds === false ? '' : ':' + pad2(d.getSeconds()));
    var today = new Date();
    if (d.toDateString() !== today.toDateString()) s = d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' + s;
    return s;
  }

  /** The forward URL without credentials. */
  function safeUrl(u) {
    if (typeof u !== 'string') return '\u2014';
    try {
      var parsed = new URL(u);
      parsed.username = '';
      parsed.password = '';
      return parsed.toString().replace(/\/$/, '');
    } catch (e) {
      return u.replace(/\/\/[^@/]*@/, '//');
    }
  }

  function stateInfo(state) { return Object.prototype.hasOwnProperty.call(STATES, state) ? STATES[state] : STATES.unknown; }

  function kv(dl, pairs) {
    var children = [];
    pairs.forEach(function (p) {
      if (!p) return;
      children.push(el('dt', null, p[0]));
      var dd = el('dd', p[2] || null);
      if (p[1] instanceof Node) dd.appendChild(p[1]);
      else dd.textContent = String(p[1]);
      children.push(dd);
    });
    replace(dl, children);
  }

  /** columns: [{ title, cls }]; rows: [{ cls, cells: [{ text, cls, title }] }] */
  function table(columns, rows, caption) {
    var t = el('table');
    if (caption) t.appendChild(el('caption', 'visually-hidden', caption));
    var thead = el('thead');
    var hr = el('tr');
    columns.forEach(function (c) {
      var th = el('th', c.cls || null, c.short ? null : c.title);
      if (c.short) {
        // A shorter header where the card is narrow (a phone).
        th.appendChild(el('span', 'label-long', c.title));
        th.appendChild(el('span', 'label-short', c.short));
        th.title = c.title;
      }
      th.setAttribute('scope', 'col');
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    t.appendChild(thead);
    var tbody = el('tbody');
    rows.forEach(function (r) {
      var tr = el('tr', r.cls || null);
      if (r.key) tr.setAttribute('data-key', r.key);
      r.cells.forEach(function (c, i) {
        var td = el('td', [columns[i] && columns[i].cls, c.cls].filter(Boolean).join(' ') || null, c.node ? null : c.text);
        if (c.node) td.appendChild(c.node);
        if (c.title) td.title = c.title;
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    t.appendChild(tbody);
    return t;
  }

  // --- data ---------------------------------------------------------------------------------

  function addPoints(points) {
    var all = S.points.concat(points.filter(function (p) { return p && isNum(p.at) && isNum(p.backlogRecords); }));
    all.sort(function (a, b) { return a.at - b.at; });
    var out = [];
    for (var i = 0; i < all.length; i++) {
      if (out.length && Math.abs(all[i].at - out[out.length - 1].at) < 250) out[out.length - 1] = all[i];
      else out.push(all[i]);
    }
    var cutoff = serverNow() - HISTORY_WINDOW_MS;
    while (out.length && out[0].at < cutoff) out.shift();
    if (out.length > MAX_POINTS) out = out.slice(out.length - MAX_POINTS);
    S.points = out;
  }

  function measureSkew(response) {
    var date = response.headers.get('date');
    if (!date) return;
    var server = Date.parse(date);
    if (!isNum(server)) return;
    // The Date header has one-second resolution: only a larger difference is a real skew.
    var skew = server + 500 - Date.now();
    S.skewMs = Math.abs(skew) > 2000 ? skew : 0;
  }

  function loadHistory() {
    return fetch('api/v1/history', { cache: 'no-store' })
      .then(function (r) {
        measureSkew(r);
        if (!r.ok) throw new Error('history: HTTP ' + r.status);
        return r.json();
      })
      .then(function (body) {
        if (body && Array.isArray(body.points)) addPoints(body.points);
        queueRender();
      })
      .catch(function (e) { console.warn('skyhaul: history not loaded:', e && e.message); });
  }

  // --- live stream --------------------------------------------------------------------------

  function connect() {
    if (S.es) S.es.close();
    var es = new EventSource('api/v1/events');
    S.es = es;
    S.esOpenedAt = Date.now();
    es.addEventListener('status', function (ev) {
      var status;
      try { status = JSON.parse(ev.data); } catch (e) { return; }
      onStatus(status);
    });
    es.addEventListener('alarm', function (ev) {
      var change;
      try { change = JSON.parse(ev.data); } catch (e) { return; }
      onAlarm(change);
    });
    es.addEventListener('error', function () {
      if (S.es !== es) return;
      setConnected(false);
      // CLOSED: the browser gave up (bad response); otherwise it retries by itself.
      if (es.readyState === 2) setTimeout(function () { if (S.es === es) reconnect(); }, backoffMs());
    });
  }

  function backoffMs() { return Math.min(15000, 1000 * Math.pow(2, Math.min(S.reconnects, 4))); }

  function reconnect() {
    S.reconnects++;
    connect();
  }

  function setConnected(on) {
    if (S.connected === on) return;
    S.connected = on;
    renderConnection();
  }

  function onStatus(status) {
    if (!status || typeof status !== 'object' || !status.link || !status.backlog) return;
    var wasDisconnected = !S.connected;
    S.status = status;
    S.lastStatusAt = Date.now();
    S.reconnects = 0;
    if (wasDisconnected) {
      if (S.everConnected) loadHistory(); // fill the gap while we were away
      S.everConnected = true;
      setConnected(true);
    }
    addPoints([{
      at: serverNow(),
      backlogRecords: status.backlog.records,
      backlogBytes: status.backlog.bytes,
      ingestPerSecond: status.rates ? status.rates.ingestPerSecond : null,
      forwardPerSecond: status.rates ? status.rates.forwardPerSecond : null,
      linkState: status.link.state
    }]);
    queueRender();
  }

  function onAlarm(change) {
    if (!change || !change.alarm || !S.status) return;
    var alarms = (S.status.alarms || []).filter(function (a) { return a.code !== change.alarm.code; });
    if (change.event === 'raised') {
      alarms.push(change.alarm);
      S.newAlarms[change.alarm.code] = Date.now();
    }
    S.status.alarms = alarms;
    queueRender();
  }

  /** A stream can stall without an error (a proxy holding it open): watch for silence. */
  function watchdog() {
    var now = Date.now();
    if (S.connected && now - S.lastStatusAt > STALE_AFTER_MS) setConnected(false);
    var silentFor = now - Math.max(S.lastStatusAt, S.esOpenedAt);
    if (!S.connected && silentFor > RECONNECT_AFTER_MS + backoffMs()) reconnect();
    if (!S.connected) renderConnection();
    // Relative times ("12 s ago") keep moving between events.
    if (S.status && now - S.lastStatusAt > 900) queueRender();
  }

  // --- rendering ----------------------------------------------------------------------------

  function queueRender() {
    if (S.renderQueued) return;
    S.renderQueued = true;
    requestAnimationFrame(function () {
      S.renderQueued = false;
      render();
    });
  }

  function safely(name, fn) {
    try { fn(); } catch (e) { console.error('skyhaul: rendering ' + name + ' failed:', e); }
  }

  function render() {
    var s = S.status;
    if (!s) return;
    safely('header', function () { renderHeader(s); });
    safely('link', function () { renderLink(s); });
    safely('backlog', function () { renderBacklog(s); });
    safely('charts', renderCharts);
    safely('alarms', function () { renderAlarms(s); });
    safely('disk', function () { renderDisk(s); });
    safely('classes', function () { renderClasses(s); });
    safely('instruments', function () { renderInstruments(s); });
    safely('streams', function () { renderStreams(s); });
    safely('drops', function () { renderDrops(s); });
    safely('host', function () { renderHost(s); });
    safely('selftest', function () { renderSelfTest(s); });
    safely('inputs', function () { renderInputs(s); });
  }

  function renderConnection() {
    var conn = $('conn');
    var banner = $('disconnected');
    if (S.connected) {
      conn.className = 'conn conn-live';
      setText(conn, 'live');
      banner.hidden = true;
      document.body.classList.remove('data-stale');
      return;
    }
    if (!S.everConnected) {
      conn.className = 'conn conn-connecting';
      setText(conn, 'connecting to daemon\u2026');
      return;
    }
    conn.className = 'conn conn-lost';
    setText(conn, 'disconnected from daemon');
    banner.hidden = false;
    document.body.classList.add('data-stale');
    setText('disconnected-detail', '\u2014 reconnecting\u2026 The page shows data from ' + fmtClock(S.lastStatusAt + S.skewMs) + ' (' + fmtDuration((Date.now() - S.lastStatusAt) / 1000) + ' ago).');
  }

  function renderHeader(s) {
    var site = s.site || {};
    setText('site', site.name ? site.name + ' (' + site.id + ')' : String(site.id || '\u2014'));
    var meta = $('meta');
    replace(meta, [
      el('span', null, 'v' + s.version),
      el('span', null, 'up ' + fmtDuration(s.uptimeSeconds)),
      el('span', null, 'producer ' + String(s.producerId || '').slice(0, 12))
    ]);
    var ready = s.readiness || { ready: true, reasons: [] };
    var notReady = $('not-ready');
    var reasons = (ready.reasons || []).map(String);
    if (!ready.ready || reasons.length) {
      notReady.hidden = false;
      setText(notReady, (ready.ready ? 'Ready, note: ' : 'NOT READY: ') + reasons.join('; '));
    } else notReady.hidden = true;
    var info = stateInfo(s.link.state);
    var title = info.label.toUpperCase() + ' \u00B7 ' + fmtInt(s.backlog.records) + ' waiting \u00B7 ' + (site.name || site.id || '') + ' \u00B7 Skyhaul';
    if (document.title !== title) document.title = title;
  }

  function renderLink(s) {
    var link = s.link;
    var state = Object.prototype.hasOwnProperty.call(STATES, link.state) ? link.state : 'unknown';
    var info = STATES[state];
    $('card-link').className = 'card card-link state-' + state;
    var word = String(link.state);
    setText('link-state', word);
    $('link-state').className = 'link-state ' + (word.length <= 4 ? 'len-s' : word.length <= 7 ? 'len-m' : 'len-l');
    setText('link-icon', info.icon);
    setText('link-desc', S.connected ? info.text : 'Last known state: this page has lost the daemon.');
    setText('link-since', 'since ' + fmtClock(link.since) + ' (' + fmtDuration(ageMs(link.since) / 1000) + ')');

    var err = link.lastError;
    var errNode;
    if (err) {
      errNode = el('span', state === 'up' ? 'muted' : 'bad');
      errNode.textContent = String(err.code) + ': ' + String(err.message) + ' (' + fmtAgo(err.at) + ')';
    } else errNode = el('span', 'muted', 'none');
    var attempts = String(link.reconnectAttempts || 0);
    if (isNum(link.nextAttemptAt) && state !== 'up') {
      var inMs = link.nextAttemptAt - serverNow();
      attempts += inMs > 0 ? ' \u00B7 next in ' + (inMs / 1000).toFixed(1) + ' s' : ' \u00B7 retrying now';
    }
    kv($('link-details'), [
      ['Last error', errNode],
      ['Reconnect attempts', attempts],
      ['Last broker ack', link.lastAckAt ? fmtAgo(link.lastAckAt) : 'none yet'],
      ['Transport', (s.transport ? String(s.transport) : 'none (forwarding off)') + ' \u2192 ' + (s.target === 'site' ? 'site Pulsar' : s.target === 'central' ? 'central Pulsar' : String(s.target))],
      s.paused ? ['Paused', el('span', 'warn', 'yes: an operator paused forwarding')] : null
    ]);

    var target = s.target === 'site' ? 'site Pulsar, geo-replicated to the data centre' : s.target === 'central' ? 'the central cluster directly' : String(s.target);
    var fwd = s.forwarding || {};
    kv($('link-more-details'), [
      ['Target', target],
      ['Pulsar URL', safeUrl(s.forwardUrl)],
      ['In flight', fmtInt(s.inFlight) + ' messages'],
      ['Since start', fmtInt(fwd.reconnects) + ' reconnects \u00B7 ' + fmtInt(fwd.sendFailures) + ' send failures'],
      ['Bandwidth', isNum(fwd.bandwidthBytesPerSecond) ? fmtBytes(fwd.bandwidthBytesPerSecond) + '/s limit' : 'unlimited']
    ]);

    // With target 'site': the second leg, the site Pulsar's geo-replication to the data centre.
    var rep = s.replication;
    var box = $('replication');
    if (!rep) { box.hidden = true; return; }
    box.hidden = false;
    var line = el('span');
    line.appendChild(rep.connected === true ? el('span', 'good', '\u2713 connected') : rep.connected === false ? el('span', 'bad', '\u2715 DISCONNECTED') : el('span', 'muted', 'state unknown'));
    var topics = rep.topics || [];
    var down = topics.filter(function (t) { return !t.connected; }).length;
    line.appendChild(document.createTextNode(
      ' to ' + String(rep.cluster) + ' \u00B7 ' + fmtInt(rep.backlog) + ' message' + (rep.backlog === 1 ? '' : 's') + ' waiting' +
      (down && topics.length > 1 ? ' \u00B7 ' + down + ' of ' + topics.length + ' topics disconnected' : '') +
      ' \u00B7 checked ' + (rep.checkedAt ? fmtAgo(rep.checkedAt) : 'not yet')));
    kv(box, [
      ['Geo-replication', line],
      rep.error ? ['Replication error', el('span', 'bad', String(rep.error))] : null
    ]);
  }

  /** Big numbers shrink to fit their box when they are long ("1,234,567"). */
  function setBig(node, text) {
    setText(node, text);
    var cls = 'bignum-value' + (node.classList.contains('bignum-eta') ? ' bignum-eta' : '') + (text.length > 7 ? ' v-long' : text.length > 5 ? ' v-mid' : '');
    if (node.className !== cls) node.className = cls;
  }

  function renderBacklog(s) {
    var records = s.backlog.records;
    var node = $('backlog-records');
    setBig(node, fmtInt(records));
    node.setAttribute('data-value', String(records));
    setText('backlog-bytes', fmtBytes(s.backlog.bytes));
    var eta = s.drainEtaSeconds;
    var etaNode = $('drain-eta');
    var by = '';
    // Only an up link drains: the forward rate is an average and lags a cut by a few seconds.
    var draining = s.link.state === 'up' && !s.paused;
    if (records === 0) setText(etaNode, 'empty');
    else if (!draining || !isNum(eta)) {
      setText(etaNode, 'not draining');
      by = s.paused || s.link.state === 'paused' ? 'forwarding is paused' : !draining ? 'waits for the link' : 'forward rate is zero';
    } else {
      setText(etaNode, eta < 1 ? '< 1 s' : '\u2248 ' + fmtDuration(eta));
      by = 'through by ' + fmtClock(serverNow() + eta * 1000, eta >= 3600 ? false : true) + ' at the current rate';
    }
    etaNode.setAttribute('data-value', draining && isNum(eta) ? String(eta) : '');
    setText('drain-by', by);
    var rates = s.rates || {};
    setBig($('ingest-rate'), fmtRate(rates.ingestPerSecond));
    $('ingest-rate').setAttribute('data-value', String(rates.ingestPerSecond));
    setBig($('forward-rate'), fmtRate(rates.forwardPerSecond));
    $('forward-rate').setAttribute('data-value', String(rates.forwardPerSecond));
  }

  // --- charts -------------------------------------------------------------------------------

  /** Top of a value axis with 4 intervals of a round step (1, 2, 2.5 or 5 times a power of ten; integers at least). */
  function niceMax(v) {
    var raw = isNum(v) && v > 0 ? v / 4 : 1;
    var exp = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    var step = 10 * exp;
    for (var i = 0; i < steps.length; i++) if (steps[i] * exp >= raw) { step = steps[i] * exp; break; }
    return Math.max(1, step) * 4;
  }

  function chartFrame(container, height) {
    var width = Math.max(240, Math.floor(container.clientWidth || 300));
    var root = svg('svg', { width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, role: 'img' });
    return { root: root, width: width, height: height };
  }

  function timeAxis(g, x, t0, t1, top, bottom) {
    var span = t1 - t0;
    var candidates = [10e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3];
    var step = candidates[candidates.length - 1];
    for (var i = 0; i < candidates.length; i++) if (span / candidates[i] <= 5) { step = candidates[i]; break; }
    var first = Math.ceil(t0 / step) * step;
    for (var t = first; t <= t1; t += step) {
      var px = x(t);
      g.appendChild(svg('line', { x1: px, x2: px, y1: top, y2: bottom, class: 'grid-line' }));
      g.appendChild(svg('text', { x: px, y: bottom + 14, 'text-anchor': 'middle', class: 'axis-label' }, fmtClock(t, step < 60e3)));
    }
  }

  function valueAxis(g, y, max, left, right, fmt) {
    for (var i = 0; i <= 4; i++) {
      var v = (max * i) / 4;
      var py = y(v);
      g.appendChild(svg('line', { x1: left, x2: right, y1: py, y2: py, class: 'grid-line' }));
      g.appendChild(svg('text', { x: left - 6, y: py + 4, 'text-anchor': 'end', class: 'axis-label' }, fmt(v)));
    }
  }

  /** Keeps at most one point per pixel column (the largest), so an hour of 1 s points stays light. */
  function thin(points, x, key) {
    var out = [];
    var lastPx = null;
    points.forEach(function (p) {
      var px = Math.round(x(p.at));
      if (lastPx === px && out.length) {
        if ((p[key] || 0) > (out[out.length - 1][key] || 0)) out[out.length - 1] = p;
      } else out.push(p);
      lastPx = px;
    });
    return out;
  }

  /** Runs of points without a gap (the daemon was down, or this page lost it): lines do not bridge gaps. */
  function segments(points, key) {
    var out = [];
    var current = [];
    var prev = null;
    points.forEach(function (p) {
      if (!isNum(p[key])) return;
      if (prev && p.at - prev.at > GAP_MS && current.length) {
        out.push(current);
        current = [];
      }
      current.push(p);
      prev = p;
    });
    if (current.length) out.push(current);
    return out;
  }

  function pathOf(points, x, y, key) {
    return segments(points, key).map(function (seg) {
      return seg.map(function (p, i) { return (i === 0 ? 'M' : 'L') + x(p.at).toFixed(1) + ' ' + y(p[key]).toFixed(1); }).join('');
    }).join('');
  }

  function areaOf(points, x, y, key, bottom) {
    return segments(points, key).map(function (seg) {
      var first = seg[0];
      var last = seg[seg.length - 1];
      return 'M' + x(first.at).toFixed(1) + ' ' + bottom + seg.map(function (p) { return 'L' + x(p.at).toFixed(1) + ' ' + y(p[key]).toFixed(1); }).join('') + 'L' + x(last.at).toFixed(1) + ' ' + bottom + 'Z';
    }).join('');
  }

  function renderCharts() {
    var now = serverNow();
    var pts = S.points;
    var t1 = now;
    var t0 = pts.length ? Math.min(pts[0].at, t1 - 60e3) : t1 - 60e3;
    renderBacklogChart(pts, t0, t1);
    renderRatesChart(pts, t0, t1);
  }

  function renderBacklogChart(pts, t0, t1) {
    var box = $('backlog-chart');
    var wide = window.innerWidth >= 1400;
    var f = chartFrame(box, wide ? 240 : 180);
    var m = { left: 52, right: 12, top: 12, bottom: 34 };
    var plotBottom = f.height - m.bottom;
    var maxV = 0;
    pts.forEach(function (p) { if (p.backlogRecords > maxV) maxV = p.backlogRecords; });
    var yMax = niceMax(maxV);
    var x = function (t) { return m.left + ((t - t0) / (t1 - t0 || 1)) * (f.width - m.left - m.right); };
    var y = function (v) { return plotBottom - (v / yMax) * (plotBottom - m.top); };
    var g = f.root;
    var last = pts.length ? pts[pts.length - 1] : null;
    var downFor = 0;

    // Periods the link was not up: shaded behind the curve, and a state band under the axis.
    for (var i = 0; i < pts.length; i++) {
      var p = pts[i];
      var next = i + 1 < pts.length ? pts[i + 1].at : Math.min(t1, p.at + GAP_MS);
      var xEnd = x(Math.min(next, p.at + GAP_MS));
      var xStart = x(p.at);
      if (xEnd - xStart <= 0) continue;
      var st = Object.prototype.hasOwnProperty.call(STATES, p.linkState) ? p.linkState : 'unknown';
      if (st !== 'up') {
        g.appendChild(svg('rect', { x: xStart, y: m.top, width: xEnd - xStart, height: plotBottom - m.top, class: 'shade-' + st }));
        downFor += 1;
      }
      var band = svg('rect', { x: xStart, y: plotBottom + 20, width: xEnd - xStart + 0.5, height: 8, class: 'band-' + st });
      band.appendChild(svg('title', null, 'link ' + stateInfo(st).label + ' at ' + fmtClock(p.at)));
      g.appendChild(band);
    }
    valueAxis(g, y, yMax, m.left, f.width - m.right, fmtCompact);
    timeAxis(g, x, t0, t1, m.top, plotBottom);
    if (pts.length) {
      var thinned = thin(pts, x, 'backlogRecords');
      g.appendChild(svg('path', { d: areaOf(thinned, x, y, 'backlogRecords', plotBottom), class: 'backlog-area' }));
      g.appendChild(svg('path', { d: pathOf(thinned, x, y, 'backlogRecords'), class: 'backlog-line' }));
      var lx = x(last.at);
      var ly = y(last.backlogRecords);
      g.appendChild(svg('circle', { cx: lx, cy: ly, r: 3.5, class: 'now-dot' }));
      g.appendChild(svg('text', { x: Math.min(lx - 6, f.width - m.right - 4), y: Math.max(m.top + 12, ly - 8), 'text-anchor': 'end', class: 'now-label' }, fmtInt(last.backlogRecords)));
    } else {
      g.appendChild(svg('text', { x: f.width / 2, y: (m.top + plotBottom) / 2, 'text-anchor': 'middle', class: 'empty-label' }, 'no data yet'));
    }
    var summary = 'Backlog over the last ' + fmtDuration((t1 - t0) / 1000) + ': now ' + (last ? fmtInt(last.backlogRecords) : 'unknown') + ' records, peak ' + fmtInt(maxV) + (downFor ? '; the link was not up for part of it (shaded).' : '.');
    g.setAttribute('aria-label', summary);
    g.insertBefore(svg('title', null, summary), g.firstChild);
    replace(box, [g]);

    var seen = {};
    pts.forEach(function (p) { seen[p.linkState] = true; });
    seen.up = true;
    var legend = [];
    ['up', 'down', 'blackholed', 'connecting', 'paused', 'stopped'].forEach(function (st) {
      if (!seen[st]) return;
      var li = el('li');
      li.appendChild(el('span', 'swatch swatch-' + st));
      li.lastChild.setAttribute('aria-hidden', 'true');
      li.appendChild(document.createTextNode(STATES[st].label));
      legend.push(li);
    });
    replace($('state-legend'), legend);
  }

  function renderRatesChart(pts, t0, t1) {
    var box = $('rates-chart');
    var f = chartFrame(box, 120);
    var m = { left: 52, right: 12, top: 8, bottom: 20 };
    var plotBottom = f.height - m.bottom;
    var maxV = 0;
    pts.forEach(function (p) {
      if (isNum(p.ingestPerSecond) && p.ingestPerSecond > maxV) maxV = p.ingestPerSecond;
      if (isNum(p.forwardPerSecond) && p.forwardPerSecond > maxV) maxV = p.forwardPerSecond;
    });
    var yMax = niceMax(maxV);
    var x = function (t) { return m.left + ((t - t0) / (t1 - t0 || 1)) * (f.width - m.left - m.right); };
    var y = function (v) { return plotBottom - (v / yMax) * (plotBottom - m.top); };
    var g = f.root;
    valueAxis(g, function (v) { return y(v); }, yMax, m.left, f.width - m.right, fmtCompact);
    timeAxis(g, x, t0, t1, m.top, plotBottom);
    // Same time axis as the backlog chart just above: keep its grid lines, drop its labels.
    Array.prototype.slice.call(g.querySelectorAll('text')).forEach(function (t) {
      if (Number(t.getAttribute('y')) > plotBottom) g.removeChild(t);
    });
    if (pts.length) {
      g.appendChild(svg('path', { d: pathOf(thin(pts, x, 'ingestPerSecond'), x, y, 'ingestPerSecond'), class: 'ingest-line' }));
      g.appendChild(svg('path', { d: pathOf(thin(pts, x, 'forwardPerSecond'), x, y, 'forwardPerSecond'), class: 'forward-line' }));
    }
    var last = pts.length ? pts[pts.length - 1] : null;
    var summary = 'Rates: ingest ' + fmtRate(last && last.ingestPerSecond) + ' records/s, forward ' + fmtRate(last && last.forwardPerSecond) + ' records/s.';
    g.setAttribute('aria-label', summary);
    g.insertBefore(svg('title', null, summary), g.firstChild);
    replace(box, [g]);
  }

  // --- cards --------------------------------------------------------------------------------

  function renderAlarms(s) {
    var alarms = (s.alarms || []).slice().sort(function (a, b) {
      if (a.severity !== b.severity) return a.severity === 'critical' ? -1 : 1;
      return a.since - b.since;
    });
    setText('alarm-count', alarms.length ? '(' + alarms.length + ')' : '');
    var items = alarms.map(function (a) {
      var sev = a.severity === 'critical' ? 'critical' : 'warning';
      var li = el('li', 'alarm alarm-' + sev);
      li.setAttribute('data-code', String(a.code));
      var fresh = S.newAlarms[a.code];
      if (fresh && Date.now() - fresh < 3000) li.classList.add('alarm-new');
      var head = el('div', 'alarm-head');
      head.appendChild(el('span', 'sev', (sev === 'critical' ? '\u2716 ' : '\u26A0 ') + sev.toUpperCase()));
      head.appendChild(el('span', 'alarm-msg', a.message));
      li.appendChild(head);
      li.appendChild(el('div', 'alarm-meta', String(a.code) + ' \u00B7 since ' + fmtClock(a.since) + ' (' + fmtDuration(ageMs(a.since) / 1000) + ')'));
      var ack = a.acknowledged;
      li.appendChild(ack ? el('div', 'alarm-ack good', '\u2713 acknowledged by ' + String(ack.by) + ' at ' + fmtClock(ack.at)) : el('div', 'alarm-ack warn', 'not acknowledged'));
      return li;
    });
    if (!items.length) {
      var none = el('li', 'none', '\u2713 No active alarms');
      items.push(none);
    }
    replace($('alarms'), items);
  }

  function renderDisk(s) {
    var quota = s.backlog.quotaBytes;
    var used = s.backlog.bytes;
    var pct = isNum(quota) && quota > 0 ? (used / quota) * 100 : null;
    var gauge = $('disk-gauge');
    var level = pct === null ? '' : pct >= 90 ? 'crit' : pct >= 70 ? 'warn' : 'ok';
    gauge.className = 'gauge' + (level ? ' gauge-' + level : '');
    gauge.setAttribute('aria-valuenow', pct === null ? '0' : pct.toFixed(1));
    gauge.setAttribute('data-value', pct === null ? '' : pct.toFixed(2));
    $('gauge-fill').style.width = (pct === null ? 0 : Math.min(100, Math.max(pct, pct > 0 ? 0.5 : 0))) + '%';
    var pctText = pct === null ? 'no quota' : (pct > 0 && pct < 0.01 ? '< 0.01' : pct < 1 ? pct.toFixed(2) : pct.toFixed(1)) + ' % of quota' + (level === 'crit' ? ' (nearly full)' : level === 'warn' ? ' (high)' : '');
    setText('gauge-text', fmtBytes(used) + ' of ' + fmtBytes(quota) + ' \u00B7 ' + pctText);
    var disk = s.disk || {};
    kv($('disk-details'), [
      ['Disk free', isNum(disk.freeBytes) ? fmtBytes(disk.freeBytes) : 'unknown'],
      ['Intake', disk.accepting ? el('span', 'good', '\u2713 accepting records') : el('span', 'bad', '\u2715 NOT accepting records (disk low)')]
    ]);
  }

  function renderClasses(s) {
    var by = s.backlog.byPriority || {};
    var rows = PRIORITIES.map(function (p) {
      var c = by[p] || { records: 0, bytes: 0, oldestIngestTime: null };
      return {
        key: p,
        cells: [
          { text: p },
          { text: fmtInt(c.records) },
          { text: fmtBytes(c.bytes) },
          { text: c.oldestIngestTime ? fmtDuration(ageMs(c.oldestIngestTime) / 1000) : '\u2014' }
        ]
      };
    });
    replace($('classes'), [table([{ title: 'Class' }, { title: 'Records', cls: 'num' }, { title: 'Bytes', cls: 'num' }, { title: 'Oldest', cls: 'num' }], rows, 'Backlog by priority class')]);
  }

  function renderInstruments(s) {
    var list = (s.instruments || []).slice().sort(function (a, b) {
      if (a.stale !== b.stale) return a.stale ? -1 : 1;
      return String(a.stream) < String(b.stream) ? -1 : 1;
    });
    var stale = list.filter(function (i) { return i.stale; }).length;
    setText('instrument-count', list.length ? '(' + list.length + (stale ? ', ' + stale + ' stale' : '') + ')' : '');
    var box = $('instruments');
    if (!list.length) {
      replace(box, [el('p', 'muted', 'No instrument has sent anything yet.')]);
      return;
    }
    var rows = list.map(function (i) {
      var state = i.stale ? '\u26A0 STALE' : isNum(i.expectedIntervalMs) ? 'ok' : '\u2014';
      var stateNode = null;
      if (i.stale && i.lastSeen === null) {
        stateNode = document.createDocumentFragment();
        stateNode.appendChild(el('span', 'label-long', '\u26A0 NEVER SEEN'));
        stateNode.appendChild(el('span', 'label-short', '\u26A0 NEVER'));
      }
      var cls = [i.stale ? 'row-stale' : '', i.decodeErrors > 0 ? 'row-errors' : ''].filter(Boolean).join(' ');
      return {
        key: i.stream,
        cls: cls,
        cells: [
          { node: streamName(i.stream) },
          { text: i.lastSeen === null ? 'never' : fmtAgo(i.lastSeen), title: i.lastSeen === null ? '' : fmtClock(i.lastSeen) },
          { text: isNum(i.expectedIntervalMs) ? fmtDuration(i.expectedIntervalMs / 1000) : '\u2014' },
          { text: state, node: stateNode, cls: 'state-cell' },
          { text: fmtInt(i.received) },
          { text: fmtInt(i.decodeErrors), cls: 'errors-cell' }
        ]
      };
    });
    replace(box, [table([
      { title: 'Stream', cls: 'name' },
      { title: 'Last seen', short: 'Seen' },
      { title: 'Expected', short: 'Expect' },
      { title: 'State' },
      { title: 'Received', cls: 'num opt' },
      { title: 'Decode errors', short: 'Errors', cls: 'num' }
    ], rows, 'Instruments')]);
  }

  function renderStreams(s) {
    var producers = {};
    ((s.forwarding && s.forwarding.streams) || []).forEach(function (f) { producers[f.stream] = f; });
    var list = (s.backlog.streams || []).slice().sort(function (a, b) {
      if (b.records !== a.records) return b.records - a.records;
      return String(a.stream) < String(b.stream) ? -1 : 1;
    });
    var box = $('streams');
    if (!list.length) {
      replace(box, [el('p', 'muted', 'No streams yet.')]);
      return;
    }
    var rows = list.map(function (st) {
      var prod = producers[st.stream];
      return {
        key: st.stream,
        cells: [
          { node: streamName(st.stream) },
          { text: st.priority },
          { text: fmtInt(st.records) },
          { text: fmtBytes(st.bytes) },
          { text: isNum(st.oldestAgeSeconds) ? fmtDuration(st.oldestAgeSeconds) : '\u2014' },
          { text: prod ? (prod.connected ? '\u2713 open' : '\u2715 closed') : '\u2014' }
        ]
      };
    });
    replace(box, [table([
      { title: 'Stream', cls: 'name' },
      { title: 'Class', cls: 'opt' },
      { title: 'Waiting', cls: 'num' },
      { title: 'Bytes', cls: 'num opt' },
      { title: 'Oldest', cls: 'num' },
      { title: 'Producer', cls: 'opt' }
    ], rows, 'Backlog by stream')]);
  }

  function dropKey(d) { return String(d.stream) + '\u0000' + String(d.reason); }

  /** Remembers the cumulative counts every 10 s; returns the snapshot at the start of the recent window. */
  function dropBaseline(drops) {
    var now = Date.now();
    var snaps = S.dropSnapshots;
    if (!snaps.length || now - snaps[snaps.length - 1].at >= 10000) {
      var counts = {};
      drops.forEach(function (d) { counts[dropKey(d)] = d.count; });
      snaps.push({ at: now, counts: counts });
      while (snaps.length > 2 && now - snaps[1].at >= RECENT_DROPS_MS) snaps.shift();
    }
    return snaps[0];
  }

  function renderDrops(s) {
    var all = s.drops || [];
    var base = dropBaseline(all);
    var drops = all.filter(function (d) { return d.count > 0; }).map(function (d) {
      var before = base.counts[dropKey(d)] || 0;
      return { stream: d.stream, reason: d.reason, count: d.count, recent: Math.max(0, d.count - before) };
    }).sort(function (a, b) { return b.recent - a.recent || b.count - a.count; });
    var box = $('drops');
    if (!drops.length) {
      replace(box, [el('p', 'none', '\u2713 No records dropped')]);
      return;
    }
    var total = drops.reduce(function (sum, d) { return sum + d.count; }, 0);
    var recent = drops.reduce(function (sum, d) { return sum + d.recent; }, 0);
    var windowText = fmtDuration(Math.min(RECENT_DROPS_MS, Date.now() - base.at) / 1000);
    var rows = drops.map(function (d) {
      return {
        cls: d.recent > 0 ? 'row-stale' : '',
        cells: [
          { node: streamName(d.stream) },
          { text: DROP_REASONS[d.reason] || String(d.reason), title: String(d.reason) },
          { text: d.recent > 0 ? '+' + fmtInt(d.recent) : '0' },
          { text: fmtInt(d.count) }
        ]
      };
    });
    replace(box, [
      el('p', recent > 0 ? 'bad' : 'warn', (recent > 0 ? fmtInt(recent) + ' dropped in the last ' + windowText + '; ' : 'None in the last ' + windowText + '; ') + fmtInt(total) + ' in all (counted by policy, kept across restarts)'),
      table([{ title: 'Stream', cls: 'name' }, { title: 'Reason' }, { title: 'Recent', cls: 'num' }, { title: 'Total', cls: 'num' }], rows, 'Dropped records')
    ]);
  }

  function renderHost(s) {
    var h = s.host;
    if (!h) {
      kv($('host'), [['Sampled', 'not yet']]);
      return;
    }
    var mem = isNum(h.memoryTotalBytes) && isNum(h.memoryAvailableBytes)
      ? fmtBytes(h.memoryTotalBytes - h.memoryAvailableBytes) + ' of ' + fmtBytes(h.memoryTotalBytes) + ' used (' + Math.round(((h.memoryTotalBytes - h.memoryAvailableBytes) / h.memoryTotalBytes) * 100) + ' %)'
      : 'unknown';
    var temps = (h.temperatures || []).map(function (t) { return String(t.sensor) + ' ' + (isNum(t.celsius) ? t.celsius.toFixed(0) : '?') + ' \u00B0C'; }).join(' \u00B7 ');
    kv($('host'), [
      ['CPU load', isNum(h.cpuLoadPercent) ? h.cpuLoadPercent.toFixed(0) + ' %' : 'unknown'],
      isNum(h.loadAverage1m) ? ['Load average', h.loadAverage1m.toFixed(2)] : null,
      ['Memory', mem],
      temps ? ['Temperatures', temps] : null,
      ['Sampled', fmtAgo(h.at)]
    ]);
  }

  function renderSelfTest(s) {
    var t = s.selfTest;
    var box = $('selftest');
    if (!t) {
      replace(box, [el('p', 'muted', 'Not run yet.')]);
      return;
    }
    var head = t.ok ? el('p', 'good', '\u2713 passed') : el('p', 'bad', '\u2715 FAILED');
    head.appendChild(document.createTextNode(' ' + fmtAgo(t.at) + ' (' + fmtClock(t.at) + ')'));
    var dl = el('dl', 'kv');
    kv(dl, [
      ['Buffer commit', isNum(t.bufferMs) ? t.bufferMs + ' ms' : '\u2014'],
      ['Broker ack', t.checkedForwarding ? (isNum(t.forwardMs) ? t.forwardMs + ' ms' : '\u2014') : 'not checked (link was not up)'],
      t.error ? ['Error', el('span', 'bad', String(t.error))] : null
    ]);
    replace(box, [head, dl]);
  }

  function renderInputs(s) {
    var inputs = s.inputs || [];
    var box = $('inputs');
    if (!inputs.length) {
      replace(box, [el('p', 'muted', 'No inputs configured.')]);
      return;
    }
    var rows = inputs.map(function (i) {
      var state = document.createDocumentFragment();
      state.appendChild(el('span', i.state === 'running' ? 'good' : 'warn', i.state === 'running' ? '\u2713 running' : '\u26A0 ' + String(i.state) + ' since ' + fmtClock(i.since)));
      if (i.lastError) state.appendChild(el('div', i.state === 'running' ? 'muted' : 'bad', String(i.lastError)));
      return {
        key: i.name,
        cls: i.state === 'running' ? '' : 'row-stale',
        cells: [
          { text: i.name },
          { text: i.type },
          { node: state },
          { text: fmtInt(i.committed) },
          { text: fmtInt(i.rejected) }
        ]
      };
    });
    replace(box, [table([
      { title: 'Input', cls: 'name' },
      { title: 'Type', cls: 'opt' },
      { title: 'State' },
      { title: 'Committed', short: 'Comm.', cls: 'num' },
      { title: 'Rejected', short: 'Rej.', cls: 'num' }
    ], rows, 'Inputs')]);
  }

  // --- start --------------------------------------------------------------------------------

  function start() {
    // Connection details: open where there is room, one tap away on a phone.
    if (window.matchMedia('(min-width: 800px)').matches) $('link-more').open = true;
    loadHistory();
    connect();
    setInterval(watchdog, 1000);
    var resizeQueued = false;
    window.addEventListener('resize', function () {
      if (resizeQueued) return;
      resizeQueued = true;
      requestAnimationFrame(function () { resizeQueued = false; safely('charts', renderCharts); });
    });
    document.addEventListener('visibilitychange', function () {
      if (!document.hidden && S.status) queueRender();
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
`;
