// Encoders for MySQL/MariaDB packets: what sqlwarden sends itself (its own ERR packets, the rewritten
// greeting and handshake response, caching_sha2_password exchanges it answers for the server) and what
// tests and the masking stage build. Encoders return payloads; `framePayload` (frames.ts) adds headers.
import type { ColumnDefinition, HandshakeResponse41, HandshakeV10, MyDateTime, MyTime, BinaryValue } from './decode.js';
import { binaryFixedSize, binaryRowNullBitmapLength } from './decode.js';
import { Cap, ColumnType, Command, Header } from './packets.js';
import { framePayload } from './frames.js';

/** Growable little-endian writer for one payload. */
export class PayloadWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 64) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16LE(v & 0xffff, this.pos);
    this.pos += 2;
    return this;
  }
  u24(v: number): this {
    this.ensure(3);
    this.buf.writeUIntLE(v & 0xffffff, this.pos, 3);
    this.pos += 3;
    return this;
  }
  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }
  u64(v: number | bigint): this {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), this.pos);
    this.pos += 8;
    return this;
  }
  lenenc(v: number): this {
    if (v < 0xfb) return this.u8(v);
    if (v < 0x10000) return this.u8(0xfc).u16(v);
    if (v < 0x1000000) return this.u8(0xfd).u24(v);
    return this.u8(0xfe).u64(v);
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  lenencBytes(b: Uint8Array): this {
    return this.lenenc(b.length).bytes(b);
  }
  lenencString(s: string): this {
    return this.lenencBytes(Buffer.from(s, 'utf8'));
  }
  cstring(s: string): this {
    return this.bytes(Buffer.from(s, 'utf8')).u8(0);
  }
  string(s: string): this {
    return this.bytes(Buffer.from(s, 'utf8'));
  }
  /** The payload written so far (a view; the writer must not be used afterwards). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

// ---- generic responses ----

/** ERR_Packet, 4.1 format: errno, '#', SQLSTATE, message. */
export function encodeErr(code: number, sqlState: string, message: string): Buffer {
  return new PayloadWriter(16 + message.length).u8(Header.Err).u16(code).u8(0x23).string(sqlState.padEnd(5, '0').slice(0, 5)).string(message).finish();
}

/** An ERR packet, framed, with sequence id `seq`. */
export function errPacket(seq: number, code: number, sqlState: string, message: string): Buffer {
  return framePayload(encodeErr(code, sqlState, message), seq);
}

export function encodeOk(f: { affectedRows?: number; lastInsertId?: number; statusFlags: number; warnings?: number; info?: string; header?: number }): Buffer {
  const w = new PayloadWriter().u8(f.header ?? Header.Ok).lenenc(f.affectedRows ?? 0).lenenc(f.lastInsertId ?? 0);
  w.u16(f.statusFlags).u16(f.warnings ?? 0);
  if (f.info) w.string(f.info);
  return w.finish();
}

export function encodeEof(statusFlags: number, warnings = 0): Buffer {
  return new PayloadWriter(5).u8(Header.Eof).u16(warnings).u16(statusFlags).finish();
}

// ---- connection phase ----

export function encodeHandshakeV10(h: HandshakeV10): Buffer {
  const w = new PayloadWriter(128).u8(h.protocolVersion).cstring(h.serverVersion).u32(h.connectionId);
  w.bytes(h.authPluginData.subarray(0, 8)).u8(0);
  w.u16(h.capabilities & 0xffff).u8(h.characterSet).u16(h.statusFlags).u16(h.capabilities >>> 16);
  w.u8(h.authPluginDataLength).bytes(h.reserved).u32(h.mariaCapabilities);
  if (h.capabilities & Cap.SecureConnection) w.bytes(h.authPluginData.subarray(8));
  if (h.authPluginName !== null) w.cstring(h.authPluginName);
  return w.finish();
}

export function encodeSSLRequest(f: { capabilities: number; maxPacketSize: number; characterSet: number; mariaCapabilities: number }): Buffer {
  return new PayloadWriter(32).u32(f.capabilities).u32(f.maxPacketSize).u8(f.characterSet).bytes(Buffer.alloc(19)).u32(f.mariaCapabilities).finish();
}

export function encodeHandshakeResponse41(h: HandshakeResponse41): Buffer {
  const w = new PayloadWriter(128).u32(h.capabilities).u32(h.maxPacketSize).u8(h.characterSet).bytes(h.filler).u32(h.mariaCapabilities);
  w.cstring(h.user);
  if (h.capabilities & Cap.PluginAuthLenencData) w.lenencBytes(h.authResponse);
  else if (h.capabilities & Cap.SecureConnection) w.u8(h.authResponse.length).bytes(h.authResponse);
  else w.bytes(h.authResponse).u8(0);
  if (h.database !== undefined) w.cstring(h.database);
  if (h.authPluginName !== undefined) w.cstring(h.authPluginName);
  if (h.attributes !== undefined) w.lenencBytes(encodeAttributes(h.attributes));
  if (h.zstdLevel !== undefined) w.u8(h.zstdLevel);
  return w.bytes(h.extra).finish();
}

function encodeAttributes(attrs: [string, string][]): Buffer {
  const a = new PayloadWriter();
  for (const [k, v] of attrs) a.lenencString(k).lenencString(v);
  return a.finish();
}

export function encodeAuthSwitchRequest(pluginName: string, pluginData: Buffer): Buffer {
  return new PayloadWriter(pluginName.length + pluginData.length + 2).u8(Header.Eof).cstring(pluginName).bytes(pluginData).finish();
}

/** AuthMoreData: 0x01 then plugin-specific bytes (e.g. a PEM public key). */
export function encodeAuthMoreData(data: Uint8Array): Buffer {
  return new PayloadWriter(data.length + 1).u8(Header.MoreData).bytes(data).finish();
}

// ---- result sets ----

export function encodeColumnCount(n: number): Buffer {
  return new PayloadWriter(9).lenenc(n).finish();
}

export function encodeColumnDefinition(d: ColumnDefinition, extendedMetadata = false, fieldList = false): Buffer {
  const w = new PayloadWriter(64 + d.name.length + d.orgName.length + d.table.length + d.orgTable.length + d.schema.length);
  w.lenencString(d.catalog).lenencString(d.schema).lenencString(d.table).lenencString(d.orgTable).lenencString(d.name).lenencString(d.orgName);
  if (extendedMetadata) {
    const x = new PayloadWriter();
    if (d.extendedTypeName !== undefined) x.u8(0).lenencString(d.extendedTypeName);
    if (d.extendedFormat !== undefined) x.u8(1).lenencString(d.extendedFormat);
    w.lenencBytes(x.finish());
  }
  w.lenenc(0x0c).u16(d.characterSet).u32(d.columnLength).u8(d.type).u16(d.flags).u8(d.decimals).u16(0);
  if (fieldList && d.defaultValue !== undefined) {
    if (d.defaultValue === null) w.u8(0xfb);
    else w.lenencBytes(d.defaultValue);
  }
  return w.finish();
}

export function encodeStmtPrepareOk(f: { statementId: number; columns: number; params: number; warnings?: number }): Buffer {
  return new PayloadWriter(12).u8(Header.Ok).u32(f.statementId).u16(f.columns).u16(f.params).u8(0).u16(f.warnings ?? 0).finish();
}

/** Protocol::ResultsetRow: each value a length-encoded string, NULL as 0xFB. */
export function encodeTextRow(values: (Uint8Array | string | null)[]): Buffer {
  const w = new PayloadWriter();
  for (const v of values) {
    if (v === null) w.u8(0xfb);
    else w.lenencBytes(typeof v === 'string' ? Buffer.from(v, 'utf8') : v);
  }
  return w.finish();
}

/** Protocol::BinaryResultsetRow for columns of `types`; values as `decodeBinaryValue` returns them. */
export function encodeBinaryRow(types: ArrayLike<number>, values: BinaryValue[]): Buffer {
  const w = new PayloadWriter().u8(0x00);
  const bitmap = Buffer.alloc(binaryRowNullBitmapLength(types.length));
  values.forEach((v, i) => {
    if (v === null) bitmap[(i + 2) >>> 3]! |= 1 << ((i + 2) & 7);
  });
  w.bytes(bitmap);
  for (let i = 0; i < types.length; i++) {
    const v = values[i];
    if (v !== null && v !== undefined) writeBinaryValue(w, types[i]!, v);
  }
  return w.finish();
}

export function writeBinaryValue(w: PayloadWriter, type: number, v: Exclude<BinaryValue, null>): void {
  const fixed = binaryFixedSize(type);
  if (fixed > 0) {
    const b = Buffer.alloc(fixed);
    if (type === ColumnType.Float) b.writeFloatLE(Number(v));
    else if (type === ColumnType.Double) b.writeDoubleLE(Number(v));
    else if (type === ColumnType.LongLong) b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v as number | bigint)));
    else b.writeUIntLE(Number(BigInt.asUintN(fixed * 8, BigInt(v as number | bigint))), 0, fixed);
    w.bytes(b);
    return;
  }
  if (fixed === 0) return;
  if (Buffer.isBuffer(v)) {
    w.lenencBytes(v);
    return;
  }
  if (typeof v === 'object' && 'days' in v) return writeTime(w, v);
  if (typeof v === 'object' && 'year' in v) return writeDateTime(w, type, v);
  throw new TypeError(`cannot encode ${typeof v} as column type ${type}`);
}

