// The wisp dashboard: signs in with the admin token (the host answers with a read-only
// session cookie), then renders the `apps` events of /v1/events, one a second.
'use strict';

/** Samples kept per app for the charts: two minutes at one a second. */
const HISTORY = 120;
const SVG = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);
/** name → {rps: number[], p99: number[]} */
const history = new Map();
let events = null;

async function start() {
  $('login').addEventListener('submit', signIn);
  $('logout').addEventListener('click', signOut);
  const session = await fetch('/v1/session', { credentials: 'same-origin' });
  if (session.ok) {
    showBoard();
  } else {
    showLogin('');
  }
}

function showLogin(message) {
  if (events) {
    events.close();
    events = null;
  }
  $('board').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('summary').textContent = '';
  $('token').focus();
}

async function signIn(event) {
  event.preventDefault();
  const token = $('token').value.trim();
  const response = await fetch('/v1/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  if (response.ok) {
    $('token').value = '';
    showBoard();
  } else {
    const body = await response.json().catch(() => ({}));
    showLogin(body.error || `Sign-in failed (${response.status})`);
  }
}

async function signOut() {
  await fetch('/v1/session', { method: 'DELETE', credentials: 'same-origin' });
  showLogin('Signed out.');
}

function showBoard() {
  $('login').hidden = true;
  $('board').hidden = false;
  $('logout').hidden = false;
  $('connection').textContent = 'Connecting…';
  events = new EventSource('/v1/events');
  events.addEventListener('apps', (event) => render(JSON.parse(event.data)));
  events.addEventListener('open', () => {
    $('connection').textContent = 'Live: updated every second.';
  });
  events.addEventListener('error', async () => {
    // The stream ends when the host stops or the session does; tell which.
    const session = await fetch('/v1/session', { credentials: 'same-origin' }).catch(() => null);
    if (session && session.status === 401) {
      showLogin('The session ended; sign in again.');
    } else {
      $('connection').textContent = 'Disconnected from the host; retrying…';
    }
  });
}

function render(sample) {
  const body = document.querySelector('#apps tbody');
  const present = new Set();
  let total = 0;
  for (const app of sample.apps) {
    present.add(app.name);
    total += app.rps || 0;
    const past = history.get(app.name) || { rps: [], p99: [] };
    push(past.rps, app.rps);
    push(past.p99, app.p99_ms);
    history.set(app.name, past);
    let row = body.querySelector(`tr[data-app="${CSS.escape(app.name)}"]`);
    if (!row) {
      row = newRow(app.name);
      body.appendChild(row);
    }
    fill(row, app, past);
  }
  for (const row of [...body.rows]) {
    if (!present.has(row.dataset.app)) {
      history.delete(row.dataset.app);
      row.remove();
    }
  }
  $('empty').hidden = sample.apps.length > 0;
  $('apps').hidden = sample.apps.length === 0;
  const count = sample.apps.length;
  $('summary').textContent =
    `${count} app${count === 1 ? '' : 's'} · ${formatRate(total)} req/s in all`;
}

function push(series, value) {
  series.push(value == null ? 0 : value);
  if (series.length > HISTORY) series.shift();
}

const COLUMNS = ['name', 'status', 'version', 'hosts', 'rps num', 'p50 num', 'p99 num',
  'errors num', 'active num', 'requests num', 'rps-chart', 'p99-chart'];

function newRow(name) {
  const row = document.createElement('tr');
  row.dataset.app = name;
  for (const column of COLUMNS) {
    const cell = document.createElement('td');
    cell.className = column;
    row.appendChild(cell);
  }
  return row;
}

function cell(row, name) {
  return row.querySelector(`td.${name}`);
}

function fill(row, app, past) {
  cell(row, 'name').textContent = app.name;
  const status = document.createElement('span');
  status.className = `status status-${app.status}`;
  status.textContent = app.status;
  cell(row, 'status').replaceChildren(status);
  const version = cell(row, 'version');
  version.textContent = app.digest.replace(/^sha256:/, '').slice(0, 12);
  version.title = app.digest;
  cell(row, 'hosts').textContent =
    app.hosts.join(', ') + (app.route_prefix ? ` ${app.route_prefix}` : '');
  cell(row, 'rps').textContent = app.rps == null ? '–' : formatRate(app.rps);
  cell(row, 'p50').textContent = formatMs(app.p50_ms);
  cell(row, 'p99').textContent = formatMs(app.p99_ms);
  cell(row, 'errors').textContent =
    app.error_rate == null ? '–' : `${(app.error_rate * 100).toFixed(1)}%`;
  cell(row, 'active').textContent = String(app.active);
  cell(row, 'requests').textContent = String(app.requests);
  cell(row, 'rps-chart').replaceChildren(spark(past.rps, 'rate'));
  cell(row, 'p99-chart').replaceChildren(spark(past.p99, 'latency'));
}

function formatRate(rate) {
  return rate >= 100 ? rate.toFixed(0) : rate.toFixed(1);
}

function formatMs(ms) {
  if (ms == null) return '–';
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toPrecision(2)} ms`;
}

/** A small line chart of `series`, scaled to its own maximum. */
function spark(series, kind) {
  const width = 160;
  const height = 28;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', `spark ${kind}`);
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const max = Math.max(...series, 1e-9);
  const step = width / (HISTORY - 1);
  const offset = HISTORY - series.length;
  const points = series.map((value, i) => {
    const x = (offset + i) * step;
    const y = height - 2 - (value / max) * (height - 4);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', points.join(' '));
  svg.appendChild(line);
  return svg;
}

start();
