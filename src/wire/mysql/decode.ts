// Decoders for the MySQL/MariaDB packets the proxy inspects (MySQL "Client/Server Protocol" documentation;
// MariaDB "Client/Server Protocol" pages for its extensions). Each takes a payload as (buf, start, end),
// without the 4-byte packet header, and returns a small object. Row packets are not decoded into objects:
// `textRowValues` and `binaryRowValues` fill an offsets array instead; `decodeBinaryValue` reads one value.
import { WireError } from '../bytes.js';
import { Cap, ColumnFlag, ColumnType, Header, Status, progressReportCode } from './packets.js';
import { PayloadReader, lenencSize, readLenenc } from './reader.js';

// ---- connection phase ----

/** Protocol::HandshakeV10, the server's greeting. Keeps every byte so that re-encoding it is exact. */
export interface HandshakeV10 {
  protocolVersion: number;
  serverVersion: string;
  connectionId: number;
  /** auth-plugin-data part 1 (8 bytes) then part 2 as sent (usually 12 bytes and a NUL). */
  authPluginData: Buffer;
  /** Capability flags, lower 32 bits, unsigned. */
  capabilities: number;
  characterSet: number;
  statusFlags: number;
  /** The auth-plugin-data length byte as sent. */
  authPluginDataLength: number;
  /** The 6 reserved bytes before MariaDB's extended capabilities. */
  reserved: Buffer;
  /** MariaDB extended capabilities; meaningful only when `capabilities` lacks Cap.Mysql. */
  mariaCapabilities: number;
  authPluginName: string | null;
}

export function decodeHandshakeV10(buf: Buffer, start: number, end: number): HandshakeV10 {
  const r = new PayloadReader(buf, start, end, 'HandshakeV10');
  const protocolVersion = r.u8();
  if (protocolVersion !== 10) throw new WireError(`HandshakeV10: protocol version ${protocolVersion}, expected 10`);
  const serverVersion = r.cstring();
  const connectionId = r.u32();
  const part1 = r.bytes(8);
  r.skip(1);
  let capabilities = r.u16();
  const characterSet = r.u8();
  const statusFlags = r.u16();
  capabilities = (capabilities | (r.u16() << 16)) >>> 0;
  const authPluginDataLength = r.u8();
  const reserved = Buffer.from(r.bytes(6));
  const mariaCapabilities = r.u32();
  let part2: Buffer = Buffer.alloc(0);
  if (capabilities & Cap.SecureConnection) part2 = r.bytes(Math.min(r.remaining, Math.max(13, authPluginDataLength - 8)));
  const authPluginName = capabilities & Cap.PluginAuth ? r.cstringOrRest() : null;
  return {
    protocolVersion,
    serverVersion,
    connectionId,
    authPluginData: Buffer.concat([part1, part2]),
    capabilities,
    characterSet,
    statusFlags,
    authPluginDataLength,
    reserved,
    mariaCapabilities,
    authPluginName,
  };
}

/** The 20-byte scramble inside auth-plugin-data (without the NUL that part 2 usually ends with). */
export function scrambleOf(authPluginData: Buffer): Buffer {
  return authPluginData.length > 20 && authPluginData[authPluginData.length - 1] === 0
    ? authPluginData.subarray(0, authPluginData.length - 1)
    : authPluginData;
}

/** Protocol::SSLRequest: the first 32 bytes of a HandshakeResponse41, sent alone with Cap.Ssl set. */
export const sslRequestLength = 32;

export interface HandshakeResponse41 {
  capabilities: number;
  maxPacketSize: number;
  characterSet: number;
  /** The 19 filler bytes before MariaDB's extended capabilities. */
  filler: Buffer;
  mariaCapabilities: number;
  user: string;
  authResponse: Buffer;
  database?: string;
  authPluginName?: string;
  /** Connection attributes in the order sent (program_name, _client_name, ...). */
  attributes?: [string, string][];
  zstdLevel?: number;
  /** Bytes after the fields this decoder knows, kept so that re-encoding is exact. */
  extra: Buffer;
}

