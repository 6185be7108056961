// A raw MySQL protocol client for tests that need the bytes: it logs in with mysql_native_password, sends
// any packet, and reads responses by a simple reading of the protocol of its own (what a response to each
// command looks like), so a test can compare the bytes through the proxy with the bytes direct, choose
// capabilities no driver here offers (CLIENT_DEPRECATE_EOF, cursors), or send malformed packets.
import crypto from 'node:crypto';
import net from 'node:net';
import * as dec from '../../src/wire/mysql/decode.js';
import * as enc from '../../src/wire/mysql/encode.js';
import { MyFramer, framePayload, payloadOf } from '../../src/wire/mysql/frames.js';
import { Cap, Header, Status } from '../../src/wire/mysql/packets.js';
import { mysql as db } from './databases.js';

export interface Packet {
  seq: number;
  payload: Buffer;
}

export const baseCapabilities =
  Cap.LongFlag | Cap.ConnectWithDb | Cap.LocalFiles | Cap.Protocol41 | Cap.Transactions | Cap.SecureConnection | Cap.MultiStatements |
  Cap.MultiResults | Cap.PsMultiResults | Cap.PluginAuth | Cap.PluginAuthLenencData | Cap.SessionTrack;

/** mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))); empty for an empty password. */
export function nativeToken(password: string, scramble: Buffer): Buffer {
  if (!password) return Buffer.alloc(0);
  const sha1 = (...b: Buffer[]) => b.reduce((h, x) => h.update(x), crypto.createHash('sha1')).digest();
  const stage1 = sha1(Buffer.from(password));
  const stage3 = sha1(scramble, sha1(stage1));
  return Buffer.from(stage1.map((b, i) => b ^ stage3[i]!));
}

