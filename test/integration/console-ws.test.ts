// The console's live side in front of a real broker (port 0): the WebSocket at /ws (upgrade checks, snapshot
// and events, decisions with the HTTP API's checks, payload limit, keepalive, shutdown) and the page's files.
import http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Broker, type HeldRequest, type RequestView } from '../../src/approval/broker.js';
import { Reviewers, type Requester } from '../../src/approval/identity.js';
import type { Statement } from '../../src/classify/types.js';
import { createConsoleServer, type ConsoleServer } from '../../src/console/server.js';
import { attachConsole } from '../../src/console/attach.js';

const ALICE = 'alice-token-0123456789';
const CAROL = 'carol-token-0123456789';
const carol: Requester = { session: 's1', listener: 'pg', protocol: 'postgres', client: '127.0.0.1:50000', user: 'carol', database: 'app', application: 'psql' };
const drop: Statement = { category: 'ddl', kind: 'drop table', text: 'DROP TABLE t', masked: 'DROP TABLE t', fingerprint: 'fp-drop', objects: ['t'] };

let broker: Broker;
let consoleServer: ConsoleServer;
let base: string;
let wsUrl: string;

async function startConsole(pingIntervalMs = 30_000) {
  const b = new Broker({ timeoutMs: 600_000 });
  const c = createConsoleServer({
    broker: b,
    reviewers: new Reviewers([
      { name: 'alice', token: ALICE, databaseUsers: ['alice'] },
      { name: 'carol', token: CAROL, databaseUsers: ['carol'] },
    ]),
  });
  const at = await c.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${at.port}`;
  attachConsole({ server: c, broker: b, config: { webhooks: [] }, consoleUrl: url, ws: { pingIntervalMs } });
  return { broker: b, console: c, base: url, wsUrl: `ws://127.0.0.1:${at.port}/ws` };
}

beforeAll(async () => {
  ({ broker, console: consoleServer, base, wsUrl } = await startConsole());
});
afterAll(async () => {
  await broker.close();
  await consoleServer.close();
});
beforeEach(async () => {
  await broker.close('test reset');
});

const hold = (sql = 'DROP TABLE t', requester = carol): HeldRequest =>
  broker.create({ requester, sql, statements: [{ ...drop, text: sql }], rule: { index: 0, line: 31, description: 'category: ddl' } });

async function login(token = ALICE, at = base): Promise<string> {
  const res = await fetch(`${at}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  expect(res.status).toBe(200);
  return res.headers.get('set-cookie')!.split(';')[0]!;
}

interface Live {
  ws: WebSocket;
  /** The next message (of `type`, skipping others when given). */
  next(type?: string): Promise<any>;
  closed: Promise<{ code: number; reason: string }>;
}

/** Opens a socket and queues what arrives, so no message is lost between awaits. */
function open(opts: { cookie?: string; origin?: string | null; protocols?: string[]; url?: string; autoPong?: boolean } = {}): Promise<Live> {
  const headers: Record<string, string> = {};
  if (opts.cookie) headers.cookie = opts.cookie;
  const origin = opts.origin === undefined ? base : opts.origin;
  const ws = new WebSocket(opts.url ?? wsUrl, opts.protocols ?? [], { headers, ...(origin !== null ? { origin } : {}), autoPong: opts.autoPong ?? true });
  const queue: any[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    queue.push(JSON.parse(data.toString()));
    waiters.splice(0).forEach((w) => w());
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const next = async (type?: string): Promise<any> => {
    for (;;) {
      const i = queue.findIndex((m) => !type || m.type === type);
      if (i >= 0) return queue.splice(0, i + 1).pop();
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${type ?? ''} message within 5s`)), 5000);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, next, closed }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body: JSON.parse(body) })));
    });
    ws.once('error', (err) => reject(err));
  });
}

const refusal = (p: Promise<unknown>) => p.then(() => ({ status: 101, body: null }), (e) => ({ status: e.status as number, body: e.body as { error: string } }));

