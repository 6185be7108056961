// The MySQL framer against streams of packets cut every way a socket can cut them: at every byte offset, at
// every pair of offsets, in 1-byte chunks and random chunkings; with stops and resumes; and at the 16 MiB
// boundary where one logical packet becomes several physical ones.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WireError } from '../../../src/wire/bytes.js';
import { MessageTooLarge, MyFramer, framePayload, lastSequenceId, payloadOf, physicalPackets, setSequenceIds } from '../../../src/wire/mysql/frames.js';
import { maxPacketPayload } from '../../../src/wire/mysql/packets.js';

interface Logical {
  seq: number;
  payload: Buffer;
}

type Event = { kind: 'header'; first: number; length: number; seq: number } | { kind: 'whole'; bytes: Buffer; parts: number } | { kind: 'pass'; bytes: Buffer };

/** Whole when the first payload byte is even (or the payload empty): a mix of both kinds in every stream. */
const wholeIfEven = (first: number) => first < 0 || first % 2 === 0;

function run(chunks: Buffer[], opts: { stopAt?: (i: number) => boolean; max?: number; whole?: (first: number) => boolean } = {}): Event[] {
  const events: Event[] = [];
  const pieces: Buffer[][] = [];
  let delivered = 0;
  const whole = opts.whole ?? wholeIfEven;
  const framer = new MyFramer(
    {
      onHeader: (first, length, seq) => {
        events.push({ kind: 'header', first, length, seq });
        return whole(first);
      },
      onPacket: (buf, start, end, parts) => {
        events.push({ kind: 'whole', bytes: Buffer.from(buf.subarray(start, end)), parts });
        return !(opts.stopAt?.(delivered++) ?? false);
      },
      onPass: (buf, start, end) => {
        // Coalesce adjacent pass ranges (joined at the end): how they are cut is the framer's business.
        const piece = Buffer.from(buf.subarray(start, end));
        const last = pieces.at(-1);
        if (events.at(-1)?.kind === 'pass' && last) last.push(piece);
        else {
          events.push({ kind: 'pass', bytes: Buffer.alloc(0) });
          pieces.push([piece]);
        }
      },
    },
    opts.max ?? 1 << 30,
    'in the test',
  );
  for (const c of chunks) {
    framer.push(c);
    while (framer.isStopped) framer.resume();
  }
  expect(framer.atBoundary).toBe(true);
  let k = 0;
  for (const e of events) if (e.kind === 'pass') e.bytes = Buffer.concat(pieces[k++]!);
  return events;
}

/** What the events must be for a stream of logical packets, whatever the chunking. */
function expected(packets: Logical[], whole = wholeIfEven): Event[] {
  const events: Event[] = [];
  for (const p of packets) {
    const framed = framePayload(p.payload, p.seq);
    const first = p.payload.length > 0 ? p.payload[0]! : -1;
    events.push({ kind: 'header', first, length: Math.min(p.payload.length, maxPacketPayload), seq: p.seq });
    if (whole(first)) events.push({ kind: 'whole', bytes: framed, parts: physicalPackets(p.payload.length) });
    else {
      const last = events.at(-2);
      // A streamed packet after a streamed packet coalesces with it (their headers sit between).
      if (last?.kind === 'pass' && events.at(-1)?.kind === 'header') {
        events.pop();
        last.bytes = Buffer.concat([last.bytes, framed]);
        events.push({ kind: 'header', first, length: Math.min(p.payload.length, maxPacketPayload), seq: p.seq });
        continue;
      }
      events.push({ kind: 'pass', bytes: framed });
    }
  }
  return events;
}

/** Headers and bodies, without the order of a header relative to earlier coalesced pass bytes. */
function normalize(events: Event[]): { headers: Event[]; data: Event[] } {
  const data: Event[] = [];
  for (const e of events) {
    if (e.kind === 'header') continue;
    const last = data.at(-1);
    if (e.kind === 'pass' && last?.kind === 'pass') last.bytes = Buffer.concat([last.bytes, e.bytes]);
    else data.push({ ...e });
  }
  return { headers: events.filter((e) => e.kind === 'header'), data };
}

