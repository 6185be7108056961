// The PostgreSQL framer against streams of real messages cut every way a socket can cut them: at every byte
// offset, at every pair of offsets, in 1-byte chunks and in random chunkings; with stops and resumes.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { serialize } from 'pg-protocol';
import { PgFramer, MessageTooLarge, type FrameHandler } from '../../../src/wire/postgres/frames.js';
import { WireError } from '../../../src/wire/bytes.js';
import { Front, StartupCode, maxStartupPacket } from '../../../src/wire/postgres/messages.js';
import { frame, frontend } from '../../helpers/pg-buffers.js';

/** What the session inspects from a client; everything else streams through. */
const clientInspected = [Front.Query, Front.Parse, Front.Bind, Front.Execute, Front.Close, Front.Sync, Front.FunctionCall, Front.Terminate];

interface Msg {
  bytes: Buffer;
  /** 0 in the startup phase */
  type: number;
}

const startupPhase: Msg[] = [frontend.sslRequest(), frontend.gssencRequest(), serialize.startup({ user: 'alice', database: 'app', application_name: 'framer' })].map(
  (bytes) => ({ bytes, type: 0 }),
);

function typed(...bufs: Buffer[]): Msg[] {
  return bufs.map((b) => ({ bytes: Buffer.from(b), type: b[0]! }));
}

/** Inspected and passed types interleaved, runs of passed messages, empty bodies, and two larger messages. */
function typedPhase(large: number): Msg[] {
  return typed(
    serialize.query('select 1'),
    serialize.parse({ name: 's1', text: 'select $1::int, $2::text, $3::bytea', types: [23, 25, 17] }),
    serialize.bind({ statement: 's1', values: ['42', null, Buffer.from([0, 1, 2])] }),
    serialize.describe({ type: 'P', name: '' }),
    serialize.execute(),
    serialize.flush(),
    serialize.sync(),
    serialize.copyData(Buffer.alloc(large, 7)),
    serialize.copyData(Buffer.alloc(0)),
    serialize.copyDone(),
    serialize.copyFail('stop'),
    serialize.query(`select '${'x'.repeat(large)}'`),
    serialize.close({ type: 'S', name: 's1' }),
    frontend.functionCall(1598, [Buffer.from('abc'), null]),
    serialize.sync(),
    serialize.end(),
  );
}

type Event = { kind: 'frame'; type: number; bytes: Buffer } | { kind: 'pass'; bytes: Buffer };

interface RunOptions {
  inspect?: number[];
  maxMessageBytes?: number;
  /** onFrame returns false for these frames (by delivery index). */
  stopAt?: (index: number) => boolean;
  /** Chunks pushed while stopped before the driver resumes (they are stashed meanwhile). */
  resumeAfter?: number;
  /** Like the session: stop on the StartupMessage, switch to typed while stopped, then resume. */
  switchWhileStopped?: boolean;
}

function isStartupMessage(buf: Buffer, start: number): boolean {
  const code = buf.readInt32BE(start + 4);
  return code !== StartupCode.sslRequest && code !== StartupCode.gssencRequest;
}

/**
 * Feeds `chunks` to a framer. Events keep references into the framer's buffers, not copies: they are
 * compared only after the whole stream, which checks that handed-out bytes stay valid.
 */
