// node `pg` through the proxy against the real PostgreSQL: every protocol feature works as it does direct.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import pgLib from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { pg } from '../helpers/databases.js';
import { encodeCancelRequest } from '../../src/wire/postgres/encode.js';

let proxy: StartedProxy;
beforeAll(async () => {
  proxy = await startProxy();
  const direct = connect(pg.port);
  await direct.connect();
  await direct.query('DROP TABLE IF EXISTS sw_client_t, sw_copy_t');
  await direct.query('CREATE TABLE sw_client_t (id int primary key, note text)');
  await direct.query('CREATE TABLE sw_copy_t (id int, name text, data bytea, at timestamptz)');
  await direct.end();
});
afterAll(async () => {
  const direct = connect(pg.port);
  await direct.connect();
  await direct.query('DROP TABLE IF EXISTS sw_client_t, sw_copy_t');
  await direct.end();
  await proxy?.close();
});

function connect(port = proxy.pg.port, extra: Partial<pgLib.ClientConfig> = {}): pgLib.Client {
  return new pgLib.Client({ host: '127.0.0.1', port, user: pg.user, password: pg.password, database: pg.database, ...extra });
}

async function withClient<T>(fn: (c: pgLib.Client) => Promise<T>, port?: number): Promise<T> {
  const c = connect(port);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('node pg through the proxy', () => {
  it('runs simple queries, several statements in one', async () => {
    await withClient(async (c) => {
      const r = await c.query("select 1::int as one, 'x'::text as t");
      expect(r.rows).toEqual([{ one: 1, t: 'x' }]);
      const multi = (await c.query('select 1 as a; select 2 as b; select 3 as c')) as unknown as pgLib.QueryResult[];
      expect(multi.map((m) => m.rows[0])).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
    });
  });

  it('runs parameterized queries over the extended protocol', async () => {
    await withClient(async (c) => {
      const r = await c.query('select $1::int + $2::int as sum, $3::text as t, $4::text as n', [40, 2, 'héllo ✓', null]);
      expect(r.rows).toEqual([{ sum: 42, t: 'héllo ✓', n: null }]);
    });
  });

  it('reuses a named prepared statement', async () => {
    await withClient(async (c) => {
      for (let i = 0; i < 5; i++) {
        const r = await c.query({ name: 'sw-add-one', text: 'select $1::int + 1 as n', values: [i] });
        expect(r.rows[0].n).toBe(i + 1);
      }
      const prepared = await c.query("select count(*)::int as n from pg_prepared_statements where name = 'sw-add-one'");
      expect(prepared.rows[0].n).toBe(1);
    });
  });

  it('returns binary-format results equal to the direct connection', async () => {
    const q = { text: 'select 42::int4 as i, 7::int8 as b, 1.5::float8 as f, true as ok, $1::text as t', values: ['bin'], binary: true };
    const viaProxy = await withClient((c) => c.query(q));
    const direct = await withClient((c) => c.query(q), pg.port);
    expect(viaProxy.rows).toEqual(direct.rows);
    expect(viaProxy.fields.map((f) => f.format)).toEqual(['binary', 'binary', 'binary', 'binary', 'binary']);
  });

  it('keeps transaction state through an error and ROLLBACK', async () => {
    await withClient(async (c) => {
      await c.query('BEGIN');
      await c.query("INSERT INTO sw_client_t VALUES (1, 'in tx')");
      await expect(c.query('select 1/0')).rejects.toMatchObject({ code: '22012' });
      await expect(c.query('select 1')).rejects.toMatchObject({ code: '25P02' });
      await c.query('ROLLBACK');
      const r = await c.query('select count(*)::int as n from sw_client_t where id = 1');
      expect(r.rows[0].n).toBe(0);
    });
  });

  it('delivers NOTIFY to a LISTENing client', async () => {
    const listener = connect();
    await listener.connect();
    try {
      await listener.query('LISTEN sw_channel');
      const got = new Promise<pgLib.Notification>((resolve) => listener.on('notification', resolve));
      await withClient((c) => c.query("NOTIFY sw_channel, 'payload ✓'"));
      const n = await got;
      expect(n.channel).toBe('sw_channel');
      expect(n.payload).toBe('payload ✓');
    } finally {
      await listener.end();
    }
  });

  it('relays notices', async () => {
    await withClient(async (c) => {
      const notice = new Promise<{ message?: string }>((resolve) => c.on('notice', resolve));
      await c.query("DO $$ BEGIN RAISE NOTICE 'hello from the server'; END $$");
      expect((await notice).message).toBe('hello from the server');
    });
  });

  it('cancels a running pg_sleep(10) within a second (57014)', async () => {
    await withClient(async (c) => {
      const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
      const started = Date.now();
      const sleeping = c.query('select pg_sleep(10)');
      await new Promise((r) => setTimeout(r, 200));
      const key = Buffer.alloc(4);
      key.writeInt32BE(secretKey);
      await new Promise<void>((resolve, reject) => {
        const s = net.connect(proxy.pg.port, '127.0.0.1', () => s.end(encodeCancelRequest(processID, key)));
        s.on('close', () => resolve());
        s.on('error', reject);
      });
      await expect(sleeping).rejects.toMatchObject({ code: '57014' });
      expect(Date.now() - started).toBeLessThan(1500);
      expect((await c.query('select 1 as ok')).rows[0].ok).toBe(1);
    });
  });

  it('copies in with COPY FROM STDIN and out with COPY TO STDOUT byte for byte', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      lines.push(`${i}\tname ${i} ✓ \\t tab\t\\\\x${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}\t2024-01-0${(i % 9) + 1} 10:00:00+00\n`);
    }
    lines.push('20000\t\\N\t\\N\t\\N\n');
    const input = Buffer.from(lines.join(''));
    await withClient(async (c) => {
      await c.query('TRUNCATE sw_copy_t');
      await pipeline(Readable.from([input.subarray(0, 100_000), input.subarray(100_000)]), c.query(copyFrom('COPY sw_copy_t FROM STDIN')));
    });
    const copyOut = async (port: number) =>
      withClient(async (c) => {
        const chunks: Buffer[] = [];
        await pipeline(c.query(copyTo('COPY (SELECT * FROM sw_copy_t ORDER BY id) TO STDOUT')), new Writable({
          write(chunk: Buffer, _enc, cb) {
            chunks.push(chunk);
            cb();
          },
        }));
        return Buffer.concat(chunks);
      }, port);
    const viaProxy = await copyOut(proxy.pg.port);
    const direct = await copyOut(pg.port);
    expect(viaProxy.length).toBe(input.length);
    expect(createHash('sha256').update(viaProxy).digest('hex')).toBe(createHash('sha256').update(input).digest('hex'));
    expect(viaProxy.equals(direct)).toBe(true);
  });
});

