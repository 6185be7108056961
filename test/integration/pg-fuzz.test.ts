// Fuzzes a running proxy in front of the real PostgreSQL: thousands of raw connections send random bytes,
// mutated startup packets, and garbage after a real authentication, while a healthy node `pg` session keeps
// querying through the same listener. The proxy must not crash, must close every garbage connection (with a
// FATAL 08P01 where the bytes are its to refuse), must leak no session, and the healthy session must answer
// correctly throughout. FUZZ_SEED=<n> replays a run; failures name their seed and case.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { createHash } from 'node:crypto';
import pgLib from 'pg';
import { serialize } from 'pg-protocol';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { createLogger } from '../../src/log.js';
import { pg } from '../helpers/databases.js';
import { frame, frontend } from '../helpers/pg-buffers.js';
import { PgFramer } from '../../src/wire/postgres/frames.js';
import { WireError } from '../../src/wire/bytes.js';
import * as dec from '../../src/wire/postgres/decode.js';
import { Back, Front, StartupCode, maxStartupPacket } from '../../src/wire/postgres/messages.js';

const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const application = 'sqlwarden-fuzz';
const defaultMaxMessageBytes = 256 * 1024 * 1024;

/** mulberry32: small, seeded, good enough to pick cases. */
class Rng {
  constructor(private s: number) {}
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }
}

// ---- what the proxy must do with a byte stream (PostgreSQL "Message Flow: Start-up"; the session's rules) ----

/**
 * refuse: the proxy itself must answer FATAL 08P01 and close, without the client closing first.
 * close: it must close without a word (CancelRequest). relay: the bytes reach the server, which decides.
 * incomplete: the proxy waits for more; the client's FIN ends it.
 */
type Expectation = 'refuse' | 'close' | 'relay' | 'incomplete';

/** What the session decodes of each inspected client message (src/session/postgres.ts, clientHandler). */
const clientInspected = [Front.Query, Front.Parse, Front.Bind, Front.Execute, Front.Close, Front.Sync, Front.FunctionCall, Front.Terminate];
const sessionDecoders: Partial<Record<number, (b: Buffer, s: number, e: number) => unknown>> = {
  [Front.Query]: dec.decodeQuery,
  [Front.Parse]: dec.decodeParse,
  [Front.Bind]: dec.decodeBindNames,
  [Front.Execute]: dec.decodeExecute,
  [Front.Close]: dec.decodeTarget,
};

function predictTyped(bytes: Buffer, maxMessageBytes: number): Expectation {
  const framer = new PgFramer(
    {
      onFrame: (type, buf, start, end) => {
        sessionDecoders[type]?.(buf, start, end);
        return true;
      },
      onPass: () => undefined,
    },
    { typed: true, maxMessageBytes, inspect: clientInspected },
  );
  try {
    framer.push(bytes);
  } catch (err) {
    if (err instanceof WireError) return 'refuse';
    throw err;
  }
  return framer.atBoundary ? 'relay' : 'incomplete';
}

/**
 * Before authentication: SSLRequest/GSSENCRequest get 'N' (no TLS configured) and the next packet is read;
 * a second request of the same kind is refused, as the server does.
 */
function predictStartup(bytes: Buffer): { expect: Expectation; refusals: number; startupEnd?: number } {
  let pos = 0;
  let refusals = 0;
  const seen = new Set<string>();
  for (;;) {
    if (bytes.length - pos < 4) return { expect: 'incomplete', refusals };
    const len = bytes.readInt32BE(pos);
    if (len < 8 || len > maxStartupPacket) return { expect: 'refuse', refusals };
    if (bytes.length - pos < len) return { expect: 'incomplete', refusals };
    let p: dec.StartupPacket;
    try {
      p = dec.decodeStartupPacket(bytes, pos, pos + len);
    } catch (err) {
      if (err instanceof WireError) return { expect: 'refuse', refusals };
      throw err;
    }
    pos += len;
    if (p.kind === 'ssl' || p.kind === 'gssenc') {
      if (seen.has(p.kind)) return { expect: 'refuse', refusals };
      seen.add(p.kind);
      refusals++;
      continue;
    }
    if (p.kind === 'cancel') return { expect: 'close', refusals };
    if (p.major !== 3) return { expect: 'refuse', refusals };
    return { expect: 'relay', refusals, startupEnd: pos };
  }
}

