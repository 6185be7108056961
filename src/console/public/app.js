// The reviewer console page: log in with a token (the server answers with an HttpOnly session cookie), then
// follow held requests over the WebSocket at /ws and decide them there.
// Every piece of request data reaches the DOM through textContent or attributes, never as markup.

const HISTORY_LIMIT = 200;
// An approval window lets the same statements of the same requester through without asking again.
const WINDOWS = [
  ['', 'this time only'],
  ['5m', '5 minutes'],
  ['15m', '15 minutes'],
  ['1h', '1 hour'],
];

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** Builds an element: `props` are properties (className, type ...) or, for `role` and names with a dash, attributes. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'role' || k.includes('-')) el.setAttribute(k, String(v));
    else el[k] = v;
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const state = {
  me: null,
  ws: null,
  /** server clock minus ours, so "waiting" and "expires" agree with the server */
  skew: 0,
  /** id -> { view, el, timers } */
  pending: new Map(),
  /** id -> { view, el } */
  history: new Map(),
  retry: 0,
  reconnectTimer: 0,
};

// ---------- time ----------

const now = () => Date.now() + state.skew;

/** `round` is floor for time gone by, ceil for time left (a countdown shows 1s until it is over). */
function duration(ms, round = Math.floor) {
  const s = Math.max(0, round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const hours = Math.floor(m / 60);
  return `${hours}h ${String(m % 60).padStart(2, '0')}m`;
}

const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

function tick() {
  const t = now();
  for (const { view, timers } of state.pending.values()) {
    timers.waited.textContent = duration(t - Date.parse(view.createdAt));
    const left = Date.parse(view.expiresAt) - t;
    timers.expires.textContent = left > 0 ? `in ${duration(left, Math.ceil)}` : 'now';
    timers.expiresBox.classList.toggle('soon', left < 60_000);
  }
}

// ---------- rendering ----------

function describeRule(rule) {
  if (!rule) return 'the policy default';
  return `rules[${rule.index}] (line ${rule.line}): ${rule.description}`;
}

function categoriesOf(view) {
  return [...new Set(view.statements.map((s) => s.category))];
}

function badge(category) {
  return h('span', { className: `badge cat-${category}` }, category);
}

function field(label, value, extra, className) {
  return h('div', { className }, h('dt', {}, label), h('dd', {}, value ?? '—', extra));
}

function isMine(view) {
  return !!(state.me && view.user !== null && state.me.databaseUsers.includes(view.user));
}

function pendingCard(view) {
  const titleId = `title-${view.id}`;
  const waited = h('span', { className: 'value' });
  const expires = h('span', { className: 'value' });
  const expiresBox = h('span', { className: 'expires' }, 'expires ', expires);
  const reason = h('input', { type: 'text', name: 'reason', id: `reason-${view.id}`, autocomplete: 'off', maxLength: 1000 });
  const windowSelect = h('select', { name: 'for', id: `for-${view.id}` }, WINDOWS.map(([value, label]) => h('option', { value }, label)));
  const error = h('p', { className: 'error', role: 'alert' });
  const approve = h('button', { type: 'submit', value: 'approve', className: 'approve' }, 'Approve');
  const deny = h('button', { type: 'submit', value: 'deny', className: 'deny' }, 'Deny');
  const form = h(
    'form',
    { className: 'decide', noValidate: true, 'aria-label': `Decide ${view.id}` },
    h('div', { className: 'reason' }, h('label', { htmlFor: reason.id }, 'Reason'), reason),
    h('div', { className: 'window' }, h('label', { htmlFor: windowSelect.id }, 'Approve for'), windowSelect),
    h('div', { className: 'buttons' }, approve, deny),
    error,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const action = e.submitter?.value === 'deny' ? 'deny' : 'approve';
    decide(view.id, action, reason.value.trim(), windowSelect.value);
  });

  const statements = view.statements.length > 1
    ? h('ol', { className: 'statements' }, view.statements.map((s) => h('li', {}, badge(s.category), ' ', h('span', { className: 'kind' }, s.kind), ' ', h('code', {}, s.text))))
    : null;
  const kinds = [...new Set(view.statements.map((s) => s.kind))].join(', ') || 'statement';

  const el = h(
    'li',
    { className: 'request', id: view.id, tabIndex: -1, 'aria-labelledby': titleId },
    h(
      'header',
      {},
      h('h3', { id: titleId }, categoriesOf(view).map(badge), ' ', h('span', { className: 'kind' }, kinds), ' ', h('code', { className: 'id' }, view.id)),
      h('p', { className: 'times' }, h('span', {}, 'waiting ', waited), expiresBox),
    ),
    h(
      'dl',
      { className: 'who' },
      field('Database user', `${view.user ?? '?'} @ ${view.database ?? '?'}`, isMine(view) ? h('span', { className: 'mine' }, ' (you: another reviewer decides)') : null),
      field('Application', view.application || '—'),
      field('Client', view.client + (view.tlsCommonName ? ` (TLS ${view.tlsCommonName})` : '')),
      field('Listener', `${view.listener} (${view.protocol})`),
      field('Held by', describeRule(view.rule), null, 'wide'),
    ),
    h('pre', { className: 'sql', 'aria-label': 'Statement' }, h('code', {}, view.sql)),
    statements,
    form,
  );
  return { el, timers: { waited, expires, expiresBox }, form: { reason, approve, deny, error, windowSelect } };
}