describe('WebSocket upgrade', () => {
  it('answers 401 without a session, with an unknown cookie or a wrong bearer subprotocol', async () => {
    expect(await refusal(open())).toEqual({ status: 401, body: { error: 'no session: log in first, or offer the subprotocol sqlwarden.bearer.<token>' } });
    expect((await refusal(open({ cookie: 'sqlwarden_session=not-a-session' }))).status).toBe(401);
    expect(await refusal(open({ protocols: ['sqlwarden', 'sqlwarden.bearer.wrong-token-0123456789'] }))).toEqual({ status: 401, body: { error: "the token is not a reviewer's" } });
  });

  it('refuses an Origin that is not the console with 403, even with a valid session or token', async () => {
    const cookie = await login();
    expect(await refusal(open({ cookie, origin: 'http://evil.example' }))).toEqual({ status: 403, body: { error: 'origin "http://evil.example" is not this console\'s' } });
    expect((await refusal(open({ cookie, origin: 'null' }))).status).toBe(403);
    expect((await refusal(open({ protocols: ['sqlwarden', `sqlwarden.bearer.${ALICE}`], origin: 'http://127.0.0.1:1' }))).status).toBe(403);
    // A cookie comes from a browser, and a browser always says where the page is from.
    expect(await refusal(open({ cookie, origin: null }))).toEqual({ status: 403, body: { error: 'a session cookie needs an Origin header' } });
  });

  it('accepts the session cookie with the console Origin, and a bearer subprotocol without Origin', async () => {
    const cookie = await login();
    const a = await open({ cookie, protocols: ['sqlwarden'] });
    expect(a.ws.protocol).toBe('sqlwarden');
    expect((await a.next('snapshot')).reviewer).toEqual({ name: 'alice', databaseUsers: ['alice'] });
    const b = await open({ origin: null, protocols: ['sqlwarden', `sqlwarden.bearer.${CAROL}`] });
    // The server picks the plain protocol, so the token is not sent back.
    expect(b.ws.protocol).toBe('sqlwarden');
    expect((await b.next('snapshot')).reviewer.name).toBe('carol');
    a.ws.close();
    b.ws.close();
  });

  it('answers 404 on another path', async () => {
    const cookie = await login();
    expect(await refusal(open({ cookie, url: wsUrl.replace('/ws', '/socket') }))).toEqual({ status: 404, body: { error: 'no WebSocket at /socket; use /ws' } });
  });
});

