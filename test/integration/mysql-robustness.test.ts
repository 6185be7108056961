// The MySQL listener under stress: a slow client keeps the proxy's memory bounded (measured on the CLI run
// as its own process); malformed, truncated, mutated and oversized packets end only their own session, with
// an ERR packet where the state allows; a shutdown and an unreachable server are told to the client.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { RowDataPacket } from 'mysql2/promise';
import * as dec from '../../src/wire/mysql/decode.js';
import * as enc from '../../src/wire/mysql/encode.js';
import { MyFramer, framePayload } from '../../src/wire/mysql/frames.js';
import { Cap, ColumnType, Command, Header } from '../../src/wire/mysql/packets.js';
import { startProxy } from '../helpers/proxy.js';
import { createLogger } from '../../src/log.js';
import { admin, caught, connect, dropDatabase, freshDatabase } from '../helpers/mysql-clients.js';
import { RawClient, baseCapabilities, nativeToken } from '../helpers/mysql-raw.js';
import { mysql as db } from '../helpers/databases.js';
import { readSlowly, startCliProxy, type CliProxy } from '../helpers/cli-proxy.js';

const dbName = 'sw_my_fuzz';
const fuzzUser = 'sw_my_fuzzer';
const fuzzPassword = 'fuzz-pass';

beforeAll(async () => {
  await freshDatabase(dbName);
  const c = await admin(dbName);
  await c.query('CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO t VALUES (1, "a"), (2, NULL)');
  // Fuzzed commands run as a user who can only read its own database: no COM_SHUTDOWN, no KILL of others.
  await c.query(`DROP USER IF EXISTS '${fuzzUser}'@'%'`);
  await c.query(`CREATE USER '${fuzzUser}'@'%' IDENTIFIED BY '${fuzzPassword}'`);
  await c.query(`GRANT SELECT ON \`${dbName}\`.* TO '${fuzzUser}'@'%'`);
  await c.end();
});

afterAll(async () => {
  const c = await admin();
  await c.query(`DROP USER IF EXISTS '${fuzzUser}'@'%'`);
  await c.end();
  await dropDatabase(dbName);
});

describe('a slow client', () => {
  let proxy: CliProxy;

  beforeAll(async () => {
    proxy = await startCliProxy('my', `protocol: mysql, upstream: "${db.host}:${db.port}", upstreamTls: disable`);
  });
  afterAll(() => proxy?.stop());

  it('keeps the proxy memory bounded while a client reads a 400 MB result slowly', async () => {
    const raw = await RawClient.login(proxy.port, { database: dbName });
    const socket = raw.takeSocket();
    let rows = 0;
    let bytes = 0;
    let ends = 0;
    const framer = new MyFramer(
      {
        // Rows stream through uncounted by size; the end of the result comes whole.
        onHeader: (first, length) => {
          if ((first === Header.Eof && length < 9) || first === Header.Err) return true;
          rows++;
          return false;
        },
        onPacket: (buf, start) => {
          if (buf[start + 4] === Header.Err) throw new Error('server error');
          ends++;
          return true;
        },
        onPass: () => undefined,
      },
      1 << 30,
      'from the proxy',
    );
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      framer.push(chunk);
    });
    const until = async (cond: () => boolean) => {
      while (!cond()) await new Promise((r) => setTimeout(r, 20));
    };
    // Warm up: a first statement touches what every statement touches, and so do the masking workers'
    // heaps (the shipped rules scan the text column with detectors, in worker batches).
    socket.write(framePayload(enc.encodeCommandText(Command.Query, "SELECT seq, REPEAT('x', 400) FROM seq_1_to_50000"), 0));
    await until(() => ends === 2);
    rows = 0;
    bytes = 0;
    const { baseline, peakStalled, peak, readWhileSlow } = await readSlowly(
      proxy,
      socket,
      () => socket.write(framePayload(enc.encodeCommandText(Command.Query, "SELECT seq, REPEAT('x', 400) FROM seq_1_to_1000000"), 0)),
      () => bytes,
      () => ends === 4,
    );
    socket.destroy();

    // Column count and two definitions are counted as "rows" by this reader too.
    expect(rows - 3).toBe(1_000_000);
    expect(bytes).toBeGreaterThan(400_000_000);
    expect(readWhileSlow).toBeLessThan(bytes / 4);
    const mib = (n: number) => (n / 2 ** 20).toFixed(1);
    console.log(`proxy RSS: baseline ${mib(baseline)} MiB, peak stalled ${mib(peakStalled)} MiB, peak overall ${mib(peak)} MiB; result ${mib(bytes)} MiB`);
    expect(peakStalled - baseline).toBeLessThan(32 * 2 ** 20);
    expect(peak - baseline).toBeLessThan(128 * 2 ** 20);
  });
});

