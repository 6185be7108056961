// Encoders for what sqlwarden itself sends: its own errors and notices, the answers to SSLRequest and
// GSSENCRequest, the rewritten SASL mechanism list, and (towards the server) SSLRequest, CancelRequest and
// the Describes masking asks for. Built on pg-protocol's Writer and serializer, which lay out a type byte and
// a length for us.
import { serialize } from 'pg-protocol';
import { Writer } from 'pg-protocol/dist/buffer-writer.js';
import { AuthCode, Back, StartupCode } from './messages.js';
import type { FieldDescription, TransactionStatus } from './decode.js';

/** The single byte that answers SSLRequest and GSSENCRequest. */
export const sslAccepted = Buffer.from('S');
export const sslRefused = Buffer.from('N');

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'DEBUG' | 'INFO' | 'LOG';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

function fieldsMessage(type: number, f: ErrorFields): Buffer {
  const w = new Writer();
  // 'S' localized severity and 'V' the non-localized one, as servers since 9.6 send both.
  w.addString('S').addCString(f.severity);
  w.addString('V').addCString(f.severity);
  w.addString('C').addCString(f.code);
  w.addString('M').addCString(f.message);
  if (f.detail) w.addString('D').addCString(f.detail);
  if (f.hint) w.addString('H').addCString(f.hint);
  w.add(Buffer.from([0]));
  return w.flush(type);
}

export function encodeErrorResponse(f: ErrorFields): Buffer {
  return fieldsMessage(Back.ErrorResponse, f);
}

export function encodeNoticeResponse(f: ErrorFields): Buffer {
  return fieldsMessage(Back.NoticeResponse, f);
}

/** Re-encodes an ErrorResponse/NoticeResponse from decoded fields (field order kept). */
export function encodeFields(type: number, fields: Map<string, string>): Buffer {
  const w = new Writer();
  for (const [code, value] of fields) w.addString(code).addCString(value);
  w.add(Buffer.from([0]));
  return w.flush(type);
}

export function encodeReadyForQuery(status: TransactionStatus): Buffer {
  return new Writer().addString(status).flush(Back.ReadyForQuery);
}

export function encodeAuthenticationSASL(mechanisms: string[]): Buffer {
  const w = new Writer().addInt32(AuthCode.sasl);
  for (const m of mechanisms) w.addCString(m);
  w.add(Buffer.from([0]));
  return w.flush(Back.Authentication);
}

export function encodeRowDescription(fields: FieldDescription[]): Buffer {
  const w = new Writer().addInt16(fields.length);
  for (const f of fields) {
    w.addCString(f.name).addInt32(f.tableOid | 0).addInt16(f.column).addInt32(f.typeOid | 0);
    w.addInt16(f.typeSize).addInt32(f.typeModifier).addInt16(f.format);
  }
  return w.flush(Back.RowDescription);
}

export function encodeDataRow(values: (Buffer | null)[]): Buffer {
  const w = new Writer().addInt16(values.length);
  for (const v of values) {
    if (v === null) w.addInt32(-1);
    else w.addInt32(v.length).add(v);
  }
  return w.flush(Back.DataRow);
}

export function encodeSSLRequest(): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeInt32BE(8, 0);
  b.writeInt32BE(StartupCode.sslRequest, 4);
  return b;
}

/** CancelRequest with the key as the server gave it (4 bytes in protocol 3.0, longer in 3.2). */
export function encodeCancelRequest(processId: number, key: Buffer): Buffer {
  const b = Buffer.allocUnsafe(12 + key.length);
  b.writeInt32BE(b.length, 0);
  b.writeInt32BE(StartupCode.cancelRequest, 4);
  b.writeInt32BE(processId, 8);
  key.copy(b, 12);
  return b;
}

/** Describe of a portal (the columns of rows an Execute will send). */
export function encodeDescribePortal(portal: string): Buffer {
  return serialize.describe({ type: 'P', name: portal });
}

/** Parse of `sql` as the unnamed statement, its Describe and a Sync: the columns its rows would have, nothing run. */
export function encodeDescribeQuery(sql: string): Buffer {
  return Buffer.concat([serialize.parse({ text: sql }), serialize.describe({ type: 'S', name: '' }), serialize.sync()]);
}