function run(chunks: Buffer[], opts: RunOptions = {}): { events: Event[]; violations: string[]; framer: PgFramer } {
  const events: Event[] = [];
  const violations: string[] = [];
  let delivered = 0;
  let switchPending = false;
  const handler: FrameHandler = {
    onFrame(type, buf, start, end) {
      if (framer.isStopped) violations.push('onFrame while stopped');
      events.push({ kind: 'frame', type, bytes: buf.subarray(start, end) });
      let go = !opts.stopAt?.(delivered++);
      if (!framer.typed && isStartupMessage(buf, start)) {
        if (opts.switchWhileStopped) {
          switchPending = true;
          go = false;
        } else framer.typed = true;
      }
      return go;
    },
    onPass(buf, start, end) {
      if (framer.isStopped) violations.push('onPass while stopped');
      if (end <= start) violations.push(`empty pass range [${start}, ${end})`);
      events.push({ kind: 'pass', bytes: buf.subarray(start, end) });
    },
  };
  const framer = new PgFramer(handler, { typed: false, maxMessageBytes: opts.maxMessageBytes ?? 1 << 30, inspect: opts.inspect ?? clientInspected });
  const resume = () => {
    if (switchPending) framer.typed = true;
    switchPending = false;
    framer.resume();
  };
  const wait = opts.resumeAfter ?? 0;
  let sinceStop = 0;
  for (const c of chunks) {
    const before = events.length;
    const wasStopped = framer.isStopped;
    framer.push(c);
    if (wasStopped && events.length !== before) violations.push('push while stopped produced events');
    if (framer.isStopped) sinceStop++;
    while (framer.isStopped && sinceStop > wait) {
      resume();
      sinceStop = framer.isStopped ? 1 : 0;
      if (wait > 0) break;
    }
  }
  while (framer.isStopped) resume();
  return { events, violations, framer };
}

/** Expected events: each inspected message whole, each run of passed messages as one byte range. */
function expectedEvents(msgs: Msg[], inspect: Set<number>): Event[] {
  const out: Event[] = [];
  for (const m of msgs) {
    if (m.type === 0 || inspect.has(m.type)) out.push({ kind: 'frame', type: m.type, bytes: m.bytes });
    else {
      const last = out.at(-1);
      if (last?.kind === 'pass') last.bytes = Buffer.concat([last.bytes, m.bytes]);
      else out.push({ kind: 'pass', bytes: m.bytes });
    }
  }
  return out;
}

/** Merges adjacent pass ranges (how a stream is cut into them depends on the chunking). */
function normalize(events: Event[]): Event[] {
  const out: Event[] = [];
  let run: Buffer[] = [];
  const flush = () => {
    if (run.length) out.push({ kind: 'pass', bytes: Buffer.concat(run) });
    run = [];
  };
  for (const e of events) {
    if (e.kind === 'pass') run.push(e.bytes);
    else {
      flush();
      out.push(e);
    }
  }
  flush();
  return out;
}

/** The first difference, or null; a string keeps the failure readable when thousands of runs are checked. */
function difference(actual: Event[], expected: Event[], input: Buffer): string | null {
  const all = Buffer.concat(actual.map((e) => e.bytes));
  if (!all.equals(input)) return `events concatenate to ${all.length} bytes, input has ${input.length} (or differ in content)`;
  const a = normalize(actual);
  if (a.length !== expected.length) return `${a.length} events after merging passes, expected ${expected.length}`;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = expected[i]!;
    if (x.kind !== y.kind) return `event ${i} is ${x.kind}, expected ${y.kind}`;
    if (x.kind === 'frame' && y.kind === 'frame' && x.type !== y.type) return `frame ${i} has type ${x.type}, expected ${y.type}`;
    if (!x.bytes.equals(y.bytes)) return `event ${i} (${x.kind}) has ${x.bytes.length} bytes, expected ${y.bytes.length}`;
  }
  return null;
}

function cut(input: Buffer, offsets: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const o of [...offsets].sort((p, q) => p - q)) {
    chunks.push(input.subarray(prev, o));
    prev = o;
  }
  chunks.push(input.subarray(prev));
  return chunks;
}

function check(msgs: Msg[], chunks: Buffer[], opts: RunOptions = {}): string | null {
  const input = Buffer.concat(msgs.map((m) => m.bytes));
  const { events, violations } = run(chunks, opts);
  if (violations.length) return violations[0]!;
  return difference(events, expectedEvents(msgs, new Set(opts.inspect ?? clientInspected)), input);
}

const small = [...startupPhase, ...typedPhase(40)];
const smallInput = Buffer.concat(small.map((m) => m.bytes));
const mixed = [...startupPhase, ...typedPhase(3000)];
const mixedInput = Buffer.concat(mixed.map((m) => m.bytes));

