// A slow client must not make the proxy buffer the server's output: back-pressure pauses the upstream socket.
// The proxy runs as its own process (the CLI, as users run it) so its memory can be measured alone.
import { afterAll, beforeAll, expect, it } from 'vitest';
import net from 'node:net';
import { serialize } from 'pg-protocol';
import { PgFramer } from '../../src/wire/postgres/frames.js';
import { Back } from '../../src/wire/postgres/messages.js';
import { pg } from '../helpers/databases.js';
import { readSlowly, startCliProxy, type CliProxy } from '../helpers/cli-proxy.js';

let proxy: CliProxy;

beforeAll(async () => {
  proxy = await startCliProxy('pg', `protocol: postgres, upstream: "${pg.host}:${pg.port}", upstreamTls: disable`);
});
afterAll(() => proxy?.stop());

it('keeps its memory bounded while a client reads 1,000,000 rows slowly', async () => {
  const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
  await new Promise((r) => socket.once('connect', r));
  let rows = 0;
  let bytes = 0;
  let readyCount = 0;
  const framer = new PgFramer(
    {
      onFrame: (type) => {
        if (type === Back.DataRow) rows++;
        else if (type === Back.ReadyForQuery) readyCount++;
        else if (type === Back.ErrorResponse) throw new Error('server error');
        return true;
      },
      onPass: () => undefined,
    },
    { typed: true, maxMessageBytes: 1 << 20, inspect: [Back.DataRow, Back.ReadyForQuery, Back.ErrorResponse] },
  );
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    framer.push(chunk);
  });
  const until = async (cond: () => boolean) => {
    while (!cond()) await new Promise((r) => setTimeout(r, 20));
  };
  socket.write(serialize.startup({ user: pg.user, database: pg.database }));
  await until(() => readyCount === 1);
  // A first query warms up what a first result touches (the classifier's WASM heap, caches, and the masking
  // workers' heaps: the shipped rules scan the text column with detectors, in worker batches).
  socket.write(serialize.query("select g, repeat('x', 400) from generate_series(1, 50000) g"));
  await until(() => readyCount === 2);
  rows = 0;
  bytes = 0;
  // ~420 MB of rows: buffering them would show at once in the proxy's RSS.
  const { baseline, peakStalled, peak, readWhileSlow } = await readSlowly(
    proxy,
    socket,
    () => socket.write(serialize.query("select g, repeat('x', 400) from generate_series(1, 1000000) g")),
    () => bytes,
    () => readyCount === 3,
  );
  socket.destroy();

  expect(rows).toBe(1_000_000);
  expect(bytes).toBeGreaterThan(420_000_000);
  expect(readWhileSlow).toBeLessThan(bytes / 4);
  const growth = peak - baseline;
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  console.log(`proxy RSS: baseline ${mib(baseline)} MiB, peak while the client stalled ${mib(peakStalled)} MiB, peak overall ${mib(peak)} MiB; result ${mib(bytes)} MiB`);
  // Stalled, the server's output waits in the kernel's socket buffers, not in the proxy.
  expect(peakStalled - baseline).toBeLessThan(64 * 2 ** 20);
  // Reading, the proxy holds a chunk or two at a time; what growth there is comes from buffers not yet
  // garbage-collected (V8 collects external memory in steps of tens of MiB), never from the result's size.
  expect(growth).toBeLessThan(128 * 2 ** 20);
});