export function decodeHandshakeResponse41(buf: Buffer, start: number, end: number): HandshakeResponse41 {
  const r = new PayloadReader(buf, start, end, 'HandshakeResponse41');
  const capabilities = r.u32();
  if (!(capabilities & Cap.Protocol41)) throw new WireError('HandshakeResponse: the pre-4.1 protocol is not supported');
  const maxPacketSize = r.u32();
  const characterSet = r.u8();
  const filler = Buffer.from(r.bytes(19));
  const mariaCapabilities = r.u32();
  const user = r.cstring();
  let authResponse: Buffer;
  if (capabilities & Cap.PluginAuthLenencData) authResponse = Buffer.from(r.lenencBytes());
  else if (capabilities & Cap.SecureConnection) authResponse = Buffer.from(r.bytes(r.u8()));
  else authResponse = Buffer.from(r.cstringBytes());
  const out: HandshakeResponse41 = { capabilities, maxPacketSize, characterSet, filler, mariaCapabilities, user, authResponse, extra: Buffer.alloc(0) };
  if (capabilities & Cap.ConnectWithDb && r.remaining > 0) out.database = r.cstring();
  if (capabilities & Cap.PluginAuth && r.remaining > 0) out.authPluginName = r.cstringOrRest();
  if (capabilities & Cap.ConnectAttrs && r.remaining > 0) out.attributes = readAttributes(r);
  if (capabilities & Cap.ZstdCompression && r.remaining > 0) out.zstdLevel = r.u8();
  out.extra = Buffer.from(r.rest());
  return out;
}

function readAttributes(r: PayloadReader): [string, string][] {
  const len = r.lenenc();
  const a = new PayloadReader(r.buf, r.pos, r.pos + len, 'connection attributes');
  r.skip(len);
  const attrs: [string, string][] = [];
  while (a.remaining > 0) attrs.push([a.lenencString(), a.lenencString()]);
  return attrs;
}

/** The fields of an SSLRequest (also the first 32 bytes of any HandshakeResponse41). */
export function decodeSSLRequest(buf: Buffer, start: number, end: number): { capabilities: number; maxPacketSize: number; characterSet: number; mariaCapabilities: number } {
  const r = new PayloadReader(buf, start, end, 'SSLRequest');
  const capabilities = r.u32();
  const maxPacketSize = r.u32();
  const characterSet = r.u8();
  r.skip(19);
  const mariaCapabilities = r.u32();
  r.done();
  return { capabilities, maxPacketSize, characterSet, mariaCapabilities };
}

export interface AuthSwitchRequest {
  pluginName: string;
  pluginData: Buffer;
}

/** Protocol::AuthSwitchRequest: 0xFE, plugin name, plugin data (a fresh scramble, usually NUL-terminated). */
export function decodeAuthSwitchRequest(buf: Buffer, start: number, end: number): AuthSwitchRequest {
  const r = new PayloadReader(buf, start, end, 'AuthSwitchRequest');
  if (r.u8() !== Header.Eof) throw new WireError('AuthSwitchRequest: expected header 0xFE');
  const pluginName = r.cstringOrRest();
  return { pluginName, pluginData: Buffer.from(r.rest()) };
}

// ---- generic responses ----

export interface OkPacket {
  affectedRows: number;
  lastInsertId: number;
  statusFlags: number;
  warnings: number;
  info: string;
  /** Raw session state changes (Cap.SessionTrack and Status.SessionStateChanged). */
  sessionState?: Buffer;
}

/** OK_Packet, header 0x00 or (with CLIENT_DEPRECATE_EOF, ending rows) 0xFE. */
export function decodeOk(buf: Buffer, start: number, end: number, capabilities: number): OkPacket {
  const r = new PayloadReader(buf, start, end, 'OK packet');
  const header = r.u8();
  if (header !== Header.Ok && header !== Header.Eof) throw new WireError(`OK packet: header 0x${header.toString(16)}`);
  const affectedRows = r.lenenc();
  const lastInsertId = r.lenenc();
  const statusFlags = r.remaining >= 2 ? r.u16() : 0;
  const warnings = r.remaining >= 2 ? r.u16() : 0;
  let info = '';
  let sessionState: Buffer | undefined;
  if (r.remaining > 0) {
    if (capabilities & Cap.SessionTrack) {
      info = r.lenencString();
      if (statusFlags & Status.SessionStateChanged && r.remaining > 0) sessionState = Buffer.from(r.lenencBytes());
    } else {
      info = r.restString();
    }
  }
  return { affectedRows, lastInsertId, statusFlags, warnings, info, sessionState };
}