describe('bad input', () => {
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let port: number;
  beforeAll(async () => {
    // Silent: the fuzz makes hundreds of protocol-violation warnings, each one expected.
    proxy = await startProxy({ mysql: { maxMessageBytes: 1024 * 1024 } }, { log: createLogger('silent') });
    port = proxy.mysql!.port;
  });
  afterAll(() => proxy.close());

  it('answers a packet over maxMessageBytes with ERR 1153 and ends only that session', async () => {
    const bystander = await connect({ via: port, database: dbName });
    const c = await RawClient.login(port);
    c.send(enc.encodeCommandText(Command.Query, `SELECT '${'x'.repeat(1024 * 1024)}'`));
    const p = await c.next();
    expect(dec.decodeErr(p.payload, 0, p.payload.length)).toMatchObject({ code: 1153, sqlState: '08S01' });
    expect(dec.decodeErr(p.payload, 0, p.payload.length).message).toMatch(/^sqlwarden: message exceeds maxMessageBytes: packet from the client of more than \d+ bytes exceeds maxMessageBytes \(1048576\)$/);
    await expect(c.next()).rejects.toThrow('connection closed');
    const [rows] = await bystander.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM t');
    expect(Number(rows[0]!.n)).toBe(2);
    await bystander.end();
  });

  it('answers a malformed handshake response with an ERR and closes', async () => {
    const c = await RawClient.open(port);
    await c.next();
    c.send(Buffer.alloc(40, 0xff), 1);
    const p = await c.next();
    expect(p.payload[0]).toBe(Header.Err);
    expect(p.seq).toBe(2);
    expect(dec.decodeErr(p.payload, 0, p.payload.length).message).toMatch(/^sqlwarden: protocol violation: /);
    await expect(c.next()).rejects.toThrow('connection closed');
  });

  it('survives fuzzed sessions (garbage, mutated handshakes and commands) with every other session unaffected', async () => {
    const bystander = await connect({ via: port, database: dbName });
    const sessions = proxy.app.listeners.find((l) => l.config.name === 'my')!.sessions;
    const valid = [
      enc.encodeCommandText(Command.Query, 'SELECT id, v FROM t'),
      enc.encodeCommandText(Command.StmtPrepare, 'SELECT ? + 1'),
      enc.encodeStmtExecute(1, 1, [{ type: ColumnType.Long, value: 1 }]),
      enc.encodeStmtFetch(1, 5),
      enc.encodeStatementCommand(Command.StmtClose, 1),
      enc.encodeStatementCommand(Command.StmtReset, 1),
      Buffer.concat([enc.encodeStatementCommand(Command.StmtSendLongData, 1), Buffer.from([0, 0, 1, 2, 3])]),
      Buffer.from([Command.FieldList, ...Buffer.from('t'), 0]),
      enc.encodeCommandText(Command.InitDb, dbName),
      Buffer.from([Command.Ping]),
      Buffer.from([Command.Statistics]),
      Buffer.from([Command.SetOption, 0, 0]),
      Buffer.from([Command.ResetConnection]),
      Buffer.from([Command.ChangeUser, ...Buffer.from(fuzzUser), 0, 0, ...Buffer.from(dbName), 0]),
      enc.encodeCommandText(Command.Query, "SELECT 1; SELECT 'two'"),
    ];
    const mutatedPacket = fc
      .tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }), fc.nat(), fc.nat(3))
      .map(([payload, edits, cut, seqKind]) => {
        const p = Buffer.from(payload);
        for (const [at, v] of edits) p[at % p.length] = v;
        const body = p.subarray(0, 1 + (cut % p.length));
        const framed = framePayload(body, seqKind === 3 ? cut & 0xff : 0);
        // Sometimes a length that claims more than follows.
        if (seqKind === 2) framed.writeUIntLE(body.length + 1 + (cut % 100), 0, 3);
        return framed;
      });
    const scenario = fc.oneof(
      fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }) }),
      fc.record({ kind: fc.constant('handshake' as const), edits: fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 6 }), cut: fc.nat() }),
      fc.record({ kind: fc.constant('commands' as const), packets: fc.array(mutatedPacket, { minLength: 1, maxLength: 6 }) }),
    );
    type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;
    const runOne = async (s: Scenario) => {
      let c: RawClient;
      if (s.kind === 'commands') {
        c = await RawClient.login(port, { user: fuzzUser, password: fuzzPassword, database: dbName });
        for (const p of s.packets) c.socket.write(p);
      } else {
        c = await RawClient.open(port);
        const g = await c.next();
        if (s.kind === 'garbage') c.socket.write(s.bytes);
        else {
          const greeting = dec.decodeHandshakeV10(g.payload, 0, g.payload.length);
          const hr = enc.encodeHandshakeResponse41({
            capabilities: baseCapabilities | Cap.ConnectAttrs, maxPacketSize: 1 << 24, characterSet: 45, filler: Buffer.alloc(19), mariaCapabilities: 0,
            user: fuzzUser, authResponse: nativeToken(fuzzPassword, dec.scrambleOf(greeting.authPluginData)), database: dbName, authPluginName: 'mysql_native_password',
            attributes: [['program_name', 'fuzz']], extra: Buffer.alloc(0),
          });
          for (const [at, v] of s.edits) hr[at % hr.length] = v;
          c.send(hr.subarray(0, Math.max(1, s.cut % (hr.length + 1))), 1);
        }
      }
      // Whatever comes back (results, errors, a close) is fine; the proxy must simply go on.
      await new Promise((r) => setTimeout(r, 40));
      c.socket.destroy();
    };
    await fc.assert(
      fc.asyncProperty(fc.array(scenario, { minLength: 4, maxLength: 4 }), async (batch) => {
        await Promise.all(batch.map(runOne));
        const [rows] = await bystander.query<RowDataPacket[]>('SELECT v FROM t ORDER BY id');
        expect(rows).toEqual([{ v: 'a' }, { v: null }]);
      }),
      { numRuns: 60 },
    );
    await bystander.end();
    // Every fuzzed session ended: none is left holding sockets.
    const deadline = Date.now() + 5000;
    while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(sessions.size).toBe(0);
    const fresh = await connect({ via: port, database: dbName });
    const [one] = await fresh.query<RowDataPacket[]>('SELECT 1 AS one');
    expect(one[0]!.one).toBe(1);
    await fresh.end();
  });
});