describe('attachConsole', () => {
  it('behind an https public URL: Secure cookie, the public origin accepted; attaching twice is one attachment', async () => {
    const b = new Broker({ timeoutMs: 600_000 });
    const c = createConsoleServer({ broker: b, reviewers: new Reviewers([{ name: 'alice', token: ALICE, databaseUsers: [] }]) });
    const at = await c.listen({ host: '127.0.0.1', port: 0 });
    const own = `http://127.0.0.1:${at.port}`;
    try {
      const first = attachConsole({ server: c, broker: b, config: { webhooks: [], publicUrl: 'https://review.example.com/' }, consoleUrl: 'https://review.example.com' });
      expect(attachConsole({ server: c, broker: b, config: { webhooks: [] }, consoleUrl: own })).toBe(first);
      const res = await fetch(`${own}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: ALICE }) });
      expect(res.headers.get('set-cookie')).toMatch(/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure$/);
      const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
      const url = `ws://127.0.0.1:${at.port}/ws`;
      const live = await open({ url, cookie, origin: 'https://review.example.com' });
      expect((await live.next()).type).toBe('snapshot');
      live.ws.close();
      expect((await refusal(open({ url, cookie, origin: 'https://review.example.com.evil.example' }))).status).toBe(403);
    } finally {
      await b.close();
      await c.close();
    }
  });
});

describe('WebSocket events', () => {
  it('sends a snapshot of pending and decided requests, then every change', async () => {
    const decided = hold('DROP TABLE old');
    await broker.deny(decided.id, { name: 'alice', databaseUsers: [] }, { reason: 'no' });
    const older = hold('DROP TABLE a');
    await new Promise((r) => setTimeout(r, 5));
    const newer = hold('DROP TABLE b');
    const live = await open({ cookie: await login() });
    const snap = await live.next();
    expect(snap.type).toBe('snapshot');
    expect(Math.abs(snap.now - Date.now())).toBeLessThan(5000);
    // Pending newest first, then the history.
    expect(snap.requests.map((v: RequestView) => [v.id, v.status])).toEqual([
      [newer.id, 'pending'],
      [older.id, 'pending'],
      [decided.id, 'denied'],
    ]);
    expect(snap.requests[0]).toMatchObject({ user: 'carol', database: 'app', application: 'psql', client: '127.0.0.1:50000', listener: 'pg', protocol: 'postgres', sql: 'DROP TABLE b', rule: { line: 31 } });

    const h = hold('DROP TABLE c');
    const created = await live.next();
    expect(created).toMatchObject({ type: 'request', request: { id: h.id, status: 'pending', sql: 'DROP TABLE c', statements: [{ category: 'ddl', text: 'DROP TABLE c' }] } });
    const res = await fetch(`${base}/api/requests/${h.id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${ALICE}`, 'content-type': 'application/json' }, body: '{"reason":"fine"}' });
    expect(res.status).toBe(200);
    expect(await live.next()).toMatchObject({ type: 'request', request: { id: h.id, status: 'approved', reviewer: 'alice', reason: 'fine' } });
    older.cancel('client disconnected');
    expect(await live.next()).toMatchObject({ type: 'request', request: { id: older.id, status: 'cancelled', reason: 'client disconnected' } });
    live.ws.close();
  });

  it('approves over the socket with a window, and the broker applies it', async () => {
    const live = await open({ cookie: await login() });
    await live.next('snapshot');
    const h = hold();
    await live.next('request');
    live.ws.send(JSON.stringify({ type: 'approve', id: h.id, reason: 'planned', for: '15m' }));
    expect(await live.next('request')).toMatchObject({ request: { id: h.id, status: 'approved', reviewer: 'alice', reason: 'planned' } });
    const result = await live.next('result');
    expect(result).toMatchObject({ type: 'result', id: h.id, action: 'approve', ok: true, request: { status: 'approved' } });
    expect(result.request.windowUntil).not.toBeNull();
    expect(await h.verdict).toMatchObject({ status: 'approved', reviewer: 'alice', reason: 'planned', window: { requestId: h.id } });
    live.ws.close();
  });

  it('gives decisions over the socket the same checks as the API: self-approval, reason, pending, unknown', async () => {
    const asCarol = await open({ cookie: await login(CAROL) });
    await asCarol.next('snapshot');
    const h = hold();
    asCarol.ws.send(JSON.stringify({ type: 'approve', id: h.id }));
    expect(await asCarol.next('result')).toEqual({ type: 'result', id: h.id, action: 'approve', ok: false, status: 403, error: 'carol may not decide requests of database user carol' });
    asCarol.ws.send(JSON.stringify({ type: 'deny', id: h.id, reason: 'mine' }));
    expect((await asCarol.next('result')).status).toBe(403);
    expect(broker.get(h.id)?.status).toBe('pending');

    const asAlice = await open({ cookie: await login() });
    await asAlice.next('snapshot');
    asAlice.ws.send(JSON.stringify({ type: 'deny', id: h.id }));
    expect(await asAlice.next('result')).toMatchObject({ ok: false, status: 400, error: 'reason: a denial needs a reason (the client sees it)' });
    asAlice.ws.send(JSON.stringify({ type: 'deny', id: h.id, reason: 'not now' }));
    expect(await asAlice.next('result')).toMatchObject({ ok: true, request: { status: 'denied', reason: 'not now' } });
    expect(await h.verdict).toEqual({ status: 'denied', reviewer: 'alice', reason: 'not now' });
    asAlice.ws.send(JSON.stringify({ type: 'approve', id: h.id }));
    expect(await asAlice.next('result')).toMatchObject({ ok: false, status: 409, error: `request ${h.id} is no longer pending: denied` });
    asAlice.ws.send(JSON.stringify({ type: 'approve', id: 'r_zzzzzzzzzz' }));
    expect(await asAlice.next('result')).toMatchObject({ ok: false, status: 404, error: 'no request r_zzzzzzzzzz' });
    asAlice.ws.send(JSON.stringify({ type: 'approve', id: 'r_zzzzzzzzzz', for: 'a while' }));
    expect((await asAlice.next('result')).status).toBe(404);
    asAlice.ws.send(JSON.stringify({ type: 'drop', id: h.id }));
    expect(await asAlice.next('result')).toMatchObject({ ok: false, status: 400, error: 'type: expected approve or deny, got "drop"' });
    asAlice.ws.send(JSON.stringify({ type: 'approve', id: h.id, until: 'later' }));
    expect((await asAlice.next('result')).error).toBe('until: unknown key; expected id, reason or for');
    asAlice.ws.send('{not json');
    expect((await asAlice.next('error')).error).toMatch(/^expected a JSON message: /);
    asCarol.ws.close();
    asAlice.ws.close();
  });

  it('closes a socket that sends an oversize message (1009); another socket keeps receiving', async () => {
    const cookie = await login();
    const big = await open({ cookie });
    const other = await open({ cookie });
    await big.next('snapshot');
    await other.next('snapshot');
    big.ws.send(JSON.stringify({ type: 'deny', id: 'r_aaaaaaaaaa', reason: 'x'.repeat(5000) }));
    expect((await big.closed).code).toBe(1009);
    const h = hold();
    expect(await other.next('request')).toMatchObject({ request: { id: h.id, status: 'pending' } });
    other.ws.send(JSON.stringify({ type: 'approve', id: h.id, reason: 'r'.repeat(3000) }));
    expect(await other.next('result')).toMatchObject({ ok: true });
    other.ws.close();
  });

  it('closes the sockets of a session that logs out (4401), and the cookie stops working', async () => {
    const cookie = await login();
    const live = await open({ cookie });
    await live.next('snapshot');
    const out = await fetch(`${base}/api/logout`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' } });
    expect(out.status).toBe(200);
    expect(await live.closed).toEqual({ code: 4401, reason: 'session ended' });
    expect((await refusal(open({ cookie }))).status).toBe(401);
  });
});

