// Bulk readers: the whole of bench_pii, once, through one address. Each returns rows and bytes so a
// proxy that drops or cuts rows cannot look fast.
//
// What each measures:
//   pg-raw    a minimal PostgreSQL client written here: a simple Query, and a scan of the reply that only
//             reads message headers and counts DataRows. The node-postgres driver spends more CPU decoding a
//             row than a relay spends forwarding it, so with it the client would be what is measured; this
//             reader leaves the CPU to the proxy, as a C client would. Bytes: the wire bytes of the reply.
//   mysql2    the mysql2 driver, rows streamed (one 'result' event per row, nothing buffered), as node
//             applications read; its row decoding is part of the figure. Bytes: the socket's bytes read.
//   mysql2-execute  the same through a prepared statement (execute): binary rows. bench:ab only.
//   psql      psql COPY bench_pii TO STDOUT, counted by wc -c (COPY text bytes).
//   mariadb   the mariadb CLI, --quick (row by row, unbuffered), tab-separated output counted by wc -c.
// Wall time is measured around the whole read; for the CLIs it includes starting the program (~20 ms).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import mysql from 'mysql2';
import { mariadbArgs, pgEnv, type Db } from './db.js';

export interface Read {
  rows: number;
  bytes: number;
  ms: number;
}

/** The clients of `npm run bench`; bench:ab takes these and mysql2-execute. */
export const bulkClients = ['pg-raw', 'mysql2', 'psql', 'mariadb'] as const;
export const abClients = [...bulkClients, 'mysql2-execute'] as const;
export type BulkClient = (typeof abClients)[number];
export const bulkProtocol: Record<BulkClient, 'postgres' | 'mysql'> = { 'pg-raw': 'postgres', mysql2: 'mysql', 'mysql2-execute': 'mysql', psql: 'postgres', mariadb: 'mysql' };

export function readTable(client: BulkClient, db: Db, table: string): Promise<Read> {
  switch (client) {
    case 'pg-raw':
      return pgRawRead(db, `SELECT * FROM ${table}`);
    case 'mysql2':
      return mysql2Read(db, `SELECT * FROM ${table}`);
    case 'mysql2-execute':
      return mysql2Read(db, `SELECT * FROM ${table}`, true);
    case 'psql':
      return cliRead(`psql -Atc "COPY ${table} TO STDOUT"`, pgEnv(db));
    case 'mariadb':
      return cliRead(`mariadb ${mariadbArgs(db).map(shellQuote).join(' ')} --quick -N -B -e "SELECT * FROM ${table}"`, process.env);
  }
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs `command | wc -lc` in bash with pipefail: one line per row, and the bytes. */
function cliRead(command: string, env: NodeJS.ProcessEnv): Promise<Read> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn('bash', ['-o', 'pipefail', '-c', `${command} | wc -lc`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const [lines, bytes] = out.trim().split(/\s+/).map(Number);
      if (code !== 0 || lines === undefined || bytes === undefined) reject(new Error(`${command.split(' ')[0]}: exited ${code}: ${err.trim().slice(0, 300)}`));
      else resolve({ rows: lines, bytes, ms });
    });
  });
}

// ---- a minimal PostgreSQL reader (protocol 3.0, "Message Flow": Start-up, Simple Query) ----

