// Decoders for the PostgreSQL messages policy and masking need (PostgreSQL documentation, "Message Formats").
// Each takes a whole message as (buf, start, end), type byte included (none for startup messages), and
// returns a small object. Row-path messages (DataRow) are not decoded into objects: see `dataRowColumns`.
import { BodyReader, WireError } from '../bytes.js';
import { AuthCode, StartupCode } from './messages.js';

function body(buf: Buffer, start: number, end: number, what: string): BodyReader {
  return new BodyReader(buf, start + 5, end, what);
}

// ---- startup phase ----

export type StartupPacket =
  | { kind: 'startup'; major: number; minor: number; params: Map<string, string> }
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; processId: number; key: Buffer };

export function decodeStartupPacket(buf: Buffer, start: number, end: number): StartupPacket {
  const r = new BodyReader(buf, start + 4, end, 'startup packet');
  const code = r.i32();
  if (code === StartupCode.sslRequest) return { kind: 'ssl' };
  if (code === StartupCode.gssencRequest) return { kind: 'gssenc' };
  if (code === StartupCode.cancelRequest) return { kind: 'cancel', processId: r.i32(), key: Buffer.from(r.rest()) };
  const params = new Map<string, string>();
  for (;;) {
    const name = r.cstring();
    if (name === '') break;
    params.set(name, r.cstring());
  }
  r.done();
  return { kind: 'startup', major: code >>> 16, minor: code & 0xffff, params };
}

// ---- frontend ----

export function decodeQuery(buf: Buffer, start: number, end: number): { sql: string } {
  const r = body(buf, start, end, 'Query');
  const sql = r.cstring();
  r.done();
  return { sql };
}

export interface Parse {
  statement: string;
  sql: string;
  paramTypes: number[];
}

export function decodeParse(buf: Buffer, start: number, end: number): Parse {
  const r = body(buf, start, end, 'Parse');
  const statement = r.cstring();
  const sql = r.cstring();
  // Counts are unsigned, as the server reads them (pq_getmsgint(msg, 2)): read signed, 0xFFFF would be -1,
  // so the proxy would see no parameters where the server sees 65535.
  const n = r.u16();
  const paramTypes: number[] = [];
  for (let i = 0; i < n; i++) paramTypes.push(r.u32());
  r.done();
  return { statement, sql, paramTypes };
}

export interface Bind {
  portal: string;
  statement: string;
  paramFormats: number[];
  /** Parameter values: null for SQL NULL. Views into the message, not copies. */
  params: (Buffer | null)[];
  resultFormats: number[];
}

export function decodeBind(buf: Buffer, start: number, end: number): Bind {
  const r = body(buf, start, end, 'Bind');
  const portal = r.cstring();
  const statement = r.cstring();
  const paramFormats: number[] = [];
  for (let i = 0, n = r.u16(); i < n; i++) paramFormats.push(r.i16());
  const params: (Buffer | null)[] = [];
  for (let i = 0, n = r.u16(); i < n; i++) {
    const len = r.i32();
    params.push(len === -1 ? null : r.bytes(len));
  }
  const resultFormats: number[] = [];
  for (let i = 0, n = r.u16(); i < n; i++) resultFormats.push(r.i16());
  r.done();
  return { portal, statement, paramFormats, params, resultFormats };
}

/** Describe and Close share a layout: 'S' (statement) or 'P' (portal), then a name. */
export function decodeTarget(buf: Buffer, start: number, end: number): { target: 'S' | 'P'; name: string } {
  const r = body(buf, start, end, buf[start] === 0x44 ? 'Describe' : 'Close');
  const t = r.u8();
  if (t !== 0x53 && t !== 0x50) throw new WireError(`expected 'S' or 'P', got ${t}`);
  const name = r.cstring();
  r.done();
  return { target: t === 0x53 ? 'S' : 'P', name };
}

export function decodeExecute(buf: Buffer, start: number, end: number): { portal: string; maxRows: number } {
  const r = body(buf, start, end, 'Execute');
  const portal = r.cstring();
  const maxRows = r.i32();
  r.done();
  return { portal, maxRows };
}

export function decodeCopyFail(buf: Buffer, start: number, end: number): { message: string } {
  const r = body(buf, start, end, 'CopyFail');
  const message = r.cstring();
  r.done();
  return { message };
}

/** CopyData (either direction): the payload as a view into the message. */
export function copyDataPayload(buf: Buffer, start: number, end: number): Buffer {
  return buf.subarray(start + 5, end);
}

// ---- backend ----

export type Authentication =
  | { code: typeof AuthCode.ok | typeof AuthCode.cleartextPassword | typeof AuthCode.kerberosV5 | typeof AuthCode.gss | typeof AuthCode.sspi }
  | { code: typeof AuthCode.md5Password; salt: Buffer }
  | { code: typeof AuthCode.sasl; mechanisms: string[] }
  | { code: typeof AuthCode.saslContinue | typeof AuthCode.saslFinal | typeof AuthCode.gssContinue; data: Buffer };