function historyRow(view) {
  const first = view.statements[0];
  const sql = view.sql.length > 160 ? `${view.sql.slice(0, 157)}…` : view.sql;
  return h(
    'tr',
    { id: `history-${view.id}` },
    h('td', {}, h('time', { dateTime: view.decidedAt ?? '', title: view.decidedAt ?? '' }, view.decidedAt ? clock(view.decidedAt) : '')),
    h('td', {}, h('span', { className: `status status-${view.status}` }, view.status), view.windowUntil ? h('div', { className: 'note' }, `window until ${clock(view.windowUntil)}`) : null),
    h('td', {}, h('code', {}, view.id)),
    h('td', {}, first ? badge(first.category) : null, ' ', h('code', { className: 'sql-inline', title: view.sql }, sql)),
    h('td', {}, `${view.user ?? '?'} @ ${view.database ?? '?'}`, h('div', { className: 'note' }, `${view.application || 'no application'}, ${view.client}`)),
    h('td', {}, view.reviewer ?? '—'),
    h('td', {}, view.reason ?? ''),
  );
}

function newestFirst(a, b, key) {
  return (b[key] ?? '').localeCompare(a[key] ?? '');
}

function insertSorted(list, el, view, entries, key) {
  // Newest first: before the first element that is older.
  for (const other of entries.values()) {
    if (other.el !== el && other.el.parentNode === list && newestFirst(view, other.view, key) < 0) {
      list.insertBefore(el, other.el);
      return;
    }
  }
  list.append(el);
}

function upsert(view, { quiet = false } = {}) {
  if (view.status === 'pending') {
    if (state.pending.has(view.id)) return;
    const card = pendingCard(view);
    state.pending.set(view.id, { view, ...card });
    insertSorted($('pending'), card.el, view, state.pending, 'createdAt');
    if (!quiet) announce(`New request ${view.id}: ${categoriesOf(view).join(', ')} from ${view.user ?? 'unknown user'}`);
  } else {
    removePending(view.id);
    const old = state.history.get(view.id);
    if (old) old.el.remove();
    const el = historyRow(view);
    state.history.set(view.id, { view, el });
    insertSorted($('history-rows'), el, view, state.history, 'decidedAt');
    while (state.history.size > HISTORY_LIMIT) {
      const oldest = [...state.history.values()].sort((a, b) => newestFirst(a.view, b.view, 'decidedAt')).pop();
      oldest.el.remove();
      state.history.delete(oldest.view.id);
    }
    if (!quiet) announce(`Request ${view.id} ${view.status}${view.reviewer ? ` by ${view.reviewer}` : ''}`);
  }
  refreshCounts();
}

function removePending(id) {
  const entry = state.pending.get(id);
  if (!entry) return;
  const hadFocus = entry.el.contains(document.activeElement);
  const next = entry.el.nextElementSibling ?? entry.el.previousElementSibling;
  entry.el.remove();
  state.pending.delete(id);
  // Keyboard users keep their place: focus moves to the neighbouring request, or the list heading.
  if (hadFocus) (next ?? $('pending-title')).focus();
}

function refreshCounts() {
  const n = state.pending.size;
  $('pending-count').textContent = String(n);
  $('empty').hidden = n > 0;
  $('history-empty').hidden = state.history.size > 0;
  $('history').hidden = state.history.size === 0;
  document.title = n > 0 ? `(${n}) sqlwarden console` : 'sqlwarden console';
  tick();
}

function reset() {
  for (const { el } of state.pending.values()) el.remove();
  for (const { el } of state.history.values()) el.remove();
  state.pending.clear();
  state.history.clear();
}

function announce(text) {
  $('announce').textContent = text;
}

function showTarget() {
  const id = decodeURIComponent(location.hash.slice(1));
  const entry = state.pending.get(id);
  if (!entry) return;
  entry.el.classList.add('target');
  entry.el.scrollIntoView({ block: 'center' });
  entry.el.focus();
}