// ---- a raw client that reads what the proxy answers ----

interface Received {
  type: number;
  fields?: Map<string, string>;
}

class RawClient {
  readonly socket: net.Socket;
  readonly messages: Received[] = [];
  /** Every byte received, in order. */
  readonly raw: Buffer[] = [];
  /** Bytes of the 'N' answers to SSLRequest/GSSENCRequest still expected before typed messages. */
  private untyped: number;
  readonly problems: string[] = [];
  readonly closed: Promise<void>;
  isClosed = false;
  private waiters: (() => void)[] = [];
  private readonly framer: PgFramer;

  constructor(port: number, sslRefusals = 0) {
    this.untyped = sslRefusals;
    this.framer = new PgFramer(
      {
        onFrame: (type, buf, start, end) => {
          const m: Received = { type };
          if (type === Back.ErrorResponse || type === Back.NoticeResponse) m.fields = dec.decodeFields(buf, start, end);
          this.messages.push(m);
          this.wake();
          return true;
        },
        onPass: () => undefined,
      },
      { typed: true, maxMessageBytes: 1 << 30, inspect: Array.from({ length: 256 }, (_, i) => i) },
    );
    this.socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', () => undefined); // a reset is one way of being closed
    this.closed = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
  }

  private onData(chunk: Buffer): void {
    this.raw.push(chunk);
    let pos = 0;
    while (this.untyped > 0 && pos < chunk.length) {
      if (chunk[pos] !== 0x4e) this.problems.push(`expected 'N' for SSLRequest, got byte ${chunk[pos]}`);
      this.untyped--;
      pos++;
    }
    try {
      this.framer.push(chunk.subarray(pos));
    } catch (err) {
      this.problems.push(`malformed bytes from the proxy: ${(err as Error).message}`);
      this.socket.destroy();
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
  }

  /** Waits until `done()` holds or the socket closes; false on timeout. */
  async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done() && !this.isClosed) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return done();
  }

  closedWithin(ms: number): Promise<boolean> {
    return this.until(() => this.isClosed, ms);
  }
}

function startupPacket(): Buffer {
  return frontend.startup({ user: pg.user, database: pg.database, application_name: application });
}

/** Connects, authenticates (trust), and waits for the first ReadyForQuery. */
async function authenticated(port: number): Promise<RawClient> {
  const c = new RawClient(port);
  await c.connected();
  c.socket.write(startupPacket());
  const ready = await c.until(() => c.messages.some((m) => m.type === Back.ReadyForQuery), 10_000);
  if (!ready) throw new Error(`no ReadyForQuery after startup: ${c.messages.map((m) => String.fromCharCode(m.type)).join('')}`);
  return c;
}

// ---- cases ----

interface Case {
  name: string;
  /** Sent after authentication when set, else from the first byte. */
  afterAuth: boolean;
  bytes: Buffer;
}

const startupCodes = [StartupCode.protocol3, StartupCode.protocol3 + 2, 2 << 16, StartupCode.sslRequest, StartupCode.gssencRequest, StartupCode.cancelRequest, 1234 << 16];

function preStartupCase(rng: Rng): Case {
  switch (rng.int(0, 3)) {
    case 0:
      return { name: 'random bytes', afterAuth: false, bytes: rng.bytes(rng.int(1, 256)) };
    case 1: {
      // A plausible length and code, then random bytes: reaches the startup decoder.
      const len = rng.int(8, 300);
      const b = Buffer.concat([Buffer.alloc(8), rng.bytes(rng.chance(0.8) ? len - 8 : rng.int(0, 300))]);
      b.writeInt32BE(len, 0);
      b.writeInt32BE(rng.chance(0.8) ? rng.pick(startupCodes) : rng.int(0, 0x7fffffff), 4);
      return { name: 'framed random startup packet', afterAuth: false, bytes: b };
    }
    case 2: {
      const reqs = Array.from({ length: rng.int(1, 3) }, () => (rng.chance(0.5) ? frontend.sslRequest() : frontend.gssencRequest()));
      return { name: 'SSLRequest/GSSENCRequest then random bytes', afterAuth: false, bytes: Buffer.concat([...reqs, rng.bytes(rng.int(1, 64))]) };
    }
    default: {
      const b = Buffer.alloc(rng.int(4, 12));
      b.writeInt32BE(rng.pick([0, 4, 7, -1, -0x80000000, maxStartupPacket + 1, 0x7fffffff, rng.int(-100, 100)]), 0);
      return { name: 'startup packet with a bad length', afterAuth: false, bytes: b };
    }
  }
}

