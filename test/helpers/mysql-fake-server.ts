// A scripted MySQL 8 server for what MariaDB cannot show: caching_sha2_password. It greets with that plugin,
// accepts TLS when given a certificate, checks the scramble token, and then either takes the fast path
// (0x01 0x03) or asks for full authentication (0x01 0x04): clear text over TLS, or the RSA public-key
// exchange over plain TCP. After a login it answers COM_QUERY with one row echoing the query, and COM_PING.
// Every connection's record says what crossed the wire, so tests can check the password never went in
// clear text over a plain connection.
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import * as dec from '../../src/wire/mysql/decode.js';
import * as enc from '../../src/wire/mysql/encode.js';
import { MyFramer, framePayload, payloadOf } from '../../src/wire/mysql/frames.js';
import { Cap, ColumnType, Command, Status } from '../../src/wire/mysql/packets.js';

export interface FakeServerOptions {
  user: string;
  password: string;
  /** Offer TLS with this certificate. */
  tls?: { cert: string; key: string };
  /** The server "has the password cached": fast authentication. Otherwise it always asks for full authentication. */
  fastAuth: boolean;
}

export interface ConnectionRecord {
  tls: boolean;
  /** How the password was proven: the scramble token only, the clear text (over TLS) or RSA. */
  path?: 'fast' | 'cleartext' | 'rsa';
  /** The client sent its password in clear text over a plain connection: must never happen. */
  cleartextOverPlain: boolean;
  ok: boolean;
  queries: string[];
}

const caps =
  Cap.Mysql | Cap.LongFlag | Cap.ConnectWithDb | Cap.Protocol41 | Cap.Transactions | Cap.SecureConnection | Cap.MultiResults |
  Cap.PluginAuth | Cap.PluginAuthLenencData | Cap.ConnectAttrs | Cap.DeprecateEof | Cap.SessionTrack;

let serverKey: { publicPem: string; privateKey: crypto.KeyObject } | undefined;

function rsaKey(): { publicPem: string; privateKey: crypto.KeyObject } {
  if (!serverKey) {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    serverKey = { publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), privateKey };
  }
  return serverKey;
}

function sha256(...parts: Buffer[]): Buffer {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The caching_sha2_password scramble token: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)), scramble). */
export function sha2Token(password: string, scramble: Buffer): Buffer {
  const stage1 = sha256(Buffer.from(password));
  const stage3 = sha256(sha256(stage1), scramble);
  return Buffer.from(stage1.map((b, i) => b ^ stage3[i]!));
}

/** Reads whole packets from a socket one at a time; can hand the socket over to TLS between packets. */
class PacketStream {
  private queue: { seq: number; payload: Buffer }[] = [];
  private waiter?: () => void;
  private framer: MyFramer;
  private closed = false;

  constructor(private socket: net.Socket) {
    this.framer = this.newFramer();
    this.listen();
  }

  private newFramer(): MyFramer {
    return new MyFramer(
      {
        onHeader: () => true,
        onPacket: (buf, start, end, parts) => {
          this.queue.push({ seq: buf[start + 3]!, payload: Buffer.from(payloadOf(buf, start, end, parts)) });
          this.wake();
          // One packet at a time, so that a TLS upgrade can take over the bytes after an SSLRequest.
          return false;
        },
        onPass: () => undefined,
      },
      1 << 30,
      'from the client',
    );
  }