export interface ErrPacket {
  code: number;
  sqlState: string;
  message: string;
}

/** ERR_Packet (4.1: with '#' and a SQLSTATE; older servers and early handshake errors may omit them). */
export function decodeErr(buf: Buffer, start: number, end: number): ErrPacket {
  const r = new PayloadReader(buf, start, end, 'ERR packet');
  if (r.u8() !== Header.Err) throw new WireError('ERR packet: expected header 0xFF');
  const code = r.u16();
  let sqlState = 'HY000';
  if (r.remaining >= 6 && buf[r.pos] === 0x23) {
    r.skip(1);
    sqlState = r.bytes(5).toString('latin1');
  }
  return { code, sqlState, message: r.restString() };
}

/** True for a MariaDB progress report: an ERR-shaped packet (code 0xFFFF) that is not the end of a response. */
export function isProgressReport(buf: Buffer, start: number, end: number): boolean {
  return end - start >= 3 && buf[start] === Header.Err && buf.readUInt16LE(start + 1) === progressReportCode;
}

/** EOF_Packet: 0xFE, warnings, status flags (payload shorter than 9 bytes). */
export function decodeEof(buf: Buffer, start: number, end: number): { warnings: number; statusFlags: number } {
  const r = new PayloadReader(buf, start, end, 'EOF packet');
  if (r.u8() !== Header.Eof) throw new WireError('EOF packet: expected header 0xFE');
  if (r.remaining < 4) return { warnings: 0, statusFlags: 0 };
  return { warnings: r.u16(), statusFlags: r.u16() };
}

/**
 * Status flags of the packet that ends a response or part of one: an OK packet (`ok`: header 0x00, or 0xFE
 * under CLIENT_DEPRECATE_EOF) or an EOF packet. Without allocating: this runs once per result set.
 */
export function endStatusFlags(buf: Buffer, start: number, end: number, ok: boolean): number {
  if (!ok) return end - start >= 5 ? buf.readUInt16LE(start + 3) : 0;
  let at = start + 1;
  for (let i = 0; i < 2; i++) {
    const v = readLenenc(buf, at, end);
    if (v < 0) throw new WireError('OK packet: truncated');
    at += lenencSize(buf[at]!);
  }
  return at + 2 <= end ? buf.readUInt16LE(at) : 0;
}

// ---- result sets ----

/** The column count that starts a result set. */
export function decodeColumnCount(buf: Buffer, start: number, end: number): number {
  const n = readLenenc(buf, start, end);
  if (n <= 0) throw new WireError('column count: invalid');
  return n;
}

export interface ColumnDefinition {
  catalog: string;
  schema: string;
  /** Table alias, and the table itself (org_table). */
  table: string;
  orgTable: string;
  /** Column alias, and the column itself (org_name). */
  name: string;
  orgName: string;
  /** MariaDB extended metadata (MARIADB_CLIENT_EXTENDED_METADATA): type name (json, uuid, ...) and format. */
  extendedTypeName?: string;
  extendedFormat?: string;
  characterSet: number;
  columnLength: number;
  type: number;
  flags: number;
  decimals: number;
  /** COM_FIELD_LIST only: the column's default value. */
  defaultValue?: Buffer | null;
}

/**
 * Protocol::ColumnDefinition41. `extendedMetadata`: both sides agreed on MariaCap.ExtendedMetadata;
 * `fieldList`: a COM_FIELD_LIST answer, which adds the default value.
 */