describe('PgFramer: every cut of a mixed stream', () => {
  it('hands over the stream whole when it arrives in one chunk', () => {
    expect(check(mixed, [mixedInput])).toBeNull();
  });

  it('cuts the same messages when the stream is split at every byte offset', () => {
    const failures: string[] = [];
    for (let k = 0; k <= mixedInput.length; k++) {
      const d = check(mixed, cut(mixedInput, [k]));
      if (d) failures.push(`split at ${k}: ${d}`);
    }
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it('cuts the same messages when the stream is split at every pair of byte offsets', () => {
    const failures: string[] = [];
    for (let i = 1; i < smallInput.length; i++) {
      for (let j = i; j < smallInput.length; j++) {
        const d = check(small, cut(smallInput, [i, j]));
        if (d) failures.push(`split at ${i}, ${j}: ${d}`);
      }
    }
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it('cuts the same messages from 1-byte chunks', () => {
    const chunks = [...mixedInput].map((b) => Buffer.from([b]));
    expect(check(mixed, chunks)).toBeNull();
  });

  it('cuts the same messages from random chunkings, inspecting any subset of types', () => {
    const types = [...new Set(mixed.filter((m) => m.type !== 0).map((m) => m.type))];
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: mixedInput.length - 1 }), { maxLength: 60 }),
        fc.subarray(types),
        (offsets, inspect) => check(mixed, cut(mixedInput, offsets), { inspect }) === null,
      ),
      { numRuns: 500 },
    );
  });

  it('does not write into the chunks it is given', () => {
    const copy = Buffer.from(mixedInput);
    run(cut(copy, [3, 10, 17, 100, 2000, 5000]));
    expect(copy.equals(mixedInput)).toBe(true);
  });
});

