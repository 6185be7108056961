// /metrics: the Prometheus text a scrape gets, after real statements through the proxy (held, approved,
// denied), and the registry's format (labels, escaping, cumulative histogram buckets).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pgLib from 'pg';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { pg } from '../helpers/databases.js';
import { attachConsole } from '../../src/console/attach.js';
import { Counter, Gauge, Histogram, Metrics, Registry } from '../../src/console/metrics.js';
import type { RequestView } from '../../src/approval/broker.js';

const alice = { name: 'alice', token: 'alice-token-0123456789', databaseUsers: ['alice'] };

/** `name{labels} value` lines of a scrape, by series. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('/metrics after statements through the proxy', () => {
  let proxy: StartedProxy;
  let direct: pgLib.Client;

  beforeAll(async () => {
    proxy = await startProxy({ policy: true, extra: { console: { listen: '127.0.0.1:0', reviewers: [alice] } } });
    // app.ts attaches the console itself once wired; attaching again returns that same attachment.
    attachConsole({ server: proxy.app.console, broker: proxy.app.broker, config: proxy.app.config.console, consoleUrl: proxy.app.consoleUrl });
    direct = new pgLib.Client({ ...pg, host: '127.0.0.1' });
    await direct.connect();
    await direct.query('DROP TABLE IF EXISTS sw_m_a, sw_m_b; CREATE TABLE sw_m_a (id int); CREATE TABLE sw_m_b (id int)');
  });
  afterAll(async () => {
    await direct.query('DROP TABLE IF EXISTS sw_m_a, sw_m_b');
    await direct.end();
    await proxy?.close();
  });

  const scrape = async () => {
    const res = await fetch(`${proxy.app.consoleUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    return { text, values: samples(text) };
  };

  async function pending(marker: string): Promise<RequestView> {
    for (let i = 0; i < 200; i++) {
      const found = proxy.app.broker.list('pending').find((r) => r.sql.includes(marker));
      if (found) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no pending request for ${marker}`);
  }

  const decide = (id: string, action: 'approve' | 'deny', reason: string) =>
    fetch(`${proxy.app.consoleUrl}/api/requests/${id}/${action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason }),
    });

  it('counts holds, decisions by outcome, decision latency and pending requests', async () => {
    const before = (await scrape()).values;
    expect(before.get('sqlwarden_requests_held_total')).toBe(0);
    expect(before.get('sqlwarden_requests_decided_total{outcome="approved"}')).toBe(0);
    expect(before.get('sqlwarden_requests_pending')).toBe(0);

    const c = new pgLib.Client({ host: '127.0.0.1', port: proxy.pg.port, user: pg.user, database: pg.database });
    c.on('error', () => undefined);
    await c.connect();
    expect((await c.query('select 1 as one')).rows[0].one).toBe(1);
    const dropA = c.query('DROP TABLE sw_m_a');
    const a = await pending('sw_m_a');
    expect((await scrape()).values.get('sqlwarden_requests_pending')).toBe(1);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await decide(a.id, 'approve', 'ok')).status).toBe(200);
    await dropA;
    const dropB = c.query('DROP TABLE sw_m_b').catch((e: Error & { code?: string }) => e.code);
    const b = await pending('sw_m_b');
    expect((await decide(b.id, 'deny', 'no')).status).toBe(200);
    expect(await dropB).toBe('42501');
    await c.end();

    const { text, values } = await scrape();
    expect(values.get('sqlwarden_requests_held_total')).toBe(2);
    expect(values.get('sqlwarden_requests_decided_total{outcome="approved"}')).toBe(1);
    expect(values.get('sqlwarden_requests_decided_total{outcome="denied"}')).toBe(1);
    expect(values.get('sqlwarden_requests_decided_total{outcome="expired"}')).toBe(0);
    expect(values.get('sqlwarden_requests_pending')).toBe(0);
    expect(values.get('sqlwarden_decision_latency_seconds_count')).toBe(2);
    expect(values.get('sqlwarden_decision_latency_seconds_sum')).toBeGreaterThan(1);
    // The approval waited over a second, so it is above the 1 s bucket; the quick denial is in it.
    expect(values.get('sqlwarden_decision_latency_seconds_bucket{le="1"}')).toBe(1);
    expect(values.get('sqlwarden_decision_latency_seconds_bucket{le="5"}')).toBe(2);
    expect(values.get('sqlwarden_decision_latency_seconds_bucket{le="+Inf"}')).toBe(2);
    expect(text).toContain('# TYPE sqlwarden_requests_held_total counter\n');
    expect(text).toContain('# TYPE sqlwarden_decision_latency_seconds histogram\n');
    expect(text).toContain('# TYPE sqlwarden_requests_pending gauge\n');
    for (const name of ['sqlwarden_sessions', 'sqlwarden_bytes_total', 'sqlwarden_masked_cells_total']) expect(text).toContain(`# HELP ${name} `);
  });

  it('needs no login', async () => {
    expect((await fetch(`${proxy.app.consoleUrl}/metrics`, { headers: {} })).status).toBe(200);
  });
});

describe('Metrics for the sessions and masking', () => {
  it('tracks sessions per listener, bytes per direction and masked cells per rule', () => {
    const m = new Metrics();
    m.sessionOpened('pg');
    m.sessionOpened('pg');
    m.sessionOpened('my');
    m.sessionClosed('pg');
    m.bytes('pg', 'client_to_server', 100);
    const down = m.bytesCounter('pg', 'server_to_client');
    down.inc(4096);
    down.inc(4);
    m.maskedCells('email', 3);
    m.maskedCells('email', 2);
    m.maskedCells('ssn', 0);
    const v = samples(m.render());
    expect(v.get('sqlwarden_sessions{listener="pg"}')).toBe(1);
    expect(v.get('sqlwarden_sessions{listener="my"}')).toBe(1);
    expect(v.get('sqlwarden_bytes_total{listener="pg",direction="client_to_server"}')).toBe(100);
    expect(v.get('sqlwarden_bytes_total{listener="pg",direction="server_to_client"}')).toBe(4100);
    expect(v.get('sqlwarden_masked_cells_total{rule="email"}')).toBe(5);
    expect(v.has('sqlwarden_masked_cells_total{rule="ssn"}')).toBe(false);
  });
});

describe('metrics registry', () => {
  it('writes the text format: help, type, escaped labels, cumulative buckets, sum and count', () => {
    const r = new Registry();
    const c = r.register(new Counter('x_total', 'Things.', ['name']));
    c.labels('a"b\\c\nd').inc(2);
    const g = r.register(new Gauge('y', 'Level.'));
    g.set(-1.5);
    const h = r.register(new Histogram('z_seconds', 'Waits.', [0.5, 1, 10]));
    for (const x of [0.1, 0.5, 0.7, 20]) h.observe(x);
    expect(r.render()).toBe(
      [
        '# HELP x_total Things.',
        '# TYPE x_total counter',
        'x_total{name="a\\"b\\\\c\\nd"} 2',
        '# HELP y Level.',
        '# TYPE y gauge',
        'y -1.5',
        '# HELP z_seconds Waits.',
        '# TYPE z_seconds histogram',
        'z_seconds_bucket{le="0.5"} 2',
        'z_seconds_bucket{le="1"} 3',
        'z_seconds_bucket{le="10"} 3',
        'z_seconds_bucket{le="+Inf"} 4',
        'z_seconds_sum 21.3',
        'z_seconds_count 4',
        '',
      ].join('\n'),
    );
  });

  it('refuses a duplicate name, a wrong label count and a counter going down', () => {
    const r = new Registry();
    r.register(new Counter('a_total', 'A.'));
    expect(() => r.register(new Gauge('a_total', 'A.'))).toThrow('metric a_total is registered twice');
    expect(() => new Counter('b_total', 'B.', ['x']).labels()).toThrow('b_total: expected labels x, got 0 values');
    expect(() => new Counter('c_total', 'C.').inc(-1)).toThrow('a counter only goes up');
    expect(() => new Histogram('h', 'H.', [1, 1])).toThrow('h: buckets must increase');
  });
});
