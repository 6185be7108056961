// Session error handling the fuzz test (pg-fuzz.test.ts) once found wanting: the right code, one error, one log line.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { pg } from '../helpers/databases.js';
import { frame, frontend } from '../helpers/pg-buffers.js';
import { createLogger } from '../../src/log.js';
import { PgFramer } from '../../src/wire/postgres/frames.js';
import { decodeFields } from '../../src/wire/postgres/decode.js';

/** Sends bytes on a fresh connection and returns the ErrorResponses received before the proxy closed it. */
async function errorsAfter(port: number, bytes: Buffer): Promise<Map<string, string>[]> {
  const errors: Map<string, string>[] = [];
  const framer = new PgFramer(
    { onFrame: (type, buf, s, e) => (type === 0x45 && errors.push(decodeFields(buf, s, e)), true), onPass: () => undefined },
    { typed: true, maxMessageBytes: 1 << 30, inspect: [0x45] },
  );
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('data', (c: Buffer) => framer.push(c));
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  socket.write(bytes);
  const closed = await new Promise<boolean>((resolve) => {
    socket.once('close', () => resolve(true));
    setTimeout(() => resolve(false), 10_000);
  });
  socket.destroy();
  if (!closed) throw new Error('the proxy did not close the connection');
  return errors;
}

const startup = () => frontend.startup({ user: pg.user, database: pg.database, application_name: 'sqlwarden-fuzz' });

describe('session errors', () => {
  let proxy: StartedProxy;
  const warnings: string[] = [];
  beforeAll(async () => {
    proxy = await startProxy({}, { log: createLogger('warn', { write: (l: string) => void warnings.push(l) }) });
  });
  afterAll(() => proxy?.close());

  // Bytes after the startup packet are framed once the upstream is up: a malformed one is the client's fault.
  it('refuses a malformed message sent together with the startup packet with 08P01, not 08001', async () => {
    for (const bad of [frame('Q', Buffer.alloc(0), 2), frame('Q', Buffer.from('no terminator'))]) {
      const errors = await errorsAfter(proxy.pg.port, Buffer.concat([startup(), bad]));
      const last = errors.at(-1);
      expect(last?.get('S')).toBe('FATAL');
      expect(last?.get('C'), last?.get('M')).toBe('08P01');
    }
  });

  // When the server ends a session with its own FATAL (bad database, terminated backend), that is the reason.
  it("passes on the server's FATAL as the only error when the server ends the session", async () => {
    const errors = await errorsAfter(proxy.pg.port, frontend.startup({ user: pg.user, database: 'sqlwarden_no_such_db' }));
    expect(errors.map((e) => `${e.get('S')} ${e.get('C')}`)).toEqual(['FATAL 3D000']);
  });

  // After a fatal error the rest of the client's bytes are not framed (they would be cut mid-message).
  it('logs one protocol violation per session', async () => {
    warnings.length = 0;
    // A bad startup length, then 256 kB that reach the proxy in later socket reads.
    const bad = Buffer.alloc(4 + 256 * 1024, 0x41);
    bad.writeInt32BE(3, 0);
    const errors = await errorsAfter(proxy.pg.port, bad);
    expect(errors).toHaveLength(1);
    const sessions = warnings.filter((l) => l.includes('protocol violation')).map((l) => JSON.parse(l).session as string);
    expect(sessions).toHaveLength(1);
  });
});
