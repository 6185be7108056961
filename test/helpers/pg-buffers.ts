// Test-frame builders for PostgreSQL messages, in the manner of node-postgres' pg-protocol
// `testing/test-buffers.ts` (PostgreSQL documentation, "Message Formats"). Written by hand, independent of
// src/wire/postgres/encode.ts, so a round trip through our encoders and decoders is never checked against
// itself. Frontend messages pg-protocol's `serialize` can build come from there; the ones it cannot
// (GSSENCRequest, protocol 3.2 startup and cancel keys, frames with a wrong length) are here.

/** Appends fields, then lays out a typed frame (type byte, int32 length that counts itself) or a startup packet. */
export class BufferList {
  private readonly parts: Buffer[] = [];

  add(b: Buffer | Uint8Array): this {
    this.parts.push(Buffer.from(b));
    return this;
  }
  addByte(n: number): this {
    return this.add(Buffer.from([n & 0xff]));
  }
  addChar(c: string): this {
    return this.add(Buffer.from(c, 'latin1'));
  }
  addInt16(n: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(n & 0xffff);
    return this.add(b);
  }
  addInt32(n: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return this.add(b);
  }
  addString(s: string): this {
    return this.add(Buffer.from(s, 'utf8'));
  }
  addCString(s: string): this {
    return this.addString(s).addByte(0);
  }
  get length(): number {
    let n = 0;
    for (const p of this.parts) n += p.length;
    return n;
  }

  /** A typed message; `length` overrides the length field (to build broken frames). */
  join(type: string | number, length = this.length + 4): Buffer {
    const head = Buffer.alloc(5);
    head[0] = typeof type === 'number' ? type : type.charCodeAt(0);
    head.writeInt32BE(length | 0, 1);
    return Buffer.concat([head, ...this.parts]);
  }

  /** An untyped startup-phase packet; `length` overrides the length field. */
  joinStartup(length = this.length + 4): Buffer {
    const head = Buffer.alloc(4);
    head.writeInt32BE(length | 0, 0);
    return Buffer.concat([head, ...this.parts]);
  }
}

/** A typed frame with any body, and optionally a wrong length field. */
export function frame(type: string | number, body: Buffer = Buffer.alloc(0), length?: number): Buffer {
  return new BufferList().add(body).join(type, length);
}

export interface FieldSpec {
  name: string;
  tableID?: number;
  attributeNumber?: number;
  dataTypeID?: number;
  dataTypeSize?: number;
  typeModifier?: number;
  formatCode?: number;
}

export interface NoticeField {
  type: string;
  value: string;
}

function errorOrNotice(fields: NoticeField[]): BufferList {
  const buf = new BufferList();
  for (const f of fields) buf.addChar(f.type).addCString(f.value);
  return buf.addByte(0);
}

function keyBytes(key: number | Buffer): Buffer {
  if (typeof key !== 'number') return key;
  const b = Buffer.alloc(4);
  b.writeUInt32BE(key >>> 0);
  return b;
}