describe('PgFramer: stop and resume', () => {
  it('stops after a frame whose handler returns false, and delivers nothing more until resumed', () => {
    const msgs = typed(serialize.query('select 1'), serialize.describe({ type: 'P' }), serialize.query('select 2'));
    const events: string[] = [];
    const framer = new PgFramer(
      {
        onFrame: (type) => {
          events.push(`frame ${String.fromCharCode(type)}`);
          return false;
        },
        onPass: (_b, s, e) => void events.push(`pass ${e - s}`),
      },
      { typed: true, maxMessageBytes: 1 << 20, inspect: [Front.Query] },
    );
    framer.push(Buffer.concat(msgs.map((m) => m.bytes)));
    expect(events).toEqual(['frame Q']);
    expect(framer.isStopped).toBe(true);
    expect(framer.buffered).toBe(msgs[1]!.bytes.length + msgs[2]!.bytes.length);
    framer.push(serialize.sync());
    expect(events).toEqual(['frame Q']);
    framer.resume();
    expect(events).toEqual(['frame Q', `pass ${msgs[1]!.bytes.length}`, 'frame Q']);
    framer.resume();
    expect(events.at(-1)).toBe('pass 5');
    expect(framer.isStopped).toBe(false);
    expect(framer.atBoundary).toBe(true);
  });

  it('hands messages of an express type to their handler, whole and in order, and stops when it returns false', () => {
    const msgs = typed(serialize.query('select 1'), serialize.query('select 22'), serialize.sync(), serialize.query('select 333'), serialize.flush());
    const input = Buffer.concat(msgs.map((m) => m.bytes));
    const events: string[] = [];
    const framer = new PgFramer(
      { onFrame: (type, b, s, e) => (events.push(`frame ${String.fromCharCode(type)} ${e - s}`), true), onPass: () => undefined },
      { typed: true, maxMessageBytes: 1 << 20, inspect: [Front.Query, Front.Sync, Front.Flush] },
    );
    let stopAt = 2;
    framer.express(Front.Query, (b, s, e) => {
      events.push(`express ${b.toString('latin1', s + 5, e - 1)}`);
      return --stopAt !== 0;
    });
    // Split inside the second Query: it arrives whole all the same.
    framer.push(input.subarray(0, msgs[0]!.bytes.length + 7));
    framer.push(input.subarray(msgs[0]!.bytes.length + 7));
    expect(events).toEqual(['express select 1', 'express select 22']);
    expect(framer.isStopped).toBe(true);
    framer.express(Front.Query, null);
    framer.resume();
    expect(events.slice(2)).toEqual(['frame S 5', `frame Q ${msgs[3]!.bytes.length}`, 'frame H 5']);
  });

  it('hands an express type over in runs: the consecutive messages whole in a chunk in one call, then stops after the run', () => {
    const q = (sql: string) => serialize.query(sql);
    const msgs = typed(q('a'), q('bb'), q('ccc'), serialize.sync(), q('dddd'), q('eeeee'), serialize.flush());
    const input = Buffer.concat(msgs.map((m) => m.bytes));
    const events: string[] = [];
    const framer = new PgFramer(
      { onFrame: (type, b, s, e) => (events.push(`frame ${String.fromCharCode(type)} ${e - s}`), true), onPass: () => undefined },
      { typed: true, maxMessageBytes: 1 << 20, inspect: [Front.Query, Front.Sync, Front.Flush] },
    );
    /** The queries of a run, cut by their own lengths. */
    const sqls = (b: Buffer, s: number, e: number) => {
      const out: string[] = [];
      for (let at = s; at < e; at += 1 + b.readInt32BE(at + 1)) out.push(b.toString('latin1', at + 5, at + b.readInt32BE(at + 1)));
      return out.join(',');
    };
    let calls = 0;
    framer.express(Front.Query, (b, s, e) => {
      events.push(`run ${sqls(b, s, e)}`);
      return ++calls !== 2;
    });
    // The first chunk ends inside 'ccc': 'a' and 'bb' are one run, 'ccc' (completed by the next chunk) one
    // of its own, then a Sync, then 'dddd' and 'eeeee' again one run.
    const cutAt = msgs[0]!.bytes.length + msgs[1]!.bytes.length + 3;
    framer.push(input.subarray(0, cutAt));
    expect(events).toEqual(['run a,bb']);
    framer.push(input.subarray(cutAt));
    expect(events).toEqual(['run a,bb', 'run ccc']);
    expect(framer.isStopped).toBe(true);
    framer.resume();
    expect(events.slice(2)).toEqual(['frame S 5', 'run dddd,eeeee', 'frame H 5']);
  });

  it('keeps order and loses nothing when it stops on every frame, resuming at once', () => {
    const failures: string[] = [];
    for (let k = 0; k <= smallInput.length; k++) {
      const d = check(small, cut(smallInput, [k]), { stopAt: () => true });
      if (d) failures.push(`split at ${k}: ${d}`);
    }
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it('keeps order and loses nothing when it switches to the typed phase while stopped, as the session does', () => {
    const failures: string[] = [];
    for (let k = 0; k <= mixedInput.length; k += 7) {
      const d = check(mixed, cut(mixedInput, [k, k + 3]), { switchWhileStopped: true, resumeAfter: 1 });
      if (d) failures.push(`split at ${k}: ${d}`);
    }
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it('keeps order and loses nothing when chunks arrive while it is stopped (random chunkings and stops)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: mixedInput.length - 1 }), { maxLength: 40 }),
        fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }),
        fc.nat(3),
        fc.boolean(),
        (offsets, stops, resumeAfter, switchWhileStopped) =>
          check(mixed, cut(mixedInput, offsets), { stopAt: (i) => stops[i % stops.length]!, resumeAfter, switchWhileStopped }) === null,
      ),
      { numRuns: 500 },
    );
  });

  it('gives back the unprocessed rest after a stop, and then holds nothing', () => {
    const frames: number[] = [];
    const framer = new PgFramer(
      { onFrame: (type) => (frames.push(type), false), onPass: () => undefined },
      { typed: false, maxMessageBytes: 1 << 20 },
    );
    const ssl = frontend.sslRequest();
    const injected = Buffer.from('injected before the TLS handshake');
    framer.push(Buffer.concat([ssl, injected.subarray(0, 10)]));
    framer.push(injected.subarray(10));
    expect(frames).toEqual([0]);
    expect(framer.takeRemainder()).toEqual(injected);
    expect(framer.buffered).toBe(0);
    expect(framer.takeRemainder().length).toBe(0);
  });
});

