// Two builds' PostgreSQL framers side by side, no sockets: a result's DataRows passed raw (the framer's work
// on every row of a result with nothing to mask), cut into 64 KiB chunks as a socket delivers them, passes
// of A and B interleaved in one process, ns per message and B/A per round.
//
//   npm run bench:framer -- --a DIR --b DIR [--rows 1000000] [--row-bytes 137] [--rounds 8]
//
// --a / --b name checkouts whose dist/ is built, as for bench:ab.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    rows: { type: 'string', default: '1000000' },
    'row-bytes': { type: 'string', default: '137' },
    rounds: { type: 'string', default: '8' },
  },
});
if (!values.a || !values.b) throw new Error('usage: framer-ab --a DIR --b DIR [--rows N] [--row-bytes N] [--rounds N]');
const rows = Number(values.rows);
const rowBytes = Number(values['row-bytes']);
const rounds = Number(values.rounds);
if (!(rowBytes >= 5)) throw new Error('--row-bytes: at least 5 (a type byte and a length)');

type Frames = typeof import('../src/wire/postgres/frames.js');
const load = async (dir: string): Promise<Frames> => (await import(pathToFileURL(path.resolve(dir, 'dist/wire/postgres/frames.js')).href)) as Frames;
const builds = [
  { name: 'A', dir: values.a, frames: await load(values.a) },
  { name: 'B', dir: values.b, frames: await load(values.b) },
];

// One stream of DataRows ('D', length, zeros for the body) cut every 64 KiB, wherever a message lies.
const stream = Buffer.alloc(rows * rowBytes);
for (let at = 0; at < stream.length; at += rowBytes) {
  stream[at] = 0x44;
  stream.writeInt32BE(rowBytes - 1, at + 1);
}
const chunks: Buffer[] = [];
for (let at = 0; at < stream.length; at += 65536) chunks.push(stream.subarray(at, at + 65536));

/** CPU ns per message of one pass through a fresh framer that inspects ReadyForQuery only. */
function pass(frames: Frames): number {
  let passed = 0;
  const framer = new frames.PgFramer({ onFrame: () => true, onPass: (_b, s, e) => void (passed += e - s) }, { typed: true, maxMessageBytes: 1 << 30, inspect: [0x5a] });
  const t = process.cpuUsage();
  for (const c of chunks) framer.push(c);
  const used = process.cpuUsage(t);
  if (passed !== stream.length) throw new Error(`framer passed ${passed} of ${stream.length} bytes`);
  return ((used.user + used.system) * 1000) / rows;
}

// Warm both up, then rounds of one pass each, the order alternating.
for (const b of builds) for (let i = 0; i < 3; i++) pass(b.frames);
const per: Record<string, number[]> = { A: [], B: [] };
const ratios: number[] = [];
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? builds : [...builds].reverse();
  const got: Record<string, number> = {};
  for (const b of order) got[b.name] = pass(b.frames);
  per.A!.push(got.A!);
  per.B!.push(got.B!);
  ratios.push(got.B! / got.A!);
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
console.log(`${rows.toLocaleString('en-US')} DataRows of ${rowBytes} bytes in 64 KiB chunks, ${rounds} rounds; CPU ns a message`);
for (const b of builds) console.log(`${b.name} ${b.dir}: median ${median(per[b.name]!).toFixed(1)}  (${per[b.name]!.map((x) => x.toFixed(1)).join(' ')})`);
console.log(`B/A per round: median ${median(ratios).toFixed(3)}, min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}`);