const small: Logical[] = [
  { seq: 0, payload: Buffer.from([0x03, ...Buffer.from('select 1')]) },
  { seq: 1, payload: Buffer.from([0x01]) },
  { seq: 2, payload: Buffer.alloc(0) },
  { seq: 3, payload: Buffer.from([0xfe, 0, 0, 2, 0]) },
  { seq: 4, payload: Buffer.from([0x05, 1, 2, 3, 4, 5, 6, 7]) },
  { seq: 5, payload: Buffer.from([0x07]) },
  { seq: 6, payload: Buffer.from([0xfb, 0xfb]) },
  { seq: 255, payload: Buffer.from([0x00, 0, 0, 2, 0, 0, 0]) },
  { seq: 0, payload: Buffer.alloc(300, 0x41) },
  { seq: 1, payload: Buffer.alloc(2, 0x42) },
];

function streamOf(packets: Logical[]): Buffer {
  return Buffer.concat(packets.map((p) => framePayload(p.payload, p.seq)));
}

describe('MySQL framer', () => {
  const stream = streamOf(small);
  const want = normalize(expected(small));

  it('delivers the same packets whole or streamed, in order, for a stream in one chunk', () => {
    expect(normalize(run([stream]))).toEqual(want);
  });

  it('gives the same result split at every byte offset', () => {
    for (let i = 1; i < stream.length; i++) {
      expect(normalize(run([stream.subarray(0, i), stream.subarray(i)])), `split at ${i}`).toEqual(want);
    }
  });

  it('gives the same result split at every pair of offsets in the first 70 bytes', () => {
    for (let i = 1; i < 70; i++) {
      for (let j = i + 1; j < 71; j++) {
        expect(normalize(run([stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]))).toEqual(want);
      }
    }
  });

  it('gives the same result fed one byte at a time', () => {
    const chunks = Array.from(stream, (b) => Buffer.from([b]));
    expect(normalize(run(chunks))).toEqual(want);
  });

  it('gives the same result for random chunkings, with stops and resumes after whole packets', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), fc.array(fc.nat(12)), (cuts, stops) => {
        const at = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const c of [...at, stream.length]) {
          chunks.push(stream.subarray(prev, c));
          prev = c;
        }
        const stopSet = new Set(stops);
        expect(normalize(run(chunks, { stopAt: (i) => stopSet.has(i) }))).toEqual(want);
      }),
    );
  });

  it('keeps what arrives while stopped until resumed, then goes on from the next packet', () => {
    const seen: number[] = [];
    const framer = new MyFramer(
      { onHeader: () => true, onPacket: (buf, start) => (seen.push(buf[start + 4]!), seen.length !== 2), onPass: () => undefined },
      1 << 20,
      'test',
    );
    framer.push(stream);
    expect(seen).toEqual([0x03, 0x01]);
    expect(framer.isStopped).toBe(true);
    expect(framer.atBoundary).toBe(false);
    framer.push(framePayload(Buffer.from([0x09]), 0));
    expect(seen.length).toBe(2);
    framer.resume();
    expect(seen.at(-1)).toBe(0x09);
    expect(seen.length).toBe(small.length + 1);
  });

  it('hands over what follows a stop for TLS to take (takeRemainder)', () => {
    let n = 0;
    const framer = new MyFramer({ onHeader: () => true, onPacket: () => ++n > 1, onPass: () => undefined }, 1 << 20, 'test');
    const tail = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]);
    framer.push(Buffer.concat([framePayload(Buffer.alloc(32, 1), 1), tail]));
    expect(framer.takeRemainder()).toEqual(tail);
  });

  it('refuses a logical packet larger than maxMessageBytes, streamed or whole', () => {
    for (const whole of [() => true, () => false]) {
      const events: string[] = [];
      const framer = new MyFramer({ onHeader: whole, onPacket: () => true, onPass: () => void events.push('pass') }, 1024, 'from the client');
      expect(() => framer.push(framePayload(Buffer.alloc(1025), 0))).toThrow(MessageTooLarge);
      expect(() => new MyFramer({ onHeader: whole, onPacket: () => true, onPass: () => undefined }, 1024, 'x').push(framePayload(Buffer.alloc(1024), 0))).not.toThrow();
    }
    expect(() => new MyFramer({ onHeader: () => true, onPacket: () => true, onPass: () => undefined }, 1024, 'from the client').push(framePayload(Buffer.alloc(2000), 0))).toThrow(
      /packet from the client of more than 2000 bytes exceeds maxMessageBytes \(1024\)/,
    );
  });
});

