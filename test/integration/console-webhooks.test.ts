// Webhooks against a loopback receiver: signed JSON posts for created and decided requests, a Slack-style
// text, SQL literals masked, retries with back-off on failures, bounded attempts, never blocking a decision.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pgLib from 'pg';
import { Broker, type RequestView } from '../../src/approval/broker.js';
import type { Requester } from '../../src/approval/identity.js';
import type { Statement } from '../../src/classify/types.js';
import { Webhooks, eventText } from '../../src/console/webhooks.js';
import { attachConsole } from '../../src/console/attach.js';
import { Metrics } from '../../src/console/metrics.js';
import { startProxy } from '../helpers/proxy.js';
import { pg } from '../helpers/databases.js';

const SECRET = 'hook-secret-0123456789';
const alice = { name: 'alice', databaseUsers: ['alice'] };
const carol: Requester = { session: 's1', listener: 'pg', protocol: 'postgres', client: '10.0.0.5:51234', user: 'carol', database: 'app', application: 'psql' };
const drop: Statement = { category: 'ddl', kind: 'drop table', text: 'DROP TABLE users', masked: 'DROP TABLE users', fingerprint: 'fp', objects: ['users'] };

interface Received {
  at: number;
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: any;
}

/** A receiver whose answers the test scripts: a status per post (then 200), or 'hang'. */
class Receiver {
  readonly posts: Received[] = [];
  answers: (number | 'hang')[] = [];
  private waiters: (() => void)[] = [];
  private readonly server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c));
    req.on('end', () => {
      this.posts.push({ at: Date.now(), headers: req.headers, raw, body: JSON.parse(raw) });
      this.waiters.splice(0).forEach((w) => w());
      const answer = this.answers.shift() ?? 200;
      if (answer === 'hang') return;
      res.writeHead(answer, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  url = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
    return this;
  }

  async waitFor(n: number, ms = 5000): Promise<Received[]> {
    const until = Date.now() + ms;
    while (this.posts.length < n) {
      if (Date.now() > until) throw new Error(`expected ${n} posts, got ${this.posts.length}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.posts;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const verify = (p: Received, secret = SECRET) => {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(p.raw).digest('hex')}`);
  const got = Buffer.from(String(p.headers['x-sqlwarden-signature']));
  return got.length === expected.length && timingSafeEqual(got, expected);
};

let receiver: Receiver;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  receiver = await new Receiver().start();
});
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  receiver.posts.length = 0;
  receiver.answers = [];
});
afterAll(async () => {
  await receiver.stop();
});

function setup(opts: { retry?: ConstructorParameters<typeof Webhooks>[0]['retry']; url?: string; metrics?: Metrics } = {}) {
  const broker = new Broker({ timeoutMs: 600_000 });
  const hooks = new Webhooks({ hooks: [{ url: opts.url ?? receiver.url, secret: SECRET }], consoleUrl: 'http://console.example:8080', retry: { baseDelayMs: 50, timeoutMs: 1000, ...opts.retry }, ...(opts.metrics ? { metrics: opts.metrics } : {}) });
  const stop = hooks.watchBroker(broker);
  cleanups.push(async () => {
    stop();
    await hooks.close(0);
    await broker.close();
  });
  const hold = (sql = 'DROP TABLE users', requester = carol) => broker.create({ requester, sql, statements: [{ ...drop, text: sql }], rule: { index: 0, line: 3, description: 'category: ddl' } });
  return { broker, hooks, hold };
}