describe('PgFramer: partial messages', () => {
  it('reports buffered bytes and no boundary while an inspected message is incomplete', () => {
    const q = serialize.query('select 42');
    const framer = new PgFramer({ onFrame: () => true, onPass: () => undefined }, { typed: true, maxMessageBytes: 1 << 20, inspect: [Front.Query] });
    expect(framer.atBoundary).toBe(true);
    framer.push(q.subarray(0, 3));
    expect([framer.atBoundary, framer.buffered]).toEqual([false, 3]);
    framer.push(q.subarray(3, 9));
    expect([framer.atBoundary, framer.buffered]).toEqual([false, 9]);
    framer.push(q.subarray(9));
    expect([framer.atBoundary, framer.buffered]).toEqual([true, 0]);
  });

  it('streams a passed message before its end arrives, holding none of it', () => {
    const d = serialize.copyData(Buffer.alloc(100, 1));
    const passed: number[] = [];
    const framer = new PgFramer({ onFrame: () => true, onPass: (_b, s, e) => void passed.push(e - s) }, { typed: true, maxMessageBytes: 1 << 20 });
    framer.push(d.subarray(0, 50));
    expect(passed).toEqual([50]);
    expect([framer.atBoundary, framer.buffered]).toEqual([false, 0]);
    framer.push(d.subarray(50));
    expect(passed).toEqual([50, d.length - 50]);
    expect(framer.atBoundary).toBe(true);
  });

  it('does not reserve the length a message claims before its bytes arrive', () => {
    const framers: PgFramer[] = [];
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 20; i++) {
      const f = new PgFramer({ onFrame: () => true, onPass: () => undefined }, { typed: true, maxMessageBytes: 1 << 30, inspect: [Front.Query] });
      f.push(frame('Q', Buffer.from('select'), 256 * 1024 * 1024));
      framers.push(f);
    }
    // Claimed: 20 x 256 MiB. Held: a first allocation per framer.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 * 1024 * 1024);
    expect(framers.map((f) => f.buffered)).toEqual(Array(20).fill(11));
  });

  it('hands over 1 MiB messages whole and streams 1 MiB passed ones, in 1-byte and in 64 KiB chunks', () => {
    const msgs = typed(serialize.query('x'.repeat(1 << 20)), serialize.copyData(Buffer.alloc(1 << 20, 3)), serialize.sync());
    const input = Buffer.concat(msgs.map((m) => m.bytes));
    const withStartup = (chunks: Buffer[]) => {
      const startup = serialize.startup({ user: 'u' });
      const all = [{ bytes: startup, type: 0 }, ...msgs];
      const { events, violations } = run([startup, ...chunks], { inspect: [Front.Query, Front.Sync] });
      return violations[0] ?? difference(events, expectedEvents(all, new Set([Front.Query, Front.Sync])), Buffer.concat([startup, input]));
    };
    const ones: Buffer[] = [];
    for (let i = 0; i < input.length; i++) ones.push(input.subarray(i, i + 1));
    const big: Buffer[] = [];
    for (let i = 0; i < input.length; i += 65536) big.push(input.subarray(i, i + 65536));
    expect(withStartup(ones)).toBeNull();
    expect(withStartup(big)).toBeNull();
  });
});