export function decodeColumnDefinition(buf: Buffer, start: number, end: number, extendedMetadata = false, fieldList = false): ColumnDefinition {
  const r = new PayloadReader(buf, start, end, 'column definition');
  const catalog = r.lenencString();
  const schema = r.lenencString();
  const table = r.lenencString();
  const orgTable = r.lenencString();
  const name = r.lenencString();
  const orgName = r.lenencString();
  const def: ColumnDefinition = { catalog, schema, table, orgTable, name, orgName, characterSet: 0, columnLength: 0, type: 0, flags: 0, decimals: 0 };
  if (extendedMetadata) {
    const len = r.lenenc();
    const x = new PayloadReader(buf, r.pos, r.pos + len, 'column extended metadata');
    r.skip(len);
    while (x.remaining > 0) {
      const kind = x.u8();
      const value = x.lenencString();
      if (kind === 0) def.extendedTypeName = value;
      else if (kind === 1) def.extendedFormat = value;
    }
  }
  const fixed = r.lenenc();
  if (fixed < 10) throw new WireError(`column definition: fixed-length fields of ${fixed} bytes, expected 12`);
  const f = new PayloadReader(buf, r.pos, r.pos + fixed, 'column definition');
  r.skip(fixed);
  def.characterSet = f.u16();
  def.columnLength = f.u32();
  def.type = f.u8();
  def.flags = f.u16();
  def.decimals = f.u8();
  if (fieldList && r.remaining > 0) {
    const n = r.lenencOrNull();
    def.defaultValue = n === null ? null : Buffer.from(r.bytes(n));
  }
  return def;
}

export interface StmtPrepareOk {
  statementId: number;
  columns: number;
  params: number;
  warnings: number;
}

/** COM_STMT_PREPARE_OK: 0x00, statement id, column count, parameter count, filler, warnings. */
export function decodeStmtPrepareOk(buf: Buffer, start: number, end: number): StmtPrepareOk {
  const r = new PayloadReader(buf, start, end, 'COM_STMT_PREPARE_OK');
  if (r.u8() !== Header.Ok) throw new WireError('COM_STMT_PREPARE_OK: expected header 0x00');
  const statementId = r.u32();
  const columns = r.u16();
  const params = r.u16();
  let warnings = 0;
  if (r.remaining >= 3) {
    r.skip(1);
    warnings = r.u16();
  }
  return { statementId, columns, params, warnings };
}

/**
 * Offsets of the values of a text row (Protocol::ResultsetRow): for column i, `out[2i]` and `out[2i+1]` are
 * the start and end of its bytes in `buf`, or -1 and -1 for NULL. No allocation.
 */
export function textRowValues(buf: Buffer, start: number, end: number, columns: number, out: Int32Array): void {
  let at = start;
  for (let i = 0; i < columns; i++) {
    const n = readLenenc(buf, at, end);
    if (n === -1) {
      out[2 * i] = -1;
      out[2 * i + 1] = -1;
      at++;
      continue;
    }
    if (n < 0) throw new WireError(`text row: column ${i + 1} truncated`);
    at += lenencSize(buf[at]!);
    if (at + n > end) throw new WireError(`text row: column ${i + 1} truncated`);
    out[2 * i] = at;
    out[2 * i + 1] = at + n;
    at += n;
  }
  if (at !== end) throw new WireError(`text row: ${end - at} unexpected trailing bytes`);
}

/** Bytes of the NULL bitmap of a binary row of `columns` columns (its first two bits are unused). */
export function binaryRowNullBitmapLength(columns: number): number {
  return (columns + 7 + 2) >>> 3;
}

/** Size of a fixed-length binary value of `type`; -1 for length-prefixed types (strings, dates, times). */
export function binaryFixedSize(type: number): number {
  switch (type) {
    case ColumnType.Tiny:
      return 1;
    case ColumnType.Short:
    case ColumnType.Year:
      return 2;
    case ColumnType.Long:
    case ColumnType.Int24:
    case ColumnType.Float:
      return 4;
    case ColumnType.LongLong:
    case ColumnType.Double:
      return 8;
    case ColumnType.Null:
      return 0;
    default:
      return -1;
  }
}

/** Dates and times: a binary row carries them as a length byte and that many bytes. */
export function isTemporal(type: number): boolean {
  return (
    type === ColumnType.Date ||
    type === ColumnType.DateTime ||
    type === ColumnType.Timestamp ||
    type === ColumnType.Time ||
    type === ColumnType.NewDate ||
    type === ColumnType.Timestamp2 ||
    type === ColumnType.DateTime2 ||
    type === ColumnType.Time2
  );
}

