// The console's HTTP JSON API in front of a real broker (port 0), and the CLI commands that drive it.
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Broker, type HeldRequest, type RequestView } from '../../src/approval/broker.js';
import { Reviewers, type Requester } from '../../src/approval/identity.js';
import type { Statement } from '../../src/classify/types.js';
import { packageRulesDir } from '../../src/config.js';
import { createConsoleServer, type ConsoleServer } from '../../src/console/server.js';
import { runCommand } from '../../src/cli/commands.js';
import { attachConsole } from '../../src/console/attach.js';
import WebSocket from 'ws';

const ALICE = 'alice-token-0123456789';
const CAROL = 'carol-token-0123456789';
const carol: Requester = { session: 's1', listener: 'pg', protocol: 'postgres', client: '127.0.0.1:50000', user: 'carol', database: 'app', application: 'psql' };
const drop: Statement = { category: 'ddl', kind: 'drop table', text: 'DROP TABLE t', masked: 'DROP TABLE t', fingerprint: 'fp-drop', objects: ['t'] };

let broker: Broker;
let consoleServer: ConsoleServer;
let base: string;

beforeAll(async () => {
  broker = new Broker({ timeoutMs: 600_000 });
  consoleServer = createConsoleServer({
    broker,
    reviewers: new Reviewers([
      { name: 'alice', token: ALICE, databaseUsers: ['alice'] },
      { name: 'carol', token: CAROL, databaseUsers: ['carol'] },
    ]),
  });
  const at = await consoleServer.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${at.port}`;
});
afterAll(async () => {
  await broker.close();
  await consoleServer.close();
});

const hold = (sql = 'DROP TABLE t'): HeldRequest => broker.create({ requester: carol, sql, statements: [{ ...drop, text: sql }], rule: { index: 0, line: 31, description: 'category: ddl' } });

async function api(method: string, url: string, opts: { token?: string | null; body?: string | object; type?: string | null } = {}) {
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? ALICE : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined && opts.type !== null) headers['content-type'] = opts.type ?? 'application/json';
  const res = await fetch(base + url, { method, headers, body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : undefined };
}

describe('wrong tokens', () => {
  it('refuses an address with 429 and Retry-After after repeated wrong tokens, on login, Bearer and the WebSocket subprotocol', async () => {
    const guarded = createConsoleServer({
      broker,
      reviewers: new Reviewers([{ name: 'alice', token: ALICE, databaseUsers: ['alice'] }]),
      loginGuard: { limit: 3, blockMs: 60_000 },
    });
    const at = await guarded.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${at.port}`;
    try {
      const login = (token: string) => fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
      expect((await login('wrong-token-0000000001')).status).toBe(401);
      expect((await fetch(`${url}/api/requests`, { headers: { authorization: 'Bearer wrong-token-0000000002' } })).status).toBe(401);
      expect((await login('wrong-token-0000000003')).status).toBe(401);
      // Blocked now: even the right token is refused from this address, without being checked.
      const refused = await login(ALICE);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(50);
      expect(((await refused.json()) as { error: string }).error).toMatch(/too many wrong tokens/);
      expect((await fetch(`${url}/api/requests`, { headers: { authorization: `Bearer ${ALICE}` } })).status).toBe(429);
      expect((await fetch(`${url}/healthz`)).status).toBe(200); // no token, no guard
      attachConsole({ server: guarded, broker, config: { webhooks: [] }, consoleUrl: url });
      const upgrade = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${at.port}/ws`, [`sqlwarden.bearer.${ALICE}`]);
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => reject(new Error('the upgrade was accepted')));
        ws.once('error', reject);
      });
      expect(upgrade).toBe(429);
    } finally {
      await guarded.close();
    }
  });
});

describe('HTTP API', () => {
  beforeEach(async () => {
    await broker.close('test reset');
  });

  it('answers /healthz without a token', async () => {
    const r = await api('GET', '/healthz', { token: null });
    expect([r.status, r.text]).toEqual([200, 'ok']);
  });

  it('lists pending requests in the Console contract shape', async () => {
    const h = hold();
    const r = await api('GET', '/api/requests?status=pending');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(r.json).toHaveLength(1);
    const v = r.json[0] as RequestView;
    expect(v).toMatchObject({ id: h.id, status: 'pending', listener: 'pg', protocol: 'postgres', user: 'carol', database: 'app', application: 'psql', client: '127.0.0.1:50000', sql: 'DROP TABLE t', statements: [{ category: 'ddl', text: 'DROP TABLE t' }], rule: { index: 0, line: 31, description: 'category: ddl' }, reviewer: null, reason: null, decidedAt: null });
    expect(Date.parse(v.createdAt)).toBeGreaterThan(0);
    expect((await api('GET', '/api/requests')).json).toHaveLength(1);
  });

  it('approves with a reason and a window, then shows it in history only', async () => {
    const h = hold();
    const r = await api('POST', `/api/requests/${h.id}/approve`, { body: { reason: 'planned migration', for: '15m' } });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id: h.id, status: 'approved', reviewer: 'alice', reason: 'planned migration' });
    expect(await h.verdict).toMatchObject({ status: 'approved', reviewer: 'alice', reason: 'planned migration', window: { requestId: h.id } });
    expect(broker.coveredByWindow(['fp-drop'], carol)).toBeTruthy();
    expect((await api('GET', '/api/requests?status=pending')).json).toEqual([]);
    expect((await api('GET', '/api/requests?status=all')).json.map((v: RequestView) => [v.id, v.status])).toContainEqual([h.id, 'approved']);
    expect((await api('GET', `/api/requests/${h.id}`)).json).toMatchObject({ status: 'approved' });
  });

  it('approves with an empty body', async () => {
    const h = hold();
    expect((await api('POST', `/api/requests/${h.id}/approve`, { body: '' })).status).toBe(200);
    expect(await h.verdict).toEqual({ status: 'approved', reviewer: 'alice' });
  });

  it('denies with a reason', async () => {
    const h = hold();
    const r = await api('POST', `/api/requests/${h.id}/deny`, { body: { reason: 'not during business hours' } });
    expect(r.status).toBe(200);
    expect(await h.verdict).toEqual({ status: 'denied', reviewer: 'alice', reason: 'not during business hours' });
  });

  it('answers 401 without a token or with a wrong one', async () => {
    const h = hold();
    for (const [token, error] of [
      [null, 'missing Authorization: Bearer <token>'],
      ['wrong-token-0123456789', "the token is not a reviewer's"],
    ] as const) {
      const r = await api('POST', `/api/requests/${h.id}/approve`, { token, body: {} });
      expect([r.status, r.json, r.headers.get('www-authenticate')]).toEqual([401, { error }, 'Bearer']);
      expect((await api('GET', '/api/requests', { token })).status).toBe(401);
    }
    const basic = await fetch(`${base}/api/requests`, { headers: { authorization: `Basic ${ALICE}` } });
    expect(basic.status).toBe(401);
    expect(broker.get(h.id)?.status).toBe('pending');
  });

  it('answers 403 to self-approval and self-denial', async () => {
    const h = hold();
    const r = await api('POST', `/api/requests/${h.id}/approve`, { token: CAROL, body: {} });
    expect([r.status, r.json]).toEqual([403, { error: 'carol may not decide requests of database user carol' }]);
    expect((await api('POST', `/api/requests/${h.id}/deny`, { token: CAROL, body: { reason: 'x' } })).status).toBe(403);
    expect(broker.get(h.id)?.status).toBe('pending');
  });

  it('answers 404 for an unknown request or route, 405 for a wrong method', async () => {
    const r = await api('POST', '/api/requests/r_zzzzzzzzzz/approve', { body: {} });
    expect([r.status, r.json]).toEqual([404, { error: 'no request r_zzzzzzzzzz' }]);
    expect((await api('GET', '/api/requests/r_zzzzzzzzzz')).status).toBe(404);
    const route = await api('GET', '/api/nothing');
    expect([route.status, route.json]).toEqual([404, { error: 'no such route: GET /api/nothing' }]);
    const method = await api('DELETE', '/api/requests');
    expect([method.status, method.json, method.headers.get('allow')]).toEqual([405, { error: 'DELETE is not allowed on /api/requests; use GET' }, 'GET']);
  });

  it('answers 409 when the request is no longer pending', async () => {
    const h = hold();
    await api('POST', `/api/requests/${h.id}/deny`, { body: { reason: 'no' } });
    const r = await api('POST', `/api/requests/${h.id}/approve`, { body: {} });
    expect([r.status, r.json]).toEqual([409, { error: `request ${h.id} is no longer pending: denied` }]);
    const cancelled = hold();
    cancelled.cancel('client disconnected');
    expect((await api('POST', `/api/requests/${cancelled.id}/deny`, { body: { reason: 'x' } })).status).toBe(409);
  });

  it('answers 400 to bad bodies and queries, naming the problem', async () => {
    const h = hold();
    const cases: [string, string | object, string][] = [
      ['deny', {}, 'reason: a denial needs a reason (the client sees it)'],
      ['deny', { reason: 42 }, 'reason: expected a string, got 42'],
      ['approve', { reason: 'ok', until: 'later' }, 'until: unknown key; expected reason or for'],
      ['approve', { for: 'a while' }, 'for: expected a duration like 15m or 2h, got "a while"'],
      ['approve', '[1]', 'body: expected a JSON object'],
    ];
    for (const [action, body, error] of cases) {
      const r = await api('POST', `/api/requests/${h.id}/${action}`, { body });
      expect([r.status, r.json]).toEqual([400, { error }]);
    }
    const broken = await api('POST', `/api/requests/${h.id}/approve`, { body: '{"reason":' });
    expect(broken.status).toBe(400);
    expect(broken.json.error).toMatch(/^body is not valid JSON: /);
    const q = await api('GET', '/api/requests?status=done');
    expect([q.status, q.json]).toEqual([400, { error: 'status: expected pending or all, got "done"' }]);
    expect(broker.get(h.id)?.status).toBe('pending');
  });

  it('refuses a body that is not JSON (415) or too large (413)', async () => {
    const h = hold();
    const form = await api('POST', `/api/requests/${h.id}/approve`, { body: 'reason=ok', type: 'application/x-www-form-urlencoded' });
    expect([form.status, form.json]).toEqual([415, { error: 'expected Content-Type: application/json, got "application/x-www-form-urlencoded"' }]);
    expect((await api('POST', `/api/requests/${h.id}/approve`, { body: '', type: null })).status).toBe(415);
    const big = await api('POST', `/api/requests/${h.id}/deny`, { body: { reason: 'x'.repeat(20_000) } });
    expect([big.status, big.json]).toEqual([413, { error: 'request body over 16384 bytes' }]);
    expect(broker.get(h.id)?.status).toBe('pending');
  });

  it('lets another part add a route with authentication', async () => {
    consoleServer.route('GET', '/api/whoami', ({ res, reviewer }) => {
      res.end(reviewer!.name);
    }, { auth: true });
    expect((await api('GET', '/api/whoami')).text).toBe('alice');
    expect((await api('GET', '/api/whoami', { token: null })).status).toBe(401);
  });
});

describe('browser login', () => {
  beforeEach(async () => {
    await broker.close('test reset');
  });

  const login = (body: string | object, type?: string | null) => api('POST', '/api/login', { token: null, body, type });

  it('sets an HttpOnly, SameSite=Strict session cookie that the API accepts instead of a token', async () => {
    const r = await login({ token: CAROL });
    expect([r.status, r.json]).toEqual([200, { reviewer: { name: 'carol', databaseUsers: ['carol'] } }]);
    const setCookie = r.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^sqlwarden_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const cookie = setCookie.split(';')[0]!;
    const h = hold();
    const list = await fetch(`${base}/api/requests`, { headers: { cookie } });
    expect([list.status, ((await list.json()) as RequestView[]).map((v) => v.id)]).toEqual([200, [h.id]]);
    expect(await (await fetch(`${base}/api/session`, { headers: { cookie } })).json()).toEqual({ reviewer: { name: 'carol', databaseUsers: ['carol'] } });
    // The cookie is carol: the same self-approval check as her token.
    const self = await fetch(`${base}/api/requests/${h.id}/approve`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' });
    expect(self.status).toBe(403);
    // A POST with the cookie still needs the JSON content type: a cross-site form cannot send it.
    const form = await fetch(`${base}/api/requests/${h.id}/deny`, { method: 'POST', headers: { cookie, 'content-type': 'text/plain' }, body: '{"reason":"x"}' });
    expect(form.status).toBe(415);
    expect(broker.get(h.id)?.status).toBe('pending');
  });

  it('refuses a wrong token (401), a missing one (400) and a form post (415)', async () => {
    const wrong = await login({ token: 'wrong-token-0123456789' });
    expect([wrong.status, wrong.json, wrong.headers.get('set-cookie')]).toEqual([401, { error: "the token is not a reviewer's" }, null]);
    expect([(await login({})).status, (await login({})).json]).toEqual([400, { error: 'token: expected the reviewer token' }]);
    expect((await login({ token: ALICE, name: 'alice' })).status).toBe(400);
    expect((await login(`token=${ALICE}`, 'application/x-www-form-urlencoded')).status).toBe(415);
  });

  it('logout ends the session: the cookie then gets 401', async () => {
    const cookie = (await login({ token: ALICE })).headers.get('set-cookie')!.split(';')[0]!;
    expect((await fetch(`${base}/api/requests`, { headers: { cookie } })).status).toBe(200);
    const out = await fetch(`${base}/api/logout`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' } });
    expect([out.status, await out.json()]).toEqual([200, { ok: true }]);
    expect(out.headers.get('set-cookie')).toBe('sqlwarden_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0');
    const after = await fetch(`${base}/api/requests`, { headers: { cookie } });
    expect([after.status, await after.json()]).toEqual([401, { error: 'the session has ended: log in again' }]);
    expect(await (await fetch(`${base}/api/session`, { headers: { cookie } })).json()).toEqual({ reviewer: null });
    expect(await (await fetch(`${base}/api/session`, { headers: { authorization: `Bearer ${ALICE}` } })).json()).toEqual({ reviewer: { name: 'alice', databaseUsers: ['alice'] } });
  });

  it('ends a session after its lifetime, and the oldest beyond the session cap', async () => {
    const short = createConsoleServer({ broker, reviewers: new Reviewers([{ name: 'alice', token: ALICE, databaseUsers: [] }]), sessions: { ttlMs: 300, max: 2 } });
    const at = await short.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${at.port}`;
    try {
      const loginTo = async () => {
        const r = await fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: ALICE }) });
        expect(r.headers.get('set-cookie')).toMatch(/; Max-Age=1$/);
        return r.headers.get('set-cookie')!.split(';')[0]!;
      };
      const status = async (cookie: string) => (await fetch(`${url}/api/requests`, { headers: { cookie } })).status;
      const [a, b, c] = [await loginTo(), await loginTo(), await loginTo()];
      expect([await status(a), await status(b), await status(c)]).toEqual([401, 200, 200]);
      await new Promise((r) => setTimeout(r, 350));
      expect([await status(b), await status(c)]).toEqual([401, 401]);
      expect(short.sessions.size).toBe(0);
    } finally {
      await short.close();
    }
  });

  it('a Bearer header wins over a cookie, so a wrong token is not rescued by one', async () => {
    const cookie = (await login({ token: ALICE })).headers.get('set-cookie')!.split(';')[0]!;
    const r = await fetch(`${base}/api/requests`, { headers: { cookie, authorization: 'Bearer wrong-token-0123456789' } });
    expect(r.status).toBe(401);
  });
});