describe('WebSocket keepalive and shutdown', () => {
  it('drops a client that does not answer pings, keeps one that does', async () => {
    const own = await startConsole(100);
    try {
      const cookie = await login(ALICE, own.base);
      const silent = await open({ url: own.wsUrl, origin: own.base, cookie, autoPong: false });
      const answering = await open({ url: own.wsUrl, origin: own.base, cookie });
      const t0 = Date.now();
      expect((await silent.closed).code).toBe(1006);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(answering.ws.readyState).toBe(WebSocket.OPEN);
      answering.ws.close();
    } finally {
      await own.broker.close();
      await own.console.close();
    }
  });

  it('closes every socket when the console closes (1001)', async () => {
    const own = await startConsole();
    const cookie = await login(ALICE, own.base);
    const a = await open({ url: own.wsUrl, origin: own.base, cookie });
    const b = await open({ url: own.wsUrl, origin: own.base, cookie });
    await own.broker.close();
    await own.console.close();
    expect(await a.closed).toEqual({ code: 1001, reason: 'the console is shutting down' });
    expect((await b.closed).code).toBe(1001);
  });
});

describe('console page', () => {
  it('serves the page and its files with their content types and strict headers', async () => {
    for (const [path, type] of [
      ['/', 'text/html; charset=utf-8'],
      ['/app.js', 'text/javascript; charset=utf-8'],
      ['/app.css', 'text/css; charset=utf-8'],
      ['/favicon.svg', 'image/svg+xml'],
    ]) {
      const res = await fetch(base + path);
      expect([path, res.status, res.headers.get('content-type')]).toEqual([path, 200, type]);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("connect-src 'self' ws: wss:");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe');
    }
    const html = await (await fetch(base + '/')).text();
    expect(html).toContain('<script type="module" src="/app.js"></script>');
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('serves nothing outside its folder', async () => {
    // Raw request targets: fetch() would normalise the dots away before they reach the server.
    const raw = (path: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.get(`${base}/`, { path }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, text }));
        });
        req.on('error', reject);
      });
    for (const path of ['/../package.json', '/../../package.json', '/%2e%2e/package.json', '/..%2fpackage.json', '/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/public/app.js', '/index.html', '/index.html/', '/server.ts', '/static.ts', '//etc/passwd']) {
      const r = await raw(path);
      expect([path, r.status]).toEqual([path, 404]);
      expect(r.text).not.toContain('sqlwarden');
    }
  });

  it('page script writes request data as text only', async () => {
    const js = await (await fetch(base + '/app.js')).text();
    expect(js).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});