  private listen(): void {
    this.socket.on('data', (c: Buffer) => this.framer.push(c));
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on('error', () => undefined);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async next(): Promise<{ seq: number; payload: Buffer } | null> {
    for (;;) {
      const p = this.queue.shift();
      if (p) return p;
      if (this.closed) return null;
      this.framer.resume();
      if (this.queue.length > 0) continue;
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  startTls(context: tls.SecureContext): void {
    const raw = this.socket;
    const rest = this.framer.takeRemainder();
    // Paused, so the bytes put back below wait in the buffer for TLS instead of going to no listener.
    raw.pause();
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
    if (rest.length) raw.unshift(rest);
    this.socket = secure;
    this.framer = this.newFramer();
    this.listen();
  }

  write(seq: number, payload: Buffer): void {
    this.socket.write(framePayload(payload, seq));
  }

  end(): void {
    this.socket.end();
  }
}

export class FakeMysqlServer {
  readonly connections: ConnectionRecord[] = [];
  private readonly server: net.Server;
  private readonly secureContext?: tls.SecureContext;
  private nextId = 100;

  constructor(private readonly opts: FakeServerOptions) {
    if (opts.tls) this.secureContext = tls.createSecureContext({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) });
    this.server = net.createServer((s) => void this.serve(s).catch(() => s.destroy()));
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as net.AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private async serve(socket: net.Socket): Promise<void> {
    const record: ConnectionRecord = { tls: false, cleartextOverPlain: false, ok: false, queries: [] };
    this.connections.push(record);
    const io = new PacketStream(socket);
    const scramble = Buffer.from(Array.from(crypto.randomBytes(20), (b) => (b % 94) + 33));
    const greeting: dec.HandshakeV10 = {
      protocolVersion: 10,
      serverVersion: '8.0.36-sqlwarden-fake',
      connectionId: this.nextId++,
      authPluginData: Buffer.concat([scramble, Buffer.from([0])]),
      capabilities: (caps | (this.secureContext ? Cap.Ssl : 0)) >>> 0,
      characterSet: 255,
      statusFlags: Status.Autocommit,
      authPluginDataLength: 21,
      reserved: Buffer.alloc(6),
      mariaCapabilities: 0,
      authPluginName: 'caching_sha2_password',
    };
    io.write(0, enc.encodeHandshakeV10(greeting));
    let packet = await io.next();
    if (!packet) return;
    if (packet.payload.length === dec.sslRequestLength) {
      io.startTls(this.secureContext!);
      record.tls = true;
      packet = await io.next();
      if (!packet) return;
    }
    const hr = dec.decodeHandshakeResponse41(packet.payload, 0, packet.payload.length);
    let seq = packet.seq;
    const reply = (payload: Buffer) => io.write(++seq, payload);
    const read = async () => {
      const p = await io.next();
      if (p) seq = p.seq;
      return p?.payload ?? null;
    };
    // As MySQL does, the connection ends after a failed login.
    const deny = () => {
      reply(enc.encodeErr(1045, '28000', `Access denied for user '${hr.user}'@'localhost' (using password: YES)`));
      io.end();
    };
    const okPacket = () => enc.encodeOk({ statusFlags: Status.Autocommit });

    const tokenOk = hr.user === this.opts.user && sha2Token(this.opts.password, scramble).equals(hr.authResponse);
    if (this.opts.fastAuth) {
      if (!tokenOk) return deny();
      record.path = 'fast';
      reply(Buffer.from([0x01, 0x03]));
    } else {
      reply(Buffer.from([0x01, 0x04]));
      let answer = await read();
      if (!answer) return;
      const expected = Buffer.from(`${this.opts.password}\0`);
      let password: Buffer;
      if (record.tls) {
        record.path = 'cleartext';
        password = answer;
      } else {
        if (!(answer.length === 1 && answer[0] === 0x02)) {
          record.cleartextOverPlain = true;
          return deny();
        }
        const key = rsaKey();
        reply(enc.encodeAuthMoreData(Buffer.from(key.publicPem)));
        answer = await read();
        if (!answer) return;
        record.path = 'rsa';
        const clear = crypto.privateDecrypt({ key: key.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, answer);
        password = Buffer.from(clear.map((b, i) => b ^ scramble[i % scramble.length]!));
      }
      if (hr.user !== this.opts.user || !password.equals(expected)) return deny();
    }
    reply(okPacket());
    record.ok = true;
    const deprecateEof = (hr.capabilities & Cap.DeprecateEof) !== 0;
    for (;;) {
      const p = await io.next();
      if (!p) return;
      seq = p.seq;
      const command = p.payload[0];
      if (command === Command.Quit) return io.end();
      if (command === Command.Ping) reply(okPacket());
      else if (command === Command.Query) {
        const sql = p.payload.toString('utf8', 1);
        record.queries.push(sql);
        reply(enc.encodeColumnCount(1));
        reply(enc.encodeColumnDefinition({ catalog: 'def', schema: '', table: '', orgTable: '', name: 'echo', orgName: '', characterSet: 255, columnLength: 1024, type: ColumnType.VarString, flags: 0, decimals: 31 }));
        if (!deprecateEof) reply(enc.encodeEof(Status.Autocommit));
        reply(enc.encodeTextRow([`${record.tls ? 'tls' : 'plain'}:${sql}`]));
        reply(deprecateEof ? enc.encodeOk({ header: 0xfe, statusFlags: Status.Autocommit }) : enc.encodeEof(Status.Autocommit));
      } else reply(enc.encodeErr(1047, '08S01', 'Unknown command'));
    }
  }
}