/** Shortest form: 0 bytes for zero, 4 for a date, 7 with a time of day, 11 with microseconds. */
function writeDateTime(w: PayloadWriter, type: number, d: MyDateTime): void {
  const hasTime = d.hour || d.minute || d.second || d.microsecond;
  const n = d.microsecond ? 11 : hasTime ? 7 : d.year || d.month || d.day ? 4 : 0;
  const len = type === ColumnType.Date || type === ColumnType.NewDate ? Math.min(n, 4) : n;
  w.u8(len);
  if (len >= 4) w.u16(d.year).u8(d.month).u8(d.day);
  if (len >= 7) w.u8(d.hour).u8(d.minute).u8(d.second);
  if (len >= 11) w.u32(d.microsecond);
}

function writeTime(w: PayloadWriter, t: MyTime): void {
  const zero = !t.days && !t.hours && !t.minutes && !t.seconds && !t.microseconds;
  const len = zero ? 0 : t.microseconds ? 12 : 8;
  w.u8(len);
  if (len >= 8) w.u8(t.negative ? 1 : 0).u32(t.days).u8(t.hours).u8(t.minutes).u8(t.seconds);
  if (len >= 12) w.u32(t.microseconds);
}

// ---- commands (what clients send; used by tests and the scripted server) ----