describe('MySQL framer at the 16 MiB boundary', () => {
  const sizes = [maxPacketPayload - 1, maxPacketPayload, maxPacketPayload + 1, 2 * maxPacketPayload];
  const big = (n: number) => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4096) b[i] = (i >>> 12) & 0xff;
    b[0] = 0x10; // even: handed over whole
    return b;
  };

  it('frames payloads of 0xFFFFFF bytes and more as full packets plus a shorter (maybe empty) last one', () => {
    for (const n of sizes) {
      const framed = framePayload(Buffer.alloc(n), 7);
      const count = physicalPackets(n);
      expect(framed.length).toBe(n + 4 * count);
      expect(count).toBe(n < maxPacketPayload ? 1 : Math.floor(n / maxPacketPayload) + 1);
      expect(lastSequenceId(framed, 0, framed.length)).toBe((7 + count - 1) & 0xff);
      // The last physical packet is shorter than 0xFFFFFF: empty for exact multiples.
      let at = 0;
      let last = 0;
      while (at < framed.length) {
        last = framed.readUIntLE(at, 3);
        at += 4 + last;
      }
      expect(last).toBe(n % maxPacketPayload);
    }
  });

  it('joins the physical packets of a large message, whole, and streams them as one when not inspected', () => {
    for (const n of sizes) {
      const payload = big(n);
      const framed = framePayload(payload, 3);
      const next = framePayload(Buffer.from([0x02, 0xaa]), 0);
      // Cut in 64 KiB chunks, plus a cut inside the header of every continuation packet.
      const cuts = new Set<number>();
      for (let i = 65536; i < framed.length; i += 65536) cuts.add(i);
      for (let k = 1; k < physicalPackets(n); k++) cuts.add(k * (maxPacketPayload + 4) + 2);
      const stream = Buffer.concat([framed, next]);
      const chunks: Buffer[] = [];
      let prev = 0;
      for (const c of [...[...cuts].sort((a, b) => a - b), stream.length]) {
        chunks.push(stream.subarray(prev, c));
        prev = c;
      }
      const whole = run(chunks);
      expect(whole[0]).toEqual({ kind: 'header', first: 0x10, length: Math.min(n, maxPacketPayload), seq: 3 });
      const delivered = whole[1] as Extract<Event, { kind: 'whole' }>;
      expect(delivered.parts).toBe(physicalPackets(n));
      expect(payloadOf(delivered.bytes, 0, delivered.bytes.length, delivered.parts).equals(payload)).toBe(true);
      expect(whole.slice(2)).toEqual([
        { kind: 'header', first: 0x02, length: 2, seq: 0 },
        { kind: 'whole', bytes: next, parts: 1 },
      ]);
      const streamed = normalize(run(chunks, { whole: (first) => first !== 0x10 }));
      expect(streamed.headers.length).toBe(2);
      expect((streamed.data[0] as Extract<Event, { kind: 'pass' }>).bytes.equals(framed)).toBe(true);
    }
  });

  it('refuses a continuation packet whose sequence id does not follow', () => {
    const framed = framePayload(Buffer.alloc(maxPacketPayload + 10), 0);
    framed[maxPacketPayload + 4 + 3] = 9;
    const framer = new MyFramer({ onHeader: () => false, onPacket: () => true, onPass: () => undefined }, 1 << 30, 'from the server');
    expect(() => framer.push(framed)).toThrow(WireError);
    expect(() => new MyFramer({ onHeader: () => false, onPacket: () => true, onPass: () => undefined }, 1 << 30, 'from the server').push(framed)).toThrow(
      /packet out of order from the server: sequence id 9 after 0 inside one message/,
    );
  });

  it('renumbers the physical packets of a message in place', () => {
    const framed = framePayload(Buffer.alloc(maxPacketPayload * 2), 250);
    expect(setSequenceIds(framed, 0, framed.length, 254)).toBe(0);
    expect(lastSequenceId(framed, 0, framed.length)).toBe(0);
    expect(framed[3]).toBe(254);
  });
});