/** Runs the CLI as main.ts will, capturing what it prints. */
async function cli(argv: string[], env: NodeJS.ProcessEnv = { SQLWARDEN_CONSOLE: base, SQLWARDEN_TOKEN: ALICE }) {
  let stdout = '';
  let stderr = '';
  const code = await runCommand(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env });
  return { code, stdout, stderr };
}

describe('CLI against the console', () => {
  beforeEach(async () => {
    await broker.close('test reset');
  });

  it('requests prints a table of pending requests', async () => {
    expect(await cli(['requests'])).toEqual({ code: 0, stdout: 'no pending requests\n', stderr: '' });
    const h = hold('DROP TABLE\n   customers');
    const r = await cli(['requests']);
    expect(r.code).toBe(0);
    const [header, row, more] = r.stdout.split('\n');
    expect(header).toMatch(/^ID\s+STATUS\s+AGE\s+USER@DATABASE\s+FROM\s+CATEGORY\s+REVIEWER\s+SQL$/);
    expect(row).toMatch(new RegExp(`^${h.id}\\s+pending\\s+\\d+s\\s+carol@app\\s+pg 127\\.0\\.0\\.1:50000\\s+ddl\\s+-\\s+DROP TABLE customers$`));
    expect(more).toBe('');
  });

  it('approve prints the decision, and requests --status all shows it', async () => {
    const h = hold();
    const r = await cli(['approve', h.id, '--reason', 'reviewed', '--for', '10m']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${h.id} approved by alice: reviewed \\(same statements of carol@app approved until \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\)\\n$`));
    expect((await h.verdict).status).toBe('approved');
    const all = await cli(['requests', '--status', 'all']);
    expect(all.stdout).toMatch(new RegExp(`${h.id}\\s+approved\\s.*\\salice\\s+DROP TABLE t`));
  });

  it('deny prints the decision', async () => {
    const h = hold();
    const r = await cli(['deny', h.id, '--reason', 'use the migration tool']);
    expect(r).toEqual({ code: 0, stdout: `${h.id} denied by alice: use the migration tool\n`, stderr: '' });
    expect(await h.verdict).toEqual({ status: 'denied', reviewer: 'alice', reason: 'use the migration tool' });
  });

  it('takes --console and --token over the environment', async () => {
    const h = hold();
    const r = await cli(['approve', h.id, '--console', base, '--token', ALICE], {});
    expect(r.code).toBe(0);
  });

  it('exits 1 with the server\'s message on 403, 404, 409 and 401', async () => {
    const h = hold();
    expect(await cli(['approve', h.id], { SQLWARDEN_CONSOLE: base, SQLWARDEN_TOKEN: CAROL })).toEqual({
      code: 1,
      stdout: '',
      stderr: 'sqlwarden approve: console answered 403: carol may not decide requests of database user carol\n',
    });
    expect((await cli(['deny', 'r_zzzzzzzzzz', '--reason', 'x'])).stderr).toBe('sqlwarden deny: console answered 404: no request r_zzzzzzzzzz\n');
    await cli(['deny', h.id, '--reason', 'no']);
    const again = await cli(['approve', h.id]);
    expect([again.code, again.stderr]).toEqual([1, `sqlwarden approve: console answered 409: request ${h.id} is no longer pending: denied\n`]);
    const bad = await cli(['requests', '--token', 'wrong-token-0123456789']);
    expect([bad.code, bad.stderr]).toEqual([1, "sqlwarden requests: console answered 401: the token is not a reviewer's\n"]);
  });

  it('exits 1 when the console cannot be reached', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const r = await cli(['requests'], { SQLWARDEN_CONSOLE: `http://127.0.0.1:${port}`, SQLWARDEN_TOKEN: ALICE });
    expect([r.code, r.stderr]).toEqual([1, `sqlwarden requests: cannot reach the console at http://127.0.0.1:${port}: ECONNREFUSED\n`]);
  });

  it('exits 2 on wrong usage', async () => {
    expect(await cli(['deny', 'r_aaaaaaaaaa'])).toMatchObject({ code: 2, stderr: 'sqlwarden deny: deny needs --reason R: the client sees it\n' });
    expect(await cli(['approve'])).toMatchObject({ code: 2, stderr: 'sqlwarden approve: expected a request id: sqlwarden approve ID [--reason R] [--for DURATION]\n' });
    expect(await cli(['requests', '--status', 'done'])).toMatchObject({ code: 2, stderr: 'sqlwarden requests: --status: expected pending or all, got "done"\n' });
    expect(await cli(['requests'], { SQLWARDEN_CONSOLE: base })).toMatchObject({ code: 2, stderr: 'sqlwarden requests: no reviewer token: pass --token T or set SQLWARDEN_TOKEN\n' });
    expect((await cli(['approve', 'r_aaaaaaaaaa', '--bogus'])).code).toBe(2);
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^sqlwarden: unknown command "frobnicate"\n {2}requests/);
  });
});