// ---------- decisions ----------

function decide(id, action, reason, windowValue) {
  const entry = state.pending.get(id);
  if (!entry) return;
  const { form } = entry;
  form.error.textContent = '';
  if (action === 'deny' && !reason) {
    form.error.textContent = 'A denial needs a reason: the client sees it.';
    form.reason.focus();
    return;
  }
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
    form.error.textContent = 'Not connected: the decision was not sent. Try again when the page says Live.';
    return;
  }
  const msg = { type: action, id, ...(reason ? { reason } : {}), ...(action === 'approve' && windowValue ? { for: windowValue } : {}) };
  form.approve.disabled = form.deny.disabled = true;
  entry.el.setAttribute('aria-busy', 'true');
  state.ws.send(JSON.stringify(msg));
}

function onResult(msg) {
  const entry = state.pending.get(msg.id);
  if (msg.ok) {
    if (msg.request) upsert(msg.request);
    return;
  }
  if (!entry) {
    announce(`Request ${msg.id}: ${msg.error}`);
    return;
  }
  entry.form.approve.disabled = entry.form.deny.disabled = false;
  entry.el.removeAttribute('aria-busy');
  entry.form.error.textContent = msg.error;
}

// ---------- connection ----------

function setConnection(text, stateName) {
  const c = $('connection');
  c.textContent = text;
  c.dataset.state = stateName;
}

function connect() {
  clearTimeout(state.reconnectTimer);
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const ws = new WebSocket(url, ['sqlwarden']);
  state.ws = ws;
  setConnection('Connecting…', 'connecting');
  ws.addEventListener('open', () => {
    state.retry = 0;
    setConnection('Live', 'live');
  });
  ws.addEventListener('message', (e) => {
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch {
      return;
    }
    if (msg.type === 'snapshot') {
      state.skew = msg.now - Date.now();
      reset();
      for (const view of msg.requests) upsert(view, { quiet: true });
      refreshCounts();
      showTarget();
    } else if (msg.type === 'request') {
      upsert(msg.request);
    } else if (msg.type === 'result') {
      onResult(msg);
    }
  });
  ws.addEventListener('close', async (e) => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (e.code === 4401) return showLogin('Your session has ended. Log in again.');
    // A refused upgrade looks like any other failure (1006): ask the API whether the session still holds.
    if ((await currentReviewer()) === null) return showLogin('Your session has ended. Log in again.');
    const delay = Math.min(15_000, 1000 * 2 ** state.retry++);
    setConnection(`Disconnected: retrying in ${Math.round(delay / 1000)}s`, 'down');
    state.reconnectTimer = setTimeout(connect, delay);
  });
}

function disconnect() {
  clearTimeout(state.reconnectTimer);
  const ws = state.ws;
  state.ws = null;
  ws?.close(1000, 'logged out');
}

// ---------- login ----------

function showLogin(message = '') {
  disconnect();
  reset();
  state.me = null;
  $('app').hidden = true;
  $('account').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  document.title = 'sqlwarden console';
  $('token').focus();
}

function start(reviewer) {
  state.me = reviewer;
  $('me').textContent = reviewer.name;
  $('login').hidden = true;
  $('account').hidden = false;
  $('app').hidden = false;
  refreshCounts();
  connect();
}

/** The reviewer of this browser's session; null when logged out; undefined when the console cannot be reached. */
async function currentReviewer() {
  try {
    const res = await fetch('/api/session', { cache: 'no-store' });
    return res.ok ? (await res.json()).reviewer : undefined;
  } catch {
    return undefined;
  }
}

async function postJson(path, body) {
  return fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), cache: 'no-store' });
}

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('token'));
  const token = input.value.trim();
  if (!token) {
    $('login-error').textContent = 'Enter your reviewer token.';
    input.focus();
    return;
  }
  $('login-error').textContent = '';
  let res;
  try {
    res = await postJson('/api/login', { token });
  } catch {
    $('login-error').textContent = 'The console cannot be reached.';
    return;
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    $('login-error').textContent = res.status === 401 ? 'That token is not a reviewer’s.' : (body.error ?? `Login failed (${res.status}).`);
    input.select();
    return;
  }
  input.value = '';
  start(body.reviewer);
});

$('logout').addEventListener('click', async () => {
  await postJson('/api/logout', {}).catch(() => null);
  showLogin();
});

window.addEventListener('hashchange', showTarget);
setInterval(tick, 1000);

(async () => {
  const reviewer = await currentReviewer();
  if (reviewer) start(reviewer);
  else showLogin();
})();
