// The PostgreSQL session's side of a hold, with a scripted gate: the NOTICE, nothing sent before the verdict,
// the original bytes on approval, refusals that fail exactly like a server error (aborted transaction,
// extended batch skipped to Sync and rolled back), CancelRequest and disconnect ending the hold.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import pgLib from 'pg';
import { serialize } from 'pg-protocol';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { pg } from '../helpers/databases.js';
import { ProxyError } from '../../src/errors.js';
import { encodeCancelRequest } from '../../src/wire/postgres/encode.js';
import { PgFramer } from '../../src/wire/postgres/frames.js';
import { decodeFields, decodeReadyForQuery } from '../../src/wire/postgres/decode.js';
import type { Gate, Hold, StatementRequest, Verdict } from '../../src/session/hooks.js';

interface PendingHold {
  req: StatementRequest;
  decide(v: Verdict): void;
  cancelledFor?: string;
}

/** Holds statements mentioning hold_me (executions, not their Parse), refuses refuse_me, allows the rest. */
class ScriptedGate implements Gate {
  seen: StatementRequest[] = [];
  holds: PendingHold[] = [];
  private nextId = 1;
  check(req: StatementRequest): Verdict | Hold {
    this.seen.push(req);
    if (req.sql.includes('refuse_me')) return { action: 'deny', error: new ProxyError('denied', undefined, 'sqlwarden: denied by test: refuse_me (request r_test)') };
    if (!req.sql.includes('hold_me') || req.via === 'parse') return { action: 'allow' };
    let decide!: (v: Verdict) => void;
    const verdict = new Promise<Verdict>((r) => (decide = r));
    const pending: PendingHold = { req, decide };
    this.holds.push(pending);
    const requestId = `r_${this.nextId++}`;
    return {
      action: 'hold',
      requestId,
      notice: `sqlwarden: held for approval (request ${requestId})`,
      verdict,
      cancel: (reason) => {
        pending.cancelledFor = reason;
        decide({ action: 'deny', error: new ProxyError('cancelled', undefined, `sqlwarden: cancelled (${reason}) (request ${requestId})`) });
      },
    };
  }
  async nextHold(): Promise<PendingHold> {
    while (this.holds.length === 0) await new Promise((r) => setTimeout(r, 10));
    return this.holds.shift()!;
  }
}

let gate: ScriptedGate;
let proxy: StartedProxy;
let direct: pgLib.Client;

beforeAll(async () => {
  gate = new ScriptedGate();
  proxy = await startProxy({}, { gate });
  direct = new pgLib.Client({ ...pg, host: '127.0.0.1' });
  await direct.connect();
  await direct.query('DROP TABLE IF EXISTS sw_hold_t; CREATE TABLE sw_hold_t (id int)');
});
afterAll(async () => {
  await direct.query('DROP TABLE IF EXISTS sw_hold_t');
  await direct.end();
  await proxy?.close();
});
beforeEach(async () => {
  gate.holds = [];
  await direct.query('TRUNCATE sw_hold_t');
});

async function client(): Promise<pgLib.Client & { notices: string[] }> {
  const c = new pgLib.Client({ host: '127.0.0.1', port: proxy.pg.port, user: pg.user, database: pg.database }) as pgLib.Client & { notices: string[] };
  c.notices = [];
  c.on('notice', (n) => c.notices.push(n.message ?? ''));
  await c.connect();
  return c;
}

async function serverSees(text: string): Promise<number> {
  const r = await direct.query('select count(*)::int as n from pg_stat_activity where query like $1 and pid <> pg_backend_pid()', [`%${text}%`]);
  return r.rows[0].n;
}