describe('MySQL framer: rows in runs', () => {
  const pkt = (seq: number, payload: Buffer) => framePayload(payload, seq);
  // Rows (first bytes 0x00..0xFD), an EOF (0xFE), more rows, an ERR (0xFF), an empty packet, more rows.
  const packets = [
    ...Array.from({ length: 12 }, (_, i) => pkt(i, Buffer.from([i * 20, 1, 2, 3, i]))),
    pkt(12, Buffer.from([0xfe, 0, 0, 2, 0])),
    ...Array.from({ length: 5 }, (_, i) => pkt(13 + i, Buffer.alloc(10 + i, 0x41 + i))),
    pkt(18, Buffer.from([0xff, 0x10, 0x04, 0x23])),
    pkt(19, Buffer.alloc(0)),
    ...Array.from({ length: 4 }, (_, i) => pkt(20 + i, Buffer.from([0xfd, 1, 0, 0, 0x42]))),
  ];
  const stream = Buffer.concat(packets);

  function deliver(chunks: Buffer[], opts: { active: boolean; stopEvery?: number }) {
    const got: { how: 'run' | 'one'; bytes: Buffer; count: number }[] = [];
    let calls = 0;
    const framer = new MyFramer(
      {
        onHeader: () => true,
        onPacket: (buf, start, end) => (got.push({ how: 'one', bytes: Buffer.from(buf.subarray(start, end)), count: 1 }), true),
        onPass: () => {
          throw new Error('nothing streams here');
        },
        rows: {
          active: () => opts.active,
          onRows: (buf, start, end, count) => {
            got.push({ how: 'run', bytes: Buffer.from(buf.subarray(start, end)), count });
            return !opts.stopEvery || ++calls % opts.stopEvery !== 0;
          },
        },
      },
      1 << 30,
      'in the test',
    );
    for (const c of chunks) {
      framer.push(c);
      while (framer.isStopped) framer.resume();
    }
    expect(framer.lastSeq).toBe(23);
    return got;
  }

  /** The packets of a run, cut by their headers. */
  const split = (b: Buffer) => {
    const out: Buffer[] = [];
    for (let at = 0; at < b.length; at += 4 + b.readUIntLE(at, 3)) out.push(b.subarray(at, at + 4 + b.readUIntLE(at, 3)));
    return out;
  };

  it('hands over consecutive whole rows in one call; EOF, ERR, empty and split packets come one by one', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 6 }), fc.integer({ min: 0, max: 3 }), (cuts, stopEvery) => {
        const at = [0, ...cuts.sort((a, b) => a - b), stream.length];
        const got = deliver(
          at.slice(1).map((e, i) => stream.subarray(at[i], e)),
          { active: true, stopEvery },
        );
        expect(Buffer.concat(got.map((g) => g.bytes)).equals(stream)).toBe(true);
        for (const g of got.filter((x) => x.how === 'run')) {
          const rows = split(g.bytes);
          expect(rows).toHaveLength(g.count);
          for (const r of rows) expect([0xfe, 0xff]).not.toContain(r[4]);
          for (const r of rows) expect(r.length).toBeGreaterThan(4);
        }
        for (const special of [12, 18, 19]) expect(got.some((g) => g.how === 'one' && g.bytes.equals(packets[special]!))).toBe(true);
      }),
      { numRuns: 200 },
    );
    // In one chunk: three runs (12, 5 and 4 rows) around the three special packets.
    const whole = deliver([stream], { active: true });
    expect(whole.map((g) => `${g.how} ${g.count}`)).toEqual(['run 12', 'one 1', 'run 5', 'one 1', 'one 1', 'run 4']);
  });

  it('delivers packet by packet while rows are not active', () => {
    const got = deliver([stream], { active: false });
    expect(got.every((g) => g.how === 'one')).toBe(true);
    expect(got).toHaveLength(packets.length);
  });
});