describe('PgFramer: limits and bad lengths', () => {
  const typedFramer = (maxMessageBytes: number, inspect: number[] = [Front.Query]) =>
    new PgFramer({ onFrame: () => true, onPass: () => undefined }, { typed: true, maxMessageBytes, inspect });

  for (const [what, inspect] of [
    ['an inspected', [Front.Query]],
    ['a passed', []],
  ] as const) {
    it(`accepts ${what} message of exactly maxMessageBytes and refuses one byte more with MessageTooLarge`, () => {
      const atCap = frame('Q', Buffer.alloc(95, 0x61)); // 1 + 4 + 95 = 100 bytes
      expect(atCap.length).toBe(100);
      expect(() => typedFramer(100, [...inspect]).push(atCap)).not.toThrow();
      const over = frame('Q', Buffer.alloc(96, 0x61));
      expect(() => typedFramer(100, [...inspect]).push(over)).toThrow(MessageTooLarge);
      expect(() => typedFramer(100, [...inspect]).push(over)).toThrow(/'Q' of 101 bytes exceeds maxMessageBytes \(100\)/);
      // The header alone is enough to refuse it, even when it arrives a byte at a time.
      const f = typedFramer(100, [...inspect]);
      for (let i = 0; i < 4; i++) f.push(over.subarray(i, i + 1));
      expect(() => f.push(over.subarray(4, 5))).toThrow(MessageTooLarge);
    });
  }

  it('refuses a length field of 2^31-1 with MessageTooLarge before allocating anything', () => {
    expect(() => typedFramer(1 << 20).push(frame('Q', Buffer.alloc(0), 0x7fffffff))).toThrow(MessageTooLarge);
    expect(() => typedFramer(1 << 20, []).push(frame('d', Buffer.alloc(0), 0x7fffffff))).toThrow(MessageTooLarge);
  });

  for (const len of [3, 0, -1, -0x80000000]) {
    it(`refuses a typed length of ${len} with a WireError that is not MessageTooLarge`, () => {
      for (const inspect of [[Front.Query], []]) {
        let err: unknown;
        try {
          typedFramer(1 << 20, inspect).push(frame('Q', Buffer.alloc(8), len));
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(WireError);
        expect(err).not.toBeInstanceOf(MessageTooLarge);
        expect((err as Error).message).toContain(`invalid length ${len} in message 'Q'`);
      }
    });
  }

  it('names an unprintable type byte in hex', () => {
    expect(() => typedFramer(1 << 20).push(frame(0x01, Buffer.alloc(0), 2))).toThrow("message '0x1'");
  });

  const startupFramer = () => new PgFramer({ onFrame: () => true, onPass: () => undefined }, { typed: false, maxMessageBytes: 1 << 20 });
  const packet = (len: number) => {
    const b = Buffer.alloc(Math.max(len, 8));
    b.writeInt32BE(len, 0);
    b.writeInt32BE(StartupCode.protocol3, 4);
    return b;
  };

  it('accepts startup packets of 8 and of maxStartupPacket bytes', () => {
    for (const len of [8, maxStartupPacket]) {
      const got: number[] = [];
      const f = new PgFramer({ onFrame: (_t, _b, s, e) => (got.push(e - s), true), onPass: () => undefined }, { typed: false, maxMessageBytes: 1 << 20 });
      f.push(packet(len));
      expect(got).toEqual([len]);
    }
  });

  for (const len of [7, 4, 0, -8, maxStartupPacket + 1, 0x7fffffff]) {
    it(`refuses a startup packet length of ${len} with a WireError`, () => {
      expect(() => startupFramer().push(packet(len))).toThrow(WireError);
      expect(() => startupFramer().push(packet(len))).toThrow(`invalid startup packet length ${len}`);
    });
  }

  it('checks the startup length against maxStartupPacket, not maxMessageBytes', () => {
    const f = new PgFramer({ onFrame: () => true, onPass: () => undefined }, { typed: false, maxMessageBytes: 1024 });
    expect(() => f.push(packet(5000))).not.toThrow();
  });

  it('never throws anything but WireError on random bytes in either phase', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), fc.integer({ min: 1, max: 50 }), (bytes, isTyped, chunk) => {
        const f = new PgFramer({ onFrame: () => true, onPass: () => undefined }, { typed: isTyped, maxMessageBytes: 4096, inspect: clientInspected });
        const input = Buffer.from(bytes);
        try {
          for (let i = 0; i < input.length; i += chunk) f.push(input.subarray(i, i + chunk));
        } catch (e) {
          return e instanceof WireError;
        }
        return true;
      }),
      { numRuns: 2000 },
    );
  });
});