describe('webhook posts', () => {
  it('posts signed JSON for a created and a decided request, in order, with a Slack text', async () => {
    const { broker, hooks, hold } = setup();
    const h = hold();
    await broker.approve(h.id, alice, { reason: 'planned' });
    await hooks.idle();
    const [created, approved] = await receiver.waitFor(2);
    for (const p of [created!, approved!]) {
      expect(verify(p)).toBe(true);
      expect(verify(p, 'another-secret')).toBe(false);
      expect(p.headers['content-type']).toBe('application/json');
      expect(p.headers['x-sqlwarden-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(created!.headers['x-sqlwarden-event']).toBe('request.created');
    expect(created!.body).toMatchObject({
      event: 'request.created',
      text: `DROP TABLE users held for approval: ${h.id} by carol@app from 10.0.0.5 — http://console.example:8080/#${h.id}`,
      console: `http://console.example:8080/#${h.id}`,
      request: { id: h.id, status: 'pending', user: 'carol', database: 'app', client: '10.0.0.5:51234', sql: 'DROP TABLE users', rule: { line: 3 } },
    });
    expect(Date.parse(created!.body.sentAt)).toBeGreaterThan(0);
    expect(approved!.body).toMatchObject({
      event: 'request.approved',
      text: `DROP TABLE users approved by alice: planned (${h.id}, carol@app) — http://console.example:8080/#${h.id}`,
      request: { id: h.id, status: 'approved', reviewer: 'alice', reason: 'planned' },
    });
  });

  it('says denied, expired and cancelled; escapes Slack markup; masks literals in the SQL', async () => {
    const { broker, hooks, hold } = setup();
    const denied = hold("DROP TABLE <b>&x</b>");
    await broker.deny(denied.id, alice, { reason: 'use <the> tool' });
    const cancelled = hold("INSERT INTO t VALUES ('jane.doe@example.com')");
    cancelled.cancel('client disconnected');
    await hooks.idle();
    const posts = await receiver.waitFor(4);
    expect(posts.map((p) => p.body.event)).toEqual(['request.created', 'request.denied', 'request.created', 'request.cancelled']);
    expect(posts[1]!.body.text).toBe(`DROP TABLE &lt;b&gt;&amp;x&lt;/b&gt; denied by alice: use &lt;the&gt; tool (${denied.id}, carol@app) — http://console.example:8080/#${denied.id}`);
    expect(posts[3]!.body.text).toMatch(/^INSERT INTO t VALUES \('\*\*\*\*'\) cancelled: client disconnected/);
    for (const p of posts.slice(2)) expect(p.raw).not.toContain('jane.doe@example.com');
    const expired: RequestView = { ...posts[0]!.body.request, status: 'expired' };
    expect(eventText(expired, 'http://c/')).toBe(`DROP TABLE &lt;b&gt;&amp;x&lt;/b&gt; expired without a decision (${denied.id}, carol@app) — http://c/#${denied.id}`);
  });

  it('retries a failing receiver with growing back-off, then delivers', async () => {
    const metrics = new Metrics();
    const { hooks, hold } = setup({ metrics, retry: { baseDelayMs: 100 } });
    receiver.answers = [500, 503];
    hold();
    await hooks.idle();
    const posts = await receiver.waitFor(3);
    expect(posts).toHaveLength(3);
    // The same event each time, signed each time.
    expect(new Set(posts.map((p) => p.headers['x-sqlwarden-delivery'])).size).toBe(1);
    expect(posts.every((p) => verify(p))).toBe(true);
    const gap1 = posts[1]!.at - posts[0]!.at;
    const gap2 = posts[2]!.at - posts[1]!.at;
    // Waits of [base/2, base] then [base, 2*base]: jittered, but the second is never shorter than the first's floor.
    expect(gap1).toBeGreaterThanOrEqual(45);
    expect(gap2).toBeGreaterThanOrEqual(95);
    expect(metrics.render()).toContain('sqlwarden_webhook_deliveries_total{outcome="delivered"} 1');
  });

  it('gives up after the configured attempts, and does not retry a 4xx refusal', async () => {
    const metrics = new Metrics();
    const { hooks, hold } = setup({ metrics, retry: { attempts: 3, baseDelayMs: 10 } });
    receiver.answers = [500, 500, 500, 500, 500];
    hold();
    await hooks.idle();
    expect(receiver.posts).toHaveLength(3);
    receiver.posts.length = 0;
    receiver.answers = [404];
    hold();
    await hooks.idle();
    expect(receiver.posts).toHaveLength(1);
    expect(metrics.render()).toContain('sqlwarden_webhook_deliveries_total{outcome="failed"} 2');
  });

  it('retries a receiver that does not answer in time, and a refused connection', async () => {
    const { hooks, hold } = setup({ retry: { timeoutMs: 200, baseDelayMs: 10 } });
    receiver.answers = ['hang'];
    hold();
    await hooks.idle();
    expect(receiver.posts).toHaveLength(2);

    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const metrics = new Metrics();
    const down = setup({ url: `http://127.0.0.1:${port}/hook`, metrics, retry: { attempts: 2, baseDelayMs: 10 } });
    const t0 = Date.now();
    down.hold();
    await down.hooks.idle();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(metrics.render()).toContain('sqlwarden_webhook_deliveries_total{outcome="failed"} 1');
  });

  it('never blocks a decision: the broker answers while the receiver hangs', async () => {
    const { broker, hooks, hold } = setup({ retry: { timeoutMs: 5000 } });
    receiver.answers = ['hang', 'hang'];
    const h = hold();
    const t0 = Date.now();
    await broker.approve(h.id, alice, {});
    expect(await h.verdict).toMatchObject({ status: 'approved' });
    expect(Date.now() - t0).toBeLessThan(100);
    await receiver.waitFor(1);
    // Closing gives up on the hanging post at once (no grace).
    const t1 = Date.now();
    await hooks.close(0);
    expect(Date.now() - t1).toBeLessThan(1000);
  });
});

describe('webhooks from config through the proxy', () => {
  it('posts a signed event when a DROP TABLE through the proxy is held, and when it is denied', async () => {
    const proxy = await startProxy({
      policy: true,
      extra: { console: { listen: '127.0.0.1:0', reviewers: [{ name: 'alice', token: 'alice-token-0123456789' }], webhooks: [{ url: receiver.url, secret: SECRET }] } },
    });
    const attached = attachConsole({ server: proxy.app.console, broker: proxy.app.broker, config: proxy.app.config.console, consoleUrl: proxy.app.consoleUrl });
    const c = new pgLib.Client({ host: '127.0.0.1', port: proxy.pg.port, user: pg.user, database: pg.database, application_name: 'hooks-test' });
    c.on('error', () => undefined);
    try {
      await c.connect();
      const dropping = c.query('DROP TABLE sw_hook_never').catch((e: Error & { code?: string }) => e.code);
      const [created] = await receiver.waitFor(1);
      expect(verify(created!)).toBe(true);
      expect(created!.body.event).toBe('request.created');
      expect(created!.body.text).toBe(`DROP TABLE sw_hook_never held for approval: ${created!.body.request.id} by ${pg.user}@${pg.database} from 127.0.0.1 — ${proxy.app.consoleUrl}/#${created!.body.request.id}`);
      await proxy.app.broker.deny(created!.body.request.id, { name: 'alice', databaseUsers: [] }, { reason: 'no' });
      expect(await dropping).toBe('42501');
      await attached.webhooks.idle();
      expect((await receiver.waitFor(2))[1]!.body).toMatchObject({ event: 'request.denied', request: { reviewer: 'alice', reason: 'no', application: 'hooks-test' } });
    } finally {
      await c.end();
      await proxy.close();
    }
  });
});