/**
 * Offsets of the values of a binary row (Protocol::BinaryResultsetRow: 0x00, NULL bitmap with a 2-bit
 * offset, then each non-NULL value in its type's encoding). `types` holds each column's type. Fills `out`
 * as `textRowValues` does; a value's range includes its length prefix (dates, times) except for strings.
 */
export function binaryRowValues(buf: Buffer, start: number, end: number, types: ArrayLike<number>, out: Int32Array): void {
  const columns = types.length;
  if (buf[start] !== 0x00) throw new WireError('binary row: expected header 0x00');
  const bitmap = start + 1;
  let at = bitmap + binaryRowNullBitmapLength(columns);
  if (at > end) throw new WireError('binary row: truncated NULL bitmap');
  for (let i = 0; i < columns; i++) {
    const bit = i + 2;
    if (buf[bitmap + (bit >>> 3)]! & (1 << (bit & 7))) {
      out[2 * i] = -1;
      out[2 * i + 1] = -1;
      continue;
    }
    const type = types[i]!;
    const fixed = binaryFixedSize(type);
    let from = at;
    let len: number;
    if (fixed >= 0) len = fixed;
    else if (isTemporal(type)) {
      if (at >= end) throw new WireError(`binary row: column ${i + 1} truncated`);
      len = 1 + buf[at]!;
    } else {
      const n = readLenenc(buf, at, end);
      if (n < 0) throw new WireError(`binary row: column ${i + 1} truncated`);
      from = at + lenencSize(buf[at]!);
      len = n + (from - at);
    }
    if (at + len > end) throw new WireError(`binary row: column ${i + 1} truncated`);
    out[2 * i] = from;
    out[2 * i + 1] = at + len;
    at += len;
  }
  if (at !== end) throw new WireError(`binary row: ${end - at} unexpected trailing bytes`);
}

/** A DATE, DATETIME or TIMESTAMP value as the binary protocol carries it. */
export interface MyDateTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  microsecond: number;
}

/** A TIME value as the binary protocol carries it (a duration: days may exceed 0, it may be negative). */
export interface MyTime {
  negative: boolean;
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
  microseconds: number;
}

export type BinaryValue = null | number | bigint | Buffer | MyDateTime | MyTime;

/**
 * One value of a binary row, from the range `binaryRowValues` gave. Integers are numbers, except
 * LONGLONG, which is a bigint; strings, decimals, JSON, BIT, ENUM/SET and blobs are Buffers.
 */
export function decodeBinaryValue(type: number, flags: number, buf: Buffer, start: number, end: number): BinaryValue {
  const unsigned = (flags & ColumnFlag.Unsigned) !== 0;
  switch (type) {
    case ColumnType.Tiny:
      return unsigned ? buf.readUInt8(start) : buf.readInt8(start);
    case ColumnType.Short:
      return unsigned ? buf.readUInt16LE(start) : buf.readInt16LE(start);
    case ColumnType.Year:
      return buf.readUInt16LE(start);
    case ColumnType.Long:
    case ColumnType.Int24:
      return unsigned ? buf.readUInt32LE(start) : buf.readInt32LE(start);
    case ColumnType.LongLong:
      return unsigned ? buf.readBigUInt64LE(start) : buf.readBigInt64LE(start);
    case ColumnType.Float:
      return buf.readFloatLE(start);
    case ColumnType.Double:
      return buf.readDoubleLE(start);
    case ColumnType.Null:
      return null;
    case ColumnType.Time:
    case ColumnType.Time2: {
      const n = buf[start]!;
      const t: MyTime = { negative: false, days: 0, hours: 0, minutes: 0, seconds: 0, microseconds: 0 };
      if (n >= 8) {
        t.negative = buf[start + 1] === 1;
        t.days = buf.readUInt32LE(start + 2);
        t.hours = buf[start + 6]!;
        t.minutes = buf[start + 7]!;
        t.seconds = buf[start + 8]!;
      }
      if (n >= 12) t.microseconds = buf.readUInt32LE(start + 9);
      if (n !== 0 && n !== 8 && n !== 12) throw new WireError(`binary row: TIME value of ${n} bytes`);
      return t;
    }
    default:
      if (isTemporal(type)) {
        const n = buf[start]!;
        const d: MyDateTime = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, microsecond: 0 };
        if (n >= 4) {
          d.year = buf.readUInt16LE(start + 1);
          d.month = buf[start + 3]!;
          d.day = buf[start + 4]!;
        }
        if (n >= 7) {
          d.hour = buf[start + 5]!;
          d.minute = buf[start + 6]!;
          d.second = buf[start + 7]!;
        }
        if (n >= 11) d.microsecond = buf.readUInt32LE(start + 8);
        if (n !== 0 && n !== 4 && n !== 7 && n !== 11) throw new WireError(`binary row: date/time value of ${n} bytes`);
        return d;
      }
      return buf.subarray(start, end);
  }
}