function mutatedStartupCase(rng: Rng): Case {
  let b = Buffer.from(rng.chance(0.5) ? startupPacket() : serialize.startup({ user: pg.user, database: pg.database, application_name: application }));
  const edits: string[] = [];
  for (let i = 0, n = rng.int(1, 3); i < n; i++) {
    const at = rng.int(0, b.length - 1);
    switch (rng.int(0, 4)) {
      case 0:
        b[at] = rng.int(0, 255);
        edits.push(`byte ${at}`);
        break;
      case 1:
        b = b.subarray(0, at);
        edits.push(`cut at ${at}`);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), rng.bytes(rng.int(1, 16)), b.subarray(at)]);
        edits.push(`insert at ${at}`);
        break;
      case 3:
        if (b.length >= 4) b.writeInt32BE(b.readInt32BE(0) + rng.int(-12, 12), 0);
        edits.push('length');
        break;
      default:
        b = Buffer.concat([b, rng.bytes(rng.int(1, 32))]);
        edits.push('append');
    }
  }
  return { name: `mutated startup packet (${edits.join(', ')})`, afterAuth: false, bytes: b };
}

const inspectedTypes = ['Q', 'P', 'B', 'E', 'C'];

function validFrame(rng: Rng): Buffer {
  return rng.pick([
    () => serialize.query('select 1'),
    () => serialize.parse({ text: 'select $1::int', types: [23] }),
    () => serialize.bind({ values: [String(rng.int(0, 1000))] }),
    () => serialize.describe({ type: 'P' }),
    () => serialize.execute(),
    () => serialize.sync(),
    () => serialize.flush(),
  ])();
}

function afterAuthCase(rng: Rng): Case {
  const prefix = Array.from({ length: rng.int(0, 2) }, () => validFrame(rng));
  let bad: Buffer;
  let name: string;
  switch (rng.int(0, 5)) {
    case 0:
      name = 'bad length';
      bad = frame(rng.int(0, 255), rng.bytes(rng.int(0, 8)), rng.pick([-0x80000000, -1, 0, 1, 2, 3]));
      break;
    case 1:
      name = 'length over maxMessageBytes';
      bad = frame(rng.chance(0.5) ? rng.pick(inspectedTypes) : rng.int(0, 255), rng.bytes(rng.int(0, 8)), rng.int(defaultMaxMessageBytes, 0x7fffffff));
      break;
    case 2:
      name = 'inspected type, garbage body';
      bad = frame(rng.pick(inspectedTypes), rng.bytes(rng.int(0, 64)));
      break;
    case 3:
      name = 'any type, random body';
      bad = frame(rng.int(0, 255), rng.bytes(rng.int(0, 64)));
      break;
    case 4: {
      name = 'truncated body';
      const whole = rng.pick([serialize.query('select 1'), serialize.parse({ text: 'select $1', types: [25] }), serialize.bind({ values: ['x'] })]);
      bad = whole.subarray(0, rng.int(1, whole.length - 1));
      break;
    }
    default:
      name = 'random bytes';
      bad = rng.bytes(rng.int(1, 200));
  }
  return { name: `after auth: ${name}`, afterAuth: true, bytes: Buffer.concat([...prefix, bad]) };
}

// ---- running a case ----

const fatalWait = 10_000;