export class RawClient {
  greeting!: dec.HandshakeV10;
  capabilities = 0;
  private readonly queue: Packet[] = [];
  private waiter?: () => void;
  private ended = false;
  private readonly framer = new MyFramer(
    {
      onHeader: () => true,
      onPacket: (buf, start, end, parts) => {
        this.queue.push({ seq: buf[start + 3]!, payload: Buffer.from(payloadOf(buf, start, end, parts)) });
        this.wake();
        return true;
      },
      onPass: () => undefined,
    },
    1 << 30,
    'from the proxy',
  );

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => this.framer.push(c));
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** Connects and logs in (mysql_native_password) with these capabilities. */
  static async login(port: number, opts: { capabilities?: number; mariaCapabilities?: number; user?: string; password?: string; database?: string } = {}): Promise<RawClient> {
    const c = await RawClient.open(port);
    const g = await c.next();
    c.greeting = dec.decodeHandshakeV10(g.payload, 0, g.payload.length);
    c.capabilities = ((opts.capabilities ?? baseCapabilities) & c.greeting.capabilities) >>> 0;
    const password = opts.password ?? db.password;
    c.send(
      enc.encodeHandshakeResponse41({
        capabilities: c.capabilities, maxPacketSize: 1 << 30, characterSet: 45, filler: Buffer.alloc(19), mariaCapabilities: opts.mariaCapabilities ?? 0,
        user: opts.user ?? db.user, authResponse: nativeToken(password, dec.scrambleOf(c.greeting.authPluginData)),
        database: opts.database ?? db.database, authPluginName: 'mysql_native_password', extra: Buffer.alloc(0),
      }),
      1,
    );
    let answer = await c.next();
    if (answer.payload[0] === Header.Eof) {
      // Auth switch: answer for the plugin named, with its fresh scramble.
      const sw = dec.decodeAuthSwitchRequest(answer.payload, 0, answer.payload.length);
      c.send(nativeToken(password, sw.pluginData.subarray(0, 20)), answer.seq + 1);
      answer = await c.next();
    }
    if (answer.payload[0] !== Header.Ok) {
      const e = dec.decodeErr(answer.payload, 0, answer.payload.length);
      throw new Error(`login failed: ${e.code} ${e.message}`);
    }
    return c;
  }

  get deprecateEof(): boolean {
    return (this.capabilities & Cap.DeprecateEof) !== 0;
  }

  get closed(): boolean {
    return this.ended && this.queue.length === 0;
  }

  send(payload: Buffer, seq = 0): void {
    this.socket.write(framePayload(payload, seq));
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next packet; rejects when the connection closes first or after `timeoutMs`. */
  async next(timeoutMs = 10_000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = this.queue.shift();
      if (p) return p;
      if (this.ended) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a packet');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Nothing more arrives within `ms` (a response ended where the test says it does). */
  async quiet(ms = 100): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.queue.length === 0;
  }

  // ---- responses, read by the test's own understanding of the protocol ----

  private isEnd(p: Packet): boolean {
    return p.payload[0] === Header.Eof && p.payload.length < 0xffffff;
  }

  /** End-of-part status flags of an OK or EOF packet. */
  status(p: Packet): number {
    if (p.payload[0] === Header.Eof && !this.deprecateEof) return dec.decodeEof(p.payload, 0, p.payload.length).statusFlags;
    return dec.decodeOk(p.payload, 0, p.payload.length, this.capabilities).statusFlags;
  }

  /** One result set after its column count packet: definitions, [EOF], rows, end. */
  private async resultSet(count: Packet, out: Packet[], cursor: boolean): Promise<number> {
    const n = dec.decodeColumnCount(count.payload, 0, count.payload.length);
    for (let i = 0; i < n; i++) out.push(await this.next());
    if (!this.deprecateEof) {
      const eof = await this.next();
      out.push(eof);
      if (cursor && this.status(eof) & Status.CursorExists) return this.status(eof);
    }
    for (;;) {
      const p = await this.next();
      out.push(p);
      if (p.payload[0] === Header.Err) return 0;
      if (this.isEnd(p)) return this.status(p);
    }
  }

  /** The whole response to COM_QUERY or COM_STMT_EXECUTE: results until one without MORE_RESULTS. */
  async response(opts: { cursor?: boolean } = {}): Promise<Packet[]> {
    const out: Packet[] = [];
    for (;;) {
      const first = await this.next();
      out.push(first);
      const h = first.payload[0];
      let status: number;
      if (h === Header.Err) return out;
      if (h === Header.Ok) status = this.status(first);
      else status = await this.resultSet(first, out, opts.cursor ?? false);
      if (!(status & Status.MoreResultsExist)) return out;
    }
  }

  async query(sql: string): Promise<Packet[]> {
    this.send(enc.encodeCommandText(0x03, sql));
    return this.response();
  }

  /** COM_STMT_PREPARE's response; returns the statement id too (-1 on ERR). */
  async prepare(sql: string): Promise<{ id: number; packets: Packet[] }> {
    this.send(enc.encodeCommandText(0x16, sql));
    const first = await this.next();
    if (first.payload[0] === Header.Err) return { id: -1, packets: [first] };
    const ok = dec.decodeStmtPrepareOk(first.payload, 0, first.payload.length);
    const packets = [first];
    const blocks = [ok.params, ok.columns].filter((n) => n > 0);
    for (const n of blocks) {
      for (let i = 0; i < n + (this.deprecateEof ? 0 : 1); i++) packets.push(await this.next());
    }
    return { id: ok.statementId, packets };
  }

  /** COM_STMT_FETCH's response: rows, then EOF (or ERR). */
  async fetch(id: number, rows: number): Promise<Packet[]> {
    this.send(enc.encodeStmtFetch(id, rows));
    const out: Packet[] = [];
    for (;;) {
      const p = await this.next();
      out.push(p);
      if (p.payload[0] === Header.Err || this.isEnd(p)) return out;
    }
  }

  /** COM_FIELD_LIST's response: definitions, then EOF (or ERR). */
  async fieldList(table: string): Promise<Packet[]> {
    this.send(Buffer.concat([Buffer.from([0x04]), Buffer.from(table), Buffer.from([0])]));
    return this.fetchLike();
  }

  private async fetchLike(): Promise<Packet[]> {
    const out: Packet[] = [];
    for (;;) {
      const p = await this.next();
      out.push(p);
      if (p.payload[0] === Header.Err || this.isEnd(p)) return out;
    }
  }

  /** A command answered by one packet. */
  async simple(payload: Buffer): Promise<Packet> {
    this.send(payload);
    return this.next();
  }

  end(): void {
    this.socket.end();
  }

  /** Hands the logged-in socket over to the caller, who reads it from now on. */
  takeSocket(): net.Socket {
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
    return this.socket;
  }
}

/** Packets as hex lines, for readable failures when comparing streams. */
export function hex(packets: Packet[]): string[] {
  return packets.map((p) => `${p.seq}:${p.payload.toString('hex')}`);
}