// ---- commands ----

/** COM_QUERY / COM_STMT_PREPARE / COM_INIT_DB text after the command byte. */
export function decodeCommandText(buf: Buffer, start: number, end: number): string {
  return buf.toString('utf8', start + 1, end);
}

export interface StmtExecute {
  statementId: number;
  flags: number;
  iterations: number;
}

/** COM_STMT_EXECUTE (and MariaDB's COM_STMT_BULK_EXECUTE) up to the parameters, which need the statement's types. */
export function decodeStmtExecute(buf: Buffer, start: number, end: number): StmtExecute {
  const r = new PayloadReader(buf, start + 1, end, 'COM_STMT_EXECUTE');
  const statementId = r.u32();
  const flags = r.u8();
  const iterations = r.remaining >= 4 ? r.u32() : 1;
  return { statementId, flags, iterations };
}

/** The statement id of COM_STMT_CLOSE, COM_STMT_RESET, COM_STMT_FETCH, COM_STMT_SEND_LONG_DATA. */
export function decodeStatementId(buf: Buffer, start: number, end: number): number {
  if (end - start < 5) throw new WireError('statement command: truncated statement id');
  return buf.readUInt32LE(start + 1);
}

export interface ChangeUser {
  user: string;
  authResponse: Buffer;
  database: string;
  characterSet?: number;
  authPluginName?: string;
  attributes?: [string, string][];
}

/** COM_CHANGE_USER; `capabilities` are those the client and the server agreed on. */
export function decodeChangeUser(buf: Buffer, start: number, end: number, capabilities: number): ChangeUser {
  const r = new PayloadReader(buf, start + 1, end, 'COM_CHANGE_USER');
  const user = r.cstring();
  const authResponse = Buffer.from(capabilities & Cap.SecureConnection ? r.bytes(r.u8()) : r.cstringBytes());
  const database = r.cstring();
  const out: ChangeUser = { user, authResponse, database };
  if (r.remaining >= 2) out.characterSet = r.u16();
  if (capabilities & Cap.PluginAuth && r.remaining > 0) out.authPluginName = r.cstringOrRest();
  if (capabilities & Cap.ConnectAttrs && r.remaining > 0) out.attributes = readAttributes(r);
  return out;
}

/** True when `mariaCapabilities` are meaningful: the peer left Cap.Mysql unset to say it speaks MariaDB. */
export function hasMariaCapabilities(capabilities: number): boolean {
  return (capabilities & Cap.Mysql) === 0;
}

/** The entries of an OK packet's session state information (`OkPacket.sessionState`). */
export function decodeSessionState(state: Buffer): { type: number; data: Buffer }[] {
  const r = new PayloadReader(state, 0, state.length, 'session state');
  const out: { type: number; data: Buffer }[] = [];
  while (r.remaining > 0) out.push({ type: r.u8(), data: r.lenencBytes() });
  return out;
}

/** A SESSION_TRACK_SYSTEM_VARIABLES entry: the variable's name and new value. */
export function decodeSystemVariable(data: Buffer): [string, string] {
  const r = new PayloadReader(data, 0, data.length, 'session state: system variable');
  return [r.lenencString(), r.lenencString()];
}