export function decodeAuthentication(buf: Buffer, start: number, end: number): Authentication {
  const r = body(buf, start, end, 'Authentication');
  const code = r.i32();
  switch (code) {
    case AuthCode.md5Password:
      return { code, salt: Buffer.from(r.bytes(4)) };
    case AuthCode.sasl: {
      const mechanisms: string[] = [];
      for (;;) {
        const m = r.cstring();
        if (m === '') break;
        mechanisms.push(m);
      }
      return { code, mechanisms };
    }
    case AuthCode.saslContinue:
    case AuthCode.saslFinal:
    case AuthCode.gssContinue:
      return { code, data: Buffer.from(r.rest()) };
    case AuthCode.ok:
    case AuthCode.cleartextPassword:
    case AuthCode.kerberosV5:
    case AuthCode.gss:
    case AuthCode.sspi:
      return { code };
    default:
      throw new WireError(`unknown authentication request ${code}`);
  }
}

export function decodeBackendKeyData(buf: Buffer, start: number, end: number): { processId: number; key: Buffer } {
  const r = body(buf, start, end, 'BackendKeyData');
  const processId = r.i32();
  // Protocol 3.2 allows keys of up to 256 bytes; 3.0 sends 4.
  return { processId, key: Buffer.from(r.rest()) };
}

export function decodeParameterStatus(buf: Buffer, start: number, end: number): { name: string; value: string } {
  const r = body(buf, start, end, 'ParameterStatus');
  const name = r.cstring();
  const value = r.cstring();
  r.done();
  return { name, value };
}

export type TransactionStatus = 'I' | 'T' | 'E';

export function decodeReadyForQuery(buf: Buffer, start: number, end: number): { status: TransactionStatus } {
  const r = body(buf, start, end, 'ReadyForQuery');
  const s = String.fromCharCode(r.u8());
  r.done();
  if (s !== 'I' && s !== 'T' && s !== 'E') throw new WireError(`ReadyForQuery: unknown status '${s}'`);
  return { status: s };
}

export function decodeCommandComplete(buf: Buffer, start: number, end: number): { tag: string } {
  const r = body(buf, start, end, 'CommandComplete');
  const tag = r.cstring();
  r.done();
  return { tag };
}

/** ErrorResponse and NoticeResponse: field code (a byte) -> value. */
export function decodeFields(buf: Buffer, start: number, end: number): Map<string, string> {
  const r = body(buf, start, end, buf[start] === 0x45 ? 'ErrorResponse' : 'NoticeResponse');
  const fields = new Map<string, string>();
  for (;;) {
    const code = r.u8();
    if (code === 0) break;
    fields.set(String.fromCharCode(code), r.cstring());
  }
  r.done();
  return fields;
}

export interface FieldDescription {
  name: string;
  tableOid: number;
  column: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  format: number;
}

/** Decoded once per result set, never per row. */
export function decodeRowDescription(buf: Buffer, start: number, end: number): FieldDescription[] {
  const r = body(buf, start, end, 'RowDescription');
  const n = r.i16();
  const fields: FieldDescription[] = [];
  for (let i = 0; i < n; i++) {
    fields.push({
      name: r.cstring(),
      tableOid: r.u32(),
      column: r.i16(),
      typeOid: r.u32(),
      typeSize: r.i16(),
      typeModifier: r.i32(),
      format: r.i16(),
    });
  }
  r.done();
  return fields;
}

/**
 * Locates the columns of a DataRow without allocating: writes each column's value offset into `offsets[i]`
 * and its length into `lengths[i]` (-1 for NULL). Returns the column count.
 */
export function dataRowColumns(buf: Buffer, start: number, end: number, offsets: Int32Array, lengths: Int32Array): number {
  if (end - start < 7) throw new WireError('DataRow: truncated');
  const n = buf.readInt16BE(start + 5);
  if (n < 0 || n > offsets.length) throw new WireError(`DataRow: ${n} columns, expected at most ${offsets.length}`);
  let pos = start + 7;
  for (let i = 0; i < n; i++) {
    if (pos + 4 > end) throw new WireError('DataRow: truncated');
    const len = buf.readInt32BE(pos);
    pos += 4;
    offsets[i] = pos;
    lengths[i] = len;
    if (len > 0) pos += len;
    else if (len < -1) throw new WireError(`DataRow: invalid length ${len}`);
    if (pos > end) throw new WireError('DataRow: truncated');
  }
  if (pos !== end) throw new WireError('DataRow: trailing bytes');
  return n;
}

/** Bind's names and result-format codes, stepping over the parameter values without slicing them. */
export function decodeBindResultFormats(buf: Buffer, start: number, end: number): { portal: string; statement: string; resultFormats: number[] } {
  const r = body(buf, start, end, 'Bind');
  const portal = r.cstring();
  const statement = r.cstring();
  const paramFormats = r.u16();
  r.pos += 2 * paramFormats;
  for (let i = 0, n = r.u16(); i < n; i++) {
    const len = r.i32();
    if (len < -1) throw new WireError('Bind: negative length');
    if (len > 0) r.pos += len;
  }
  const resultFormats: number[] = [];
  for (let i = 0, n = r.u16(); i < n; i++) resultFormats.push(r.i16());
  r.done();
  return { portal, statement, resultFormats };
}

/** Bind's portal and statement names only: what the session tracks on every Bind, without decoding values. */
export function decodeBindNames(buf: Buffer, start: number, end: number): { portal: string; statement: string } {
  const r = body(buf, start, end, 'Bind');
  return { portal: r.cstring(), statement: r.cstring() };
}
