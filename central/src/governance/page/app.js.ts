/**
 * The operator page's script: plain DOM, no framework, nothing fetched but this service's API.
 * The token is kept in sessionStorage (gone with the tab) and sent as a bearer token. Untrusted
 * text (parameters, results, errors from sites) is only ever set as textContent.
 * (No backquotes or dollar-brace sequences below: this is a template literal.)
 */
export const appJs = `'use strict';
(function () {
  var STORE = 'skyhaul-governance-token';
  var POLL_MS = 2000;
  var catalogue = null;
  var identity = null;
  var timer = null;

  function $(id) { return document.getElementById(id); }
  function token() { return sessionStorage.getItem(STORE) || ''; }
  function cell(row, text, cls) {
    var td = document.createElement('td');
    td.textContent = text === null || text === undefined ? '' : String(text);
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }
  function age(ms) {
    if (ms === null || ms === undefined) return 'never';
    var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 120) return s + ' s ago';
    if (s < 7200) return Math.round(s / 60) + ' min ago';
    return Math.round(s / 3600) + ' h ago';
  }
  function showError(text) {
    var p = $('error');
    p.textContent = text || '';
    p.hidden = !text;
  }
  function api(method, path, body, headers) {
    var h = { authorization: 'Bearer ' + token() };
    if (body !== undefined) h['content-type'] = 'application/json';
    for (var k in headers || {}) h[k] = headers[k];
    return fetch(path, { method: method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (json) { return { status: res.status, body: json }; });
    });
  }
  function bytes(n) {
    if (n === null || n === undefined) return 'unlimited';
    if (n >= 1048576) return (n / 1048576).toFixed(1) + ' MiB/s';
    if (n >= 1024) return (n / 1024).toFixed(1) + ' KiB/s';
    return n + ' B/s';
  }
  function summary(c) {
    if (c.error) return c.error.code + ': ' + c.error.message;
    if (!c.result) return '';
    if (c.command === 'status' && c.result.status) {
      var s = c.result.status;
      return 'link ' + (s.link && s.link.state) + ', backlog ' + (s.backlog && s.backlog.records) + ' records';
    }
    return JSON.stringify(c.result).slice(0, 160);
  }

  function renderSites(sites) {
    var body = document.querySelector('#sites tbody');
    body.textContent = '';
    var select = $('send-site');
    var chosen = select.value;
    select.textContent = '';
    sites.forEach(function (s) {
      var row = document.createElement('tr');
      row.dataset.site = s.id;
      var r = s.report;
      cell(row, s.name ? s.id + ' (' + s.name + ')' : s.id);
      cell(row, r ? age(r.at) : 'never', 'report-age');
      cell(row, r ? r.link + (r.paused ? ' (paused)' : '') : '', 'link');
      cell(row, r ? r.backlogRecords + ' records' : '');
      cell(row, r ? bytes(r.bandwidthBytesPerSecond) : '');
      cell(row, r ? (r.alarms.length === 0 ? 'none' : r.alarms.join(', ')) : '');
      cell(row, s.lastCommand ? s.lastCommand.command + ': ' + s.lastCommand.state : '');
      body.appendChild(row);
      var option = document.createElement('option');
      option.value = s.id;
      option.textContent = s.id;
      select.appendChild(option);
    });
    if (chosen) select.value = chosen;
  }

  function renderCommands(commands) {
    var body = document.querySelector('#commands tbody');
    body.textContent = '';
    commands.forEach(function (c) {
      var row = document.createElement('tr');
      row.dataset.id = c.id;
      cell(row, new Date(c.updatedAt).toLocaleTimeString());
      cell(row, c.site);
      cell(row, c.command, 'command');
      cell(row, c.params ? JSON.stringify(c.params) : '', 'mono');
      cell(row, c.operator);
      var state = cell(row, c.state, 'state state-' + c.state);
      state.dataset.state = c.state;
      cell(row, summary(c), 'detail');
      cell(row, c.id.slice(0, 8), 'mono');
      body.appendChild(row);
    });
  }

  function refresh() {
    if (!token()) return;
    Promise.all([api('GET', '/api/v1/sites'), api('GET', '/api/v1/commands?limit=50')]).then(function (answers) {
      if (answers[0].status === 401) { signOut('the token was refused'); return; }
      showError(null);
      renderSites(answers[0].body.sites || []);
      renderCommands(answers[1].body.commands || []);
    }, function (error) { showError('cannot reach the governance service: ' + error.message); });
  }

  function fillCommands() {
    var select = $('send-command');
    select.textContent = '';
    var ranks = catalogue.roles;
    catalogue.commands.forEach(function (c) {
      if (ranks.indexOf(identity.role) < ranks.indexOf(c.role)) return;
      var option = document.createElement('option');
      option.value = c.name;
      option.textContent = c.name;
      select.appendChild(option);
    });
    describe();
  }
  function describe() {
    var name = $('send-command').value;
    var spec = catalogue.commands.filter(function (c) { return c.name === name; })[0];
    $('send-help').textContent = spec ? spec.summary + ' (least role: ' + spec.role + ')' : '';
  }

  function signIn() {
    api('GET', '/api/v1/whoami').then(function (answer) {
      if (answer.status !== 200) { signOut('the token was refused'); return; }
      identity = answer.body;
      $('whoami').textContent = 'Signed in as ' + identity.name + ' (' + identity.role + '), sites: ' + identity.sites.join(', ');
      $('signout').hidden = false;
      $('send-section').hidden = identity.role === 'observer';
      return fetch('/api/v1/catalogue').then(function (r) { return r.json(); }).then(function (c) {
        catalogue = c;
        fillCommands();
        refresh();
        if (timer === null) timer = setInterval(refresh, POLL_MS);
      });
    }, function (error) { showError('cannot reach the governance service: ' + error.message); });
  }
  function signOut(reason) {
    sessionStorage.removeItem(STORE);
    identity = null;
    if (timer !== null) clearInterval(timer);
    timer = null;
    $('whoami').textContent = reason ? 'Not signed in: ' + reason + '.' : 'Not signed in.';
    $('signout').hidden = true;
    $('send-section').hidden = true;
  }

  function send(event) {
    event.preventDefault();
    var params;
    try { params = JSON.parse($('send-params').value || '{}'); } catch (e) { $('send-result').textContent = 'Parameters are not JSON: ' + e.message; return; }
    var body = { site: $('send-site').value, command: $('send-command').value, params: params };
    var ttl = $('send-ttl').value.trim();
    if (ttl) body.ttl = ttl;
    // One key per click: a retried click of the same form would be a new command.
    var key = (self.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random();
    $('send-result').textContent = 'Sending…';
    api('POST', '/api/v1/commands?wait=0', body, { 'idempotency-key': key }).then(function (answer) {
      var c = answer.body.command;
      var e = answer.body.error;
      $('send-result').textContent = (c ? c.command + ' to ' + c.site + ': ' + c.state + ' (' + c.id.slice(0, 8) + ')' : 'HTTP ' + answer.status) + (e ? ' — ' + e.code + ': ' + e.message : '');
      refresh();
    }, function (error) { $('send-result').textContent = 'not sent: ' + error.message; });
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('signin-form').addEventListener('submit', function (event) {
      event.preventDefault();
      sessionStorage.setItem(STORE, $('token').value.trim());
      $('token').value = '';
      signIn();
    });
    $('signout').addEventListener('click', function () { signOut(null); });
    $('send-form').addEventListener('submit', send);
    $('send-command').addEventListener('change', describe);
    if (token()) signIn();
  });
})();
`;