describe('CLI classify and rules check', () => {
  it('prints ddl and the holding rule for a MySQL executable comment', async () => {
    const r = await cli(['classify', '--dialect', 'mysql', '/*!50000 DROP TABLE t */'], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ddl\tdrop table\trules\[0\] \(line \d+: schema changes, exports, privileges and anything unrecognised\) -> hold\t/);
  });

  it('prints every statement of a PostgreSQL query and the strictest action', async () => {
    const r = await cli(['classify', '--dialect', 'postgres', '--rules', packageRulesDir, 'SELECT 1; COPY t TO STDOUT'], {});
    expect(r.stdout.split('\n')).toEqual([
      'read\tselect\tdefault -> allow\tSELECT 1',
      expect.stringMatching(/^export\tcopy to\trules\[0\] \(line \d+: .*\) -> hold\tCOPY t TO STDOUT$/),
      expect.stringMatching(/^query\trules\[0\] .* -> hold$/),
      '',
    ]);
  });

  it('applies identity options to the rules', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sqlwarden-rules-'));
    writeFileSync(path.join(dir, 'policy.yaml'), 'rules:\n  - when: { user: migrator, client: 10.0.0.0/8 }\n    action: allow\n  - when: { category: ddl }\n    action: deny\n');
    copyFileSync(path.join(packageRulesDir, 'masking.yaml'), path.join(dir, 'masking.yaml'));
    const run = (...extra: string[]) => cli(['classify', '--dialect', 'postgres', '--rules', dir, ...extra, 'DROP TABLE t'], {});
    expect((await run('--user', 'migrator', '--client', '10.1.1.1:5000')).stdout).toMatch(/\trules\[0\] \(line 2: user: migrator, client: 10\.0\.0\.0\/8\) -> allow\t/);
    expect((await run('--user', 'migrator', '--client', '192.168.1.1:5000')).stdout).toMatch(/\trules\[1\] \(line 4: category: ddl\) -> deny\t/);
  });

  it('exits 2 without a dialect', async () => {
    expect(await cli(['classify', 'SELECT 1'], {})).toMatchObject({ code: 2, stderr: 'sqlwarden classify: --dialect: expected postgres or mysql, got nothing\n' });
  });

  it('rules check passes the shipped rules and names the line of a broken one', async () => {
    const ok = await cli(['rules', 'check', packageRulesDir], {});
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/policy\.yaml: ok, 1 rule, default allow\n.*masking\.yaml: ok, \d+ column rules, \d+ detectors, 0 exemptions\n$/);
    const dir = mkdtempSync(path.join(tmpdir(), 'sqlwarden-rules-'));
    writeFileSync(path.join(dir, 'policy.yaml'), 'rules:\n  - when: { category: ddl }\n    action: hold\n  - when: { categroy: ddl }\n    action: hold\n');
    writeFileSync(path.join(dir, 'masking.yaml'), 'columns:\n  - match: { column: ssn }\n    mask: scramble\n');
    const bad = await cli(['rules', 'check', dir], {});
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`${dir}/policy.yaml:4: rules[1].when.categroy: unknown key\n${dir}/masking.yaml:3: columns[0].mask: expected redact, partial, email, hash, null or fixed, got "scramble"\n`);
    expect((await cli(['rules', 'lint'], {})).code).toBe(2);
  });
});