describe('closing', () => {
  it("ends the server's session when the client resets its connection", async () => {
    const c = connect();
    c.on('error', () => undefined);
    await c.connect();
    const pid = (await c.query('select pg_backend_pid() as pid')).rows[0].pid as number;
    (c as unknown as { connection: { stream: net.Socket } }).connection.stream.resetAndDestroy();
    const alive = () => withClient((d) => d.query('select count(*)::int as n from pg_stat_activity where pid = $1', [pid]), pg.port);
    for (let i = 0; i < 100 && (await alive()).rows[0].n > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await alive()).rows[0].n).toBe(0);
  });

  it("passes the server's own FATAL to the client when the server ends the session", async () => {
    const c = connect();
    const ended = new Promise<Error & { code?: string }>((resolve) => c.on('error', resolve));
    await c.connect();
    const pid = (await c.query('select pg_backend_pid() as pid')).rows[0].pid as number;
    await withClient((d) => d.query('select pg_terminate_backend($1)', [pid]), pg.port);
    expect((await ended).code).toBe('57P01');
  });
});

describe('upstream failures', () => {
  it('answers 08001 when the database cannot be reached, and keeps serving', async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const deadPort = (dead.address() as net.AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const p = await startProxy({ pg: { upstream: `127.0.0.1:${deadPort}` } });
    try {
      const c = connect(p.pg.port);
      await expect(c.connect()).rejects.toMatchObject({ code: '08001' });
    } finally {
      await p.close();
    }
    expect((await withClient((c) => c.query('select 1 as ok'))).rows[0].ok).toBe(1);
  });

  it('answers 08006 when the connection to the database is lost, other sessions unaffected', async () => {
    // A cuttable relay between the proxy and the server.
    const upstreamSockets = new Set<net.Socket>();
    const relay = net.createServer((inbound) => {
      const out = net.connect(pg.port, pg.host);
      upstreamSockets.add(inbound);
      inbound.pipe(out).pipe(inbound);
      inbound.on('error', () => out.destroy());
      out.on('error', () => inbound.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
    const p = await startProxy({ pg: { upstream: `127.0.0.1:${(relay.address() as net.AddressInfo).port}`, upstreamTls: 'disable' } });
    try {
      const victim = connect(p.pg.port);
      const lost = new Promise<Error & { code?: string }>((resolve) => victim.on('error', resolve));
      await victim.connect();
      const bystander = connect();
      await bystander.connect();
      await victim.query('select 1');
      for (const s of upstreamSockets) s.destroy();
      const err = await lost;
      expect(err.code).toBe('08006');
      expect(err.message).toMatch(/lost the connection to the database server/);
      expect((await bystander.query('select 2 as ok')).rows[0].ok).toBe(2);
      await bystander.end();
    } finally {
      await p.close();
      relay.close();
    }
  });
});