/** Backend (server to client) messages. */
export const backend = {
  readyForQuery: (status: 'I' | 'T' | 'E' = 'I') => new BufferList().addChar(status).join('Z'),

  authenticationOk: () => new BufferList().addInt32(0).join('R'),
  authenticationKerberosV5: () => new BufferList().addInt32(2).join('R'),
  authenticationCleartextPassword: () => new BufferList().addInt32(3).join('R'),
  authenticationMD5Password: (salt: Buffer = Buffer.from([1, 2, 3, 4])) => new BufferList().addInt32(5).add(salt).join('R'),
  authenticationGSS: () => new BufferList().addInt32(7).join('R'),
  authenticationGSSContinue: (data: Buffer) => new BufferList().addInt32(8).add(data).join('R'),
  authenticationSSPI: () => new BufferList().addInt32(9).join('R'),
  authenticationSASL: (mechanisms: string[] = ['SCRAM-SHA-256']) => {
    const buf = new BufferList().addInt32(10);
    for (const m of mechanisms) buf.addCString(m);
    return buf.addByte(0).join('R');
  },
  authenticationSASLContinue: (data: Buffer | string = 'data') =>
    new BufferList().addInt32(11).add(Buffer.from(data)).join('R'),
  authenticationSASLFinal: (data: Buffer | string = 'data') => new BufferList().addInt32(12).add(Buffer.from(data)).join('R'),

  parameterStatus: (name: string, value: string) => new BufferList().addCString(name).addCString(value).join('S'),
  /** `key` as an int32 (protocol 3.0) or as bytes (3.2 allows up to 256). */
  backendKeyData: (processID: number, key: number | Buffer) => new BufferList().addInt32(processID).add(keyBytes(key)).join('K'),
  negotiateProtocolVersion: (minor: number, unrecognized: string[] = []) => {
    const buf = new BufferList().addInt32(minor).addInt32(unrecognized.length);
    for (const o of unrecognized) buf.addCString(o);
    return buf.join('v');
  },

  commandComplete: (tag: string) => new BufferList().addCString(tag).join('C'),
  rowDescription: (fields: FieldSpec[] = []) => {
    const buf = new BufferList().addInt16(fields.length);
    for (const f of fields) {
      buf
        .addCString(f.name)
        .addInt32(f.tableID ?? 0)
        .addInt16(f.attributeNumber ?? 0)
        .addInt32(f.dataTypeID ?? 0)
        .addInt16(f.dataTypeSize ?? 0)
        .addInt32(f.typeModifier ?? 0)
        .addInt16(f.formatCode ?? 0);
    }
    return buf.join('T');
  },
  parameterDescription: (dataTypeIDs: number[] = []) => {
    const buf = new BufferList().addInt16(dataTypeIDs.length);
    for (const id of dataTypeIDs) buf.addInt32(id);
    return buf.join('t');
  },
  /** Columns as text (UTF-8) or raw bytes; null is SQL NULL (length -1). */
  dataRow: (columns: (string | Buffer | null)[] = []) => {
    const buf = new BufferList().addInt16(columns.length);
    for (const col of columns) {
      if (col === null) buf.addInt32(-1);
      else {
        const bytes = typeof col === 'string' ? Buffer.from(col, 'utf8') : col;
        buf.addInt32(bytes.length).add(bytes);
      }
    }
    return buf.join('D');
  },
  error: (fields: NoticeField[]) => errorOrNotice(fields).join('E'),
  notice: (fields: NoticeField[]) => errorOrNotice(fields).join('N'),
  notification: (processID: number, channel: string, payload: string) =>
    new BufferList().addInt32(processID).addCString(channel).addCString(payload).join('A'),

  parseComplete: () => new BufferList().join('1'),
  bindComplete: () => new BufferList().join('2'),
  closeComplete: () => new BufferList().join('3'),
  noData: () => new BufferList().join('n'),
  emptyQuery: () => new BufferList().join('I'),
  portalSuspended: () => new BufferList().join('s'),

  copyIn: (cols: number) => copyResponse('G', cols),
  copyOut: (cols: number) => copyResponse('H', cols),
  copyData: (bytes: Buffer) => new BufferList().add(bytes).join('d'),
  copyDone: () => new BufferList().join('c'),
};

function copyResponse(type: string, cols: number): Buffer {
  const buf = new BufferList().addByte(0).addInt16(cols);
  for (let i = 0; i < cols; i++) buf.addInt16(0);
  return buf.join(type);
}

/** Frontend (client to server) messages pg-protocol's `serialize` does not build. */
export const frontend = {
  /** StartupMessage with any protocol version (major in the high 16 bits, minor in the low 16). */
  startup: (params: Record<string, string>, major = 3, minor = 0) => {
    const buf = new BufferList().addInt32((major << 16) | minor);
    for (const [k, v] of Object.entries(params)) buf.addCString(k).addCString(v);
    return buf.addByte(0).joinStartup();
  },
  sslRequest: () => new BufferList().addInt32(80877103).joinStartup(),
  gssencRequest: () => new BufferList().addInt32(80877104).joinStartup(),
  cancelRequest: (processID: number, key: number | Buffer) =>
    new BufferList().addInt32(80877102).addInt32(processID).add(keyBytes(key)).joinStartup(),
  functionCall: (oid: number, args: (Buffer | null)[]) => {
    const buf = new BufferList().addInt32(oid).addInt16(1).addInt16(1).addInt16(args.length);
    for (const a of args) {
      if (a === null) buf.addInt32(-1);
      else buf.addInt32(a.length).add(a);
    }
    return buf.addInt16(1).join('F');
  },
};