function startupMessage(db: Db): Buffer {
  const params = Buffer.from(`user\0${db.user}\0database\0${db.database}\0client_encoding\0UTF8\0\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + params.length, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, params]);
}

function typed(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

const cstr = (s: string) => Buffer.from(`${s}\0`);

function errorText(body: Buffer): string {
  // ErrorResponse fields: a type byte then a C string each; 'M' is the message.
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const end = body.indexOf(0, i + 1);
    if (body[i] === 0x4d) return body.toString('utf8', i + 1, end);
    i = end + 1;
  }
  return 'error';
}

/**
 * Reads messages by header only. `onMessage` sees every message's type and, for the few types the caller
 * wants (`wanted`), its body; other bodies are skipped without being copied.
 */
class MessageScanner {
  private readonly head = Buffer.alloc(5);
  private headLen = 0;
  private skip = 0;
  private type = 0;
  private body: Buffer[] | undefined;
  rows = 0;

  constructor(
    private readonly wanted: (type: number) => boolean,
    private readonly onMessage: (type: number, body: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i);
        if (this.body) this.body.push(chunk.subarray(i, i + take));
        i += take;
        this.skip -= take;
        if (this.skip === 0) this.finish();
        continue;
      }
      while (this.headLen < 5 && i < n) this.head[this.headLen++] = chunk[i++]!;
      if (this.headLen < 5) return;
      this.headLen = 0;
      this.type = this.head[0]!;
      this.skip = this.head.readInt32BE(1) - 4;
      if (this.type === 0x44) this.rows++;
      this.body = this.wanted(this.type) ? [] : undefined;
      if (this.skip === 0) this.finish();
    }
  }

  private finish(): void {
    const body = this.body ? Buffer.concat(this.body) : Buffer.alloc(0);
    this.body = undefined;
    this.onMessage(this.type, body);
  }
}

const R = 0x52;
const E = 0x45;
const Z = 0x5a;

/** Connects (trust, cleartext or md5 auth), runs `sql` as one simple Query, counts the DataRows. */
export function pgRawRead(db: Db, sql: string): Promise<Read> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: db.host, port: db.port });
    socket.setNoDelay(true);
    let ready = false;
    let start = 0n;
    let bytesAtQuery = 0;
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    const scanner = new MessageScanner(
      (t) => t === R || t === E || (t === Z && !ready),
      (type, body) => {
        if (type === E) return fail(new Error(`postgres: ${errorText(body)}`));
        if (type === R) {
          const code = body.readInt32BE(0);
          if (code === 3) socket.write(typed('p', cstr(db.password)));
          else if (code === 5) {
            const inner = crypto.createHash('md5').update(db.password + db.user).digest('hex');
            const outer = crypto.createHash('md5').update(inner).update(body.subarray(4, 8)).digest('hex');
            socket.write(typed('p', cstr(`md5${outer}`)));
          } else if (code !== 0) fail(new Error(`postgres: authentication method ${code} is not supported by the bench reader: use trust, password or md5`));
          return;
        }
        if (type !== Z) return;
        if (!ready) {
          ready = true;
          scanner.rows = 0;
          bytesAtQuery = socket.bytesRead;
          start = process.hrtime.bigint();
          socket.write(typed('Q', cstr(sql)));
          return;
        }
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        const result = { rows: scanner.rows, bytes: socket.bytesRead - bytesAtQuery, ms };
        socket.end(typed('X', Buffer.alloc(0)));
        resolve(result);
      },
    );
    socket.on('data', (chunk: Buffer) => scanner.push(chunk));
    socket.once('error', fail);
    socket.once('connect', () => socket.write(startupMessage(db)));
  });
}

// ---- mysql2, streamed ----

export function mysql2Read(db: Db, sql: string, prepared = false): Promise<Read> {
  return new Promise((resolve, reject) => {
    const conn = mysql.createConnection({ host: db.host, port: db.port, user: db.user, password: db.password, database: db.database });
    conn.once('error', reject);
    conn.connect((err) => {
      if (err) return reject(err);
      const stream = (conn as unknown as { stream: net.Socket }).stream;
      const before = stream.bytesRead;
      let rows = 0;
      const start = process.hrtime.bigint();
      (prepared ? conn.execute({ sql, rowsAsArray: true }) : conn.query({ sql, rowsAsArray: true }))
        .on('result', () => rows++)
        .on('error', (e: Error) => {
          conn.destroy();
          reject(e);
        })
        .on('end', () => {
          const ms = Number(process.hrtime.bigint() - start) / 1e6;
          const bytes = stream.bytesRead - before;
          conn.end();
          resolve({ rows, bytes, ms });
        });
    });
  });
}