describe('a held simple query', () => {
  it('tells the client, sends nothing upstream until approved, then runs the original statement', async () => {
    const c = await client();
    const result = c.query("insert into sw_hold_t select 1 where 'hold_me' <> ''");
    const hold = await gate.nextHold();
    await new Promise((r) => setTimeout(r, 50));
    expect(c.notices).toHaveLength(1);
    expect(c.notices[0]).toMatch(/^sqlwarden: held for approval \(request r_\d+\)$/);
    expect(await serverSees('hold_me')).toBe(0);
    expect((await direct.query('select count(*)::int as n from sw_hold_t')).rows[0].n).toBe(0);
    hold.decide({ action: 'allow' });
    expect((await result).rowCount).toBe(1);
    expect((await direct.query('select count(*)::int as n from sw_hold_t')).rows[0].n).toBe(1);
    await c.end();
  });

  it('refuses with the verdict error, and an open transaction becomes aborted as after any error', async () => {
    const c = await client();
    await c.query('BEGIN');
    await c.query('insert into sw_hold_t values (1)');
    const held = c.query("select 'hold_me'");
    (await gate.nextHold()).decide({ action: 'deny', error: new ProxyError('denied', undefined, 'sqlwarden: denied by alice: not now (request r_9)') });
    await expect(held).rejects.toMatchObject({ code: '42501', message: 'sqlwarden: denied by alice: not now (request r_9)' });
    await expect(c.query('select 1')).rejects.toMatchObject({ code: '25P02' });
    await c.query('ROLLBACK');
    expect((await c.query('select count(*)::int as n from sw_hold_t')).rows[0].n).toBe(0);
    await c.end();
  });

  it('refuses at once without a transaction and the session goes on', async () => {
    const c = await client();
    await expect(c.query("select 'refuse_me'")).rejects.toMatchObject({ code: '42501' });
    expect((await c.query('select 2 as n')).rows[0].n).toBe(2);
    await c.end();
  });

  it('ends the hold on a CancelRequest: 57014, and the session goes on', async () => {
    const c = await client();
    const held = c.query("select 'hold_me'");
    const hold = await gate.nextHold();
    const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
    const key = Buffer.alloc(4);
    key.writeInt32BE(secretKey);
    const s = net.connect(proxy.pg.port, '127.0.0.1', () => s.end(encodeCancelRequest(processID, key)));
    await expect(held).rejects.toMatchObject({ code: '57014' });
    expect(hold.cancelledFor).toBe('client-cancel');
    expect((await c.query('select 3 as n')).rows[0].n).toBe(3);
    await c.end();
  });

  it('ends the hold when the client disconnects', async () => {
    const c = await client();
    c.on('error', () => undefined);
    c.query("select 'hold_me'").catch(() => undefined);
    const hold = await gate.nextHold();
    (c as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(hold.cancelledFor).toBe('disconnect');
  });
});

describe('a held extended-protocol batch', () => {
  /** Sends raw frontend messages after a login, and collects the answers up to the n-th ReadyForQuery. */
  async function rawSession() {
    const socket = net.connect({ host: '127.0.0.1', port: proxy.pg.port });
    const got: { type: string; fields?: Map<string, string>; status?: string }[] = [];
    let ready = 0;
    const framer = new PgFramer(
      {
        onFrame: (type, buf, s, e) => {
          const t = String.fromCharCode(type);
          if (t === 'E' || t === 'N') got.push({ type: t, fields: decodeFields(buf, s, e) });
          else if (t === 'Z') {
            ready++;
            got.push({ type: t, status: decodeReadyForQuery(buf, s, e).status });
          } else got.push({ type: t });
          return true;
        },
        onPass: () => undefined,
      },
      { typed: true, maxMessageBytes: 1 << 24, inspect: Array.from({ length: 128 }, (_, i) => i) },
    );
    socket.on('data', (d: Buffer) => framer.push(d));
    await new Promise((r) => socket.once('connect', r));
    const until = async (n: number) => {
      while (ready < n) await new Promise((r) => setTimeout(r, 10));
    };
    socket.write(serialize.startup({ user: pg.user, database: pg.database }));
    await until(1);
    got.length = 0;
    return { socket, got, until };
  }

  const batch = (second: string) =>
    Buffer.concat([
      serialize.parse({ text: 'insert into sw_hold_t values (7)' }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.parse({ text: second }),
      serialize.bind({}),
      serialize.describe({ type: 'P' }),
      serialize.execute({}),
      serialize.sync(),
    ]);

  it('holds the whole pipeline up to Sync, then runs it in order once approved', async () => {
    const { socket, got, until } = await rawSession();
    socket.write(batch("select 'hold_me' as v"));
    const hold = await gate.nextHold();
    expect(hold.req.via).toBe('execute');
    // The pipeline is held as a unit: not even the INSERT before the held statement reached the server.
    await new Promise((r) => setTimeout(r, 50));
    expect(await serverSees('values (7)')).toBe(0);
    hold.decide({ action: 'allow' });
    await until(2);
    // Notice; ParseComplete, BindComplete, INSERT; ParseComplete, BindComplete, RowDescription, DataRow, SELECT; Ready.
    expect(got.map((m) => m.type).join('')).toBe('N12C12TDCZ');
    expect((await direct.query('select count(*)::int as n from sw_hold_t')).rows[0].n).toBe(1);
    socket.destroy();
  });

  it('fails the batch like a server error when refused: our error, skipped to Sync, implicit transaction rolled back', async () => {
    const { socket, got, until } = await rawSession();
    socket.write(batch("select 'hold_me' as v"));
    (await gate.nextHold()).decide({ action: 'deny', error: new ProxyError('denied', undefined, 'sqlwarden: denied by bob: no (request r_2)') });
    await until(2);
    // The held statement's Parse, Bind and Describe went ahead (they run nothing); its Execute failed.
    expect(got.map((m) => m.type).join('')).toBe('N12C12TEZ');
    const error = got.find((m) => m.type === 'E')!.fields!;
    expect(error.get('C')).toBe('42501');
    expect(error.get('M')).toBe('sqlwarden: denied by bob: no (request r_2)');
    expect(got.at(-1)!.status).toBe('I');
    expect((await direct.query('select count(*)::int as n from sw_hold_t')).rows[0].n).toBe(0);
    // The session goes on.
    socket.write(Buffer.concat([serialize.query('select 1'), serialize.sync()]));
    await until(4);
    expect(got.slice(-2).map((m) => m.status)).toEqual(['I', 'I']);
    socket.destroy();
  });

  it("reports the client's own earlier error, not ours, when the server failed first", async () => {
    const { socket, got, until } = await rawSession();
    // Refused at its Parse already: the error comes where the server would have reported it.
    socket.write(batch("select 'refuse_me' as v"));
    await until(2);
    expect(got.map((m) => m.type).join('')).toBe('12CEZ');
    expect(got.find((m) => m.type === 'E')!.fields!.get('C')).toBe('42501');
    got.length = 0;
    const badFirst = Buffer.concat([
      serialize.parse({ text: 'select * from sw_no_such_table' }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.parse({ text: "select 'refuse_me'" }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.sync(),
    ]);
    socket.write(badFirst);
    await until(3);
    expect(got.filter((m) => m.type === 'E').map((m) => m.fields!.get('C'))).toEqual(['42P01']);
    socket.destroy();
  });
});