export function encodeCommandText(command: Command, text: string): Buffer {
  return new PayloadWriter(text.length + 1).u8(command).string(text).finish();
}

export function encodeStatementCommand(command: Command, statementId: number, extra?: Buffer): Buffer {
  const w = new PayloadWriter(9).u8(command).u32(statementId);
  if (extra) w.bytes(extra);
  return w.finish();
}

export function encodeStmtFetch(statementId: number, rows: number): Buffer {
  return new PayloadWriter(9).u8(Command.StmtFetch).u32(statementId).u32(rows).finish();
}

/** COM_STMT_EXECUTE with parameters sent with their types (`new params bound`); values as for binary rows. */
export function encodeStmtExecute(statementId: number, flags: number, params: { type: number; unsigned?: boolean; value: BinaryValue }[]): Buffer {
  const w = new PayloadWriter().u8(Command.StmtExecute).u32(statementId).u8(flags).u32(1);
  if (params.length > 0) {
    const bitmap = Buffer.alloc((params.length + 7) >>> 3);
    params.forEach((p, i) => {
      if (p.value === null) bitmap[i >>> 3]! |= 1 << (i & 7);
    });
    w.bytes(bitmap).u8(1);
    for (const p of params) w.u8(p.type).u8(p.unsigned ? 0x80 : 0);
    for (const p of params) if (p.value !== null) writeBinaryValue(w, p.type, p.value);
  }
  return w.finish();
}