async function runCase(port: number, c: Case, expectations: Map<Expectation, number>): Promise<string | null> {
  let client: RawClient;
  let expect: Expectation;
  let refusals = 0;
  if (c.afterAuth) {
    client = await authenticated(port);
    expect = predictTyped(c.bytes, defaultMaxMessageBytes);
  } else {
    const p = predictStartup(c.bytes);
    expect = p.expect;
    refusals = p.refusals;
    client = new RawClient(port, refusals);
    await client.connected();
  }
  expectations.set(expect, (expectations.get(expect) ?? 0) + 1);
  const seen = client.messages.length;
  client.socket.write(c.bytes);
  try {
    if (expect === 'refuse' || expect === 'close') {
      if (!(await client.closedWithin(fatalWait))) return `expected the proxy to ${expect === 'refuse' ? 'refuse' : 'close'}; still open after ${fatalWait} ms`;
      if (client.problems.length) return client.problems[0]!;
      const answer = client.messages.slice(seen);
      if (expect === 'close') return answer.length ? `expected a silent close, got ${answer.length} messages` : null;
      const last = answer.at(-1);
      if (last?.type !== Back.ErrorResponse) return `expected a FATAL ErrorResponse, got ${answer.map((m) => String.fromCharCode(m.type)).join('') || 'nothing'}`;
      const [severity, code] = [last.fields!.get('S'), last.fields!.get('C')];
      if (severity !== 'FATAL' || code !== '08P01') return `expected FATAL 08P01, got ${severity} ${code}: ${last.fields!.get('M')}`;
      return null;
    }
    // relay / incomplete: the server (or nobody) answers; our FIN must end the session either way.
    client.socket.end();
    if (!(await client.closedWithin(fatalWait))) return `still open ${fatalWait} ms after the client closed (${expect})`;
    return client.problems[0] ?? null;
  } finally {
    client.socket.destroy();
  }
}