describe('the server side', () => {
  it('tells the client when the server cannot be reached (ERR 2003 in place of the greeting)', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const proxy = await startProxy({ mysql: { upstream: `127.0.0.1:${deadPort}` } });
    const err = await caught(connect({ via: proxy.mysql!.port }));
    expect(err).toMatchObject({ errno: 2003, sqlState: 'HY000' });
    expect(err.sqlMessage).toMatch(/^sqlwarden: cannot connect to the database server: 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    await proxy.close();
  });

  it('tells an idle session that the proxy shuts down, with ERR 1053, and closes it', async () => {
    const proxy = await startProxy({ mysql: {} });
    const c = await RawClient.login(proxy.mysql!.port);
    await proxy.close();
    const p = await c.next();
    expect(dec.decodeErr(p.payload, 0, p.payload.length)).toEqual({ code: 1053, sqlState: '08S01', message: 'sqlwarden: the proxy is shutting down' });
    await expect(c.next()).rejects.toThrow('connection closed');
  });

  it('tells the client a connection killed by the server mid-query, and ends the session', async () => {
    const proxy = await startProxy({ mysql: {} });
    const victim = await connect({ via: proxy.mysql!.port });
    const sleeping = caught(victim.query('SELECT SLEEP(5)'));
    await new Promise((r) => setTimeout(r, 200));
    const killer = await admin();
    await killer.query(`KILL CONNECTION ${victim.threadId}`);
    await killer.end();
    // The server closes without a word mid-response: the proxy says what happened.
    expect(await sleeping).toMatchObject({ errno: 2013, sqlMessage: 'sqlwarden: lost the connection to the database server: the server closed the connection' });
    victim.destroy();
    await proxy.close();
  });
});