async function pool<T>(items: T[], width: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

// ---- the healthy session ----

function pgClient(port: number): pgLib.Client {
  return new pgLib.Client({ host: '127.0.0.1', port, user: pg.user, password: pg.password, database: pg.database, application_name: 'sqlwarden-fuzz-healthy' });
}

/** Queries (extended and simple protocol) until stopped; every answer is checked. */
function keepBusy(c: pgLib.Client, rng: Rng): { stop(): Promise<{ queries: number; errors: string[]; maxGapMs: number }> } {
  let stopping = false;
  const errors: string[] = [];
  let queries = 0;
  let last = Date.now();
  let maxGapMs = 0;
  const loop = (async () => {
    while (!stopping) {
      const n = rng.int(-1_000_000, 1_000_000);
      try {
        const r = await c.query({ text: 'select $1::int * 2 as v, md5($2::text) as h', values: [n, String(n)], name: queries % 2 ? 'fuzz_named' : undefined });
        const h = createHash('md5').update(String(n)).digest('hex');
        if (r.rows[0]?.v !== n * 2 || r.rows[0]?.h !== h) errors.push(`extended: wrong answer for ${n}: ${JSON.stringify(r.rows)}`);
        const s = await c.query(`select ${n} + 1 as w, repeat('x', ${queries % 50}) as pad`);
        if (s.rows[0]?.w !== n + 1 || s.rows[0]?.pad !== 'x'.repeat(queries % 50)) errors.push(`simple: wrong answer for ${n}: ${JSON.stringify(s.rows)}`);
      } catch (err) {
        errors.push(`query failed: ${(err as Error).message}`);
        return;
      }
      queries++;
      const now = Date.now();
      maxGapMs = Math.max(maxGapMs, now - last);
      last = now;
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      return { queries, errors, maxGapMs };
    },
  };
}

// ---- the tests ----

/** A proxy whose log keeps errors only: a session that hits anything but a WireError logs one. */
async function quietProxy(pgOverrides: Record<string, unknown> = {}): Promise<{ proxy: StartedProxy; errors: string[] }> {
  const errors: string[] = [];
  const log = createLogger('error', { write: (line: string) => void errors.push(line) });
  return { proxy: await startProxy({ pg: pgOverrides }, { log }), errors };
}

describe(`proxy under fuzzed connections (FUZZ_SEED=${seed})`, () => {
  let proxy: StartedProxy;
  let loggedErrors: string[];
  beforeAll(async () => {
    ({ proxy, errors: loggedErrors } = await quietProxy());
  });
  afterAll(() => proxy?.close());

  it('closes thousands of garbage connections, refusing bad bytes with 08P01, while a healthy session keeps answering', async () => {
    const rng = new Rng(seed);
    const cases: Case[] = [];
    for (let i = 0; i < 2000; i++) cases.push(preStartupCase(rng));
    for (let i = 0; i < 1200; i++) cases.push(mutatedStartupCase(rng));
    for (let i = 0; i < 1800; i++) cases.push(afterAuthCase(rng));
    for (let i = cases.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [cases[i], cases[j]] = [cases[j]!, cases[i]!];
    }

    const healthy = pgClient(proxy.pg.port);
    await healthy.connect();
    const busy = keepBusy(healthy, new Rng(seed ^ 0x5eed));

    const failures: string[] = [];
    const tally = new Map<string, number>();
    const expectations = new Map<Expectation, number>();
    const started = Date.now();
    await pool(cases, 20, async (c, i) => {
      const kind = c.name.replace(/ \(.*/, '');
      tally.set(kind, (tally.get(kind) ?? 0) + 1);
      const problem = await runCase(proxy.pg.port, c, expectations).catch((err: Error) => `case threw: ${err.message}`);
      if (problem) failures.push(`case ${i} [${c.name}] bytes ${c.bytes.subarray(0, 48).toString('hex')}${c.bytes.length > 48 ? '...' : ''}: ${problem}`);
    });
    const elapsed = Date.now() - started;
    const health = await busy.stop();

    expect(failures.slice(0, 10), `seed ${seed}`).toEqual([]);
    expect(health.errors).toEqual([]);
    expect(health.queries).toBeGreaterThan(50);
    expect(health.maxGapMs, 'longest wait for the healthy session between two answers').toBeLessThan(5_000);
    expect(elapsed).toBeLessThan(60_000);
    // The cases reach every outcome, each many times.
    for (const e of ['refuse', 'relay', 'incomplete', 'close'] as const) expect(expectations.get(e) ?? 0, `cases expecting ${e}`).toBeGreaterThan(e === 'close' ? 5 : 300);
    expect(loggedErrors, 'errors the proxy logged (a session hit something other than bad bytes)').toEqual([]);

    // Afterwards: the same session still answers, the listener still accepts, no session or backend leaked.
    expect((await healthy.query("select 'still here' as s")).rows).toEqual([{ s: 'still here' }]);
    const fresh = pgClient(proxy.pg.port);
    await fresh.connect();
    expect((await fresh.query('select 41 + 1 as v')).rows).toEqual([{ v: 42 }]);
    await fresh.end();
    const listener = proxy.app.listeners[0]!;
    const drained = async () => {
      for (let t = 0; t < 100 && listener.sessions.size > 1; t++) await new Promise((r) => setTimeout(r, 100));
      return listener.sessions.size;
    };
    expect(await drained(), 'sessions left open besides the healthy one').toBe(1);
    let backends = -1;
    for (let t = 0; t < 50 && backends !== 0; t++) {
      const r = await healthy.query('select count(*)::int as n from pg_stat_activity where application_name = $1', [application]);
      backends = r.rows[0].n;
      if (backends) await new Promise((r2) => setTimeout(r2, 100));
    }
    expect(backends, 'server backends of fuzz connections still alive').toBe(0);
    await healthy.end();
    console.info(`pg fuzz: ${cases.length} connections in ${elapsed} ms; healthy session answered ${health.queries} times; ${JSON.stringify([...tally])}; ${JSON.stringify([...expectations])}`);
  });
});

describe('valid pipelines cut into fragments on the wire', () => {
  let proxy: StartedProxy;
  let loggedErrors: string[];
  beforeAll(async () => {
    ({ proxy, errors: loggedErrors } = await quietProxy());
  });
  afterAll(() => proxy?.close());

  /** Simple and extended queries, an error in the middle of a batch, empty-body messages, a 20 kB value. */
  const pipeline = Buffer.concat([
    serialize.query("select 1 as a, 'two' as b"),
    serialize.parse({ name: 'st', text: 'select $1::int + 1 as n, $2::text as t', types: [23, 25] }),
    serialize.bind({ statement: 'st', values: ['41', null] }),
    serialize.describe({ type: 'P' }),
    serialize.execute(),
    serialize.sync(),
    serialize.query('select 1/0'),
    serialize.parse({ text: 'select repeat($1, 20000) as r', types: [25] }),
    serialize.bind({ values: ['z'] }),
    serialize.execute(),
    serialize.flush(),
    serialize.close({ type: 'S', name: 'st' }),
    serialize.sync(),
    serialize.query(''),
  ]);
  const readyCount = 5; // three Query, two Sync

  async function answer(fragments: Buffer[]): Promise<Buffer> {
    const c = await authenticated(proxy.pg.port);
    const mark = c.raw.length;
    const readyBefore = c.messages.filter((m) => m.type === Back.ReadyForQuery).length;
    for (const f of fragments) {
      c.socket.write(f);
      await new Promise((r) => setImmediate(r));
    }
    const done = await c.until(() => c.messages.filter((m) => m.type === Back.ReadyForQuery).length === readyBefore + readyCount, 10_000);
    c.socket.end();
    await c.closedWithin(5_000);
    if (!done) throw new Error(`no ${readyCount} ReadyForQuery: ${c.messages.map((m) => String.fromCharCode(m.type)).join('')}`);
    return Buffer.concat(c.raw.slice(mark));
  }

  it('answers a pipeline sent in random fragments exactly as when it is sent whole', async () => {
    const whole = await answer([pipeline]);
    expect(whole.length).toBeGreaterThan(20_000);
    const rng = new Rng(seed ^ 0xf7a9);
    for (let trial = 0; trial < 30; trial++) {
      const cuts = Array.from({ length: rng.int(1, 40) }, () => rng.int(1, pipeline.length - 1)).sort((a, b) => a - b);
      const fragments: Buffer[] = [];
      let prev = 0;
      for (const k of [...cuts, pipeline.length]) {
        fragments.push(pipeline.subarray(prev, k));
        prev = k;
      }
      const got = await answer(fragments);
      expect(got.equals(whole), `seed ${seed}, trial ${trial}, cuts ${cuts.join(',')}`).toBe(true);
    }
    expect(loggedErrors).toEqual([]);
  });
});

describe('maxMessageBytes', () => {
  let proxy: StartedProxy;
  beforeAll(async () => {
    ({ proxy } = await quietProxy({ maxMessageBytes: 65536 }));
  });
  afterAll(() => proxy?.close());

  it('refuses a client message over the limit with FATAL 08P01 and takes messages up to it', async () => {
    const c = await authenticated(proxy.pg.port);
    const seen = c.messages.length;
    const sql = `select length('${'x'.repeat(60_000)}') as n`;
    c.socket.write(serialize.query(sql));
    expect(await c.until(() => c.messages.slice(seen).some((m) => m.type === Back.ReadyForQuery), 10_000)).toBe(true);
    expect(c.messages.slice(seen).map((m) => String.fromCharCode(m.type)).join('')).toBe('TDCZ');

    const after = c.messages.length;
    c.socket.write(serialize.query(`select '${'y'.repeat(70_000)}'`));
    expect(await c.closedWithin(10_000)).toBe(true);
    const answer = c.messages.slice(after);
    expect(answer.map((m) => m.type)).toEqual([Back.ErrorResponse]);
    expect(answer[0]!.fields!.get('S')).toBe('FATAL');
    expect(answer[0]!.fields!.get('C')).toBe('08P01');
    expect(answer[0]!.fields!.get('M')).toMatch(/exceeds maxMessageBytes \(65536\)/);
  });

  it('fails a node pg query over the limit with 08P01, and other sessions go on', async () => {
    const other = pgClient(proxy.pg.port);
    await other.connect();
    const c = pgClient(proxy.pg.port);
    c.on('error', () => undefined);
    await c.connect();
    await expect(c.query(`select '${'z'.repeat(70_000)}'`)).rejects.toMatchObject({ code: '08P01' });
    expect((await other.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await other.end();
  });

  it('ends the session with 08P01 when the server sends a row over the limit', async () => {
    const c = pgClient(proxy.pg.port);
    c.on('error', () => undefined);
    await c.connect();
    await expect(c.query("select repeat('r', 100000) as big")).rejects.toMatchObject({ code: '08P01' });
  });
});
