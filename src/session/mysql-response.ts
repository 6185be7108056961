// Follows the server's response to one command (MySQL documentation, "Command Phase": COM_QUERY Response,
// Text and Binary Resultset, COM_STMT_PREPARE Response, COM_STMT_FETCH, COM_FIELD_LIST) so the session
// knows where it ends, when the server asks for a LOCAL INFILE, which statement id a prepare got, and
// which packets are rows. Rows stream through untouched unless masking (mysql-masking.ts) has something
// to mask in the result; every other packet is small and taken whole. Writes go through the sink in
// protocol order.
//
// With masking on, a result's column count and definition packets are held until all are in, then the
// masking decides: nothing to mask, they go out as they came and the rows stream; otherwise the rewritten
// definitions go out (renumbered as the server numbered the originals) and each row packet is taken whole
// and handed to the masker. Whenever a rewrite changes how many packets something takes (a row of 16 MiB or
// more), the sequence ids of the rest of the response are shifted to match. ERR packets are masked too.
// With a catalog, the columns' origins are resolved first (views to their base tables); when that needs a
// lookup, the held definitions wait for it and the server is not read meanwhile (onPacket returns false
// and drained() waits for the lookup), so no row is sent before masking has decided.
import { WireError } from '../wire/bytes.js';
import * as dec from '../wire/mysql/decode.js';
import { readLenenc } from '../wire/mysql/reader.js';
import { framePayload, payloadLength, payloadOf, physicalPackets, setSequenceIds } from '../wire/mysql/frames.js';
import { Header, Status, maxPacketPayload } from '../wire/mysql/packets.js';
import type { MysqlMasking, MysqlResultColumn } from './mysql-masking.js';

/** What a command's response looks like. */
export type ResponseKind =
  | 'query' // COM_QUERY, COM_PROCESS_INFO: OK, ERR, LOCAL INFILE or text result sets, several with MORE_RESULTS
  | 'execute' // COM_STMT_EXECUTE, COM_STMT_BULK_EXECUTE: as query, binary rows, maybe a cursor
  | 'fetch' // COM_STMT_FETCH: binary rows then EOF, or ERR
  | 'prepare' // COM_STMT_PREPARE: PREPARE_OK with parameter and column definitions, or ERR
  | 'fieldList' // COM_FIELD_LIST: column definitions then EOF, or ERR
  | 'simple'; // one packet: OK, ERR, EOF or COM_STATISTICS's text

export interface ResponseSink {
  /** Bytes for the client, in order. */
  write(bytes: Buffer): void;
  /** The server asks for the LOCAL INFILE named in the packet just written; the client's file follows. */
  localInfile(): void;
  /**
   * A packet ended a response or part of one with these status flags: an OK packet (`ok`, whose payload is
   * `buf[start, end)`, where session state changes are) or an EOF.
   */
  status(flags: number, buf: Buffer, start: number, end: number, ok: boolean): void;
  /**
   * A statement's outcome (for the audit): a result set ended (`rows` read), an OK (`rows` affected), or an
   * ERR (`error`, with the values it quotes masked). One per statement of a multi-statement query.
   * `maskedCells`: the result had something to mask; settles with the cells masked by rule once its rows are out.
   */
  outcome(rows: number, error?: string, maskedCells?: Promise<Record<string, number>> | null): void;
  /** COM_STMT_PREPARE succeeded (or failed: id -1). */
  prepared(statementId: number): void;
  /** The response ended: the client may send its next command. */
  done(): void;
}

const enum St {
  Idle,
  First,
  Columns,
  MetaEof,
  Rows,
  PrepareDefs,
  FieldList,
  Simple,
}

/** Column definitions kept per place for the next result (see columnOf). */
const memoColumns = 64;

export class ResponseReader {
  /** Agreed capabilities that change the shape of responses. */
  deprecateEof = false;
  extendedMetadata = false;

  private st = St.Idle;
  private kind: ResponseKind = 'simple';
  private cursor = false;
  private statementId = 0;
  private left = 0;
  /** Prepare: column definitions after the parameter definitions. */
  private prepareColumns = 0;
  private prepareEofs = 0;
  private prepareInColumns = false;

  /** With masking on, a result's column count and definitions, held until all are in, and its columns. */
  private meta: Buffer[] = [];
  private columns: MysqlResultColumn[] = [];
  /** By place, the last column definitions decoded (payload bytes) and their columns (see columnOf). */
  private lastDefinitions: ({ bytes: Buffer; format: number; column: MysqlResultColumn } | undefined)[] = [];
  /** Sequence ids to add to the server's, after a rewrite changed how many packets something took. */
  private seqShift = 0;
  /** Rows of the result under way, and whether this response's outcomes are statements' (not a ping's). */
  private rowCount = 0;
  private outcomes = false;
  /** A result whose columns' origins are being looked up: the rest of the response waits for it. */
  private waiting: Promise<void> | null = null;

  constructor(
    private readonly sink: ResponseSink,
    /** null: masking is off, every byte passes as it came. */
    private readonly masking: MysqlMasking | null,
  ) {}

  get idle(): boolean {
    return this.st === St.Idle;
  }

  /** A command went upstream; `statement`: its one-packet answer is a statement's outcome (COM_DROP_DB...). */
  begin(kind: ResponseKind, opts: { cursor?: boolean; statementId?: number; statement?: boolean } = {}): void {
    this.kind = kind;
    this.rowCount = 0;
    this.outcomes = kind === 'query' || kind === 'execute' || kind === 'fetch' || (opts.statement ?? false);
    this.cursor = opts.cursor ?? false;
    this.statementId = opts.statementId ?? 0;
    this.seqShift = 0;
    switch (kind) {
      case 'fieldList':
        this.st = St.FieldList;
        break;
      case 'simple':
        this.st = St.Simple;
        break;
      case 'fetch':
        this.st = St.Rows;
        this.masking?.beginFetch(this.statementId, this.extendedMetadata);
        break;
      default:
        this.st = St.First;
    }
  }

  /** Statements closed or reset on the server: their cursors are gone. */
  forget(statementId?: number): void {
    this.masking?.forget(statementId);
  }

  /** For the framer: rows stream through; everything else, and rows being masked or renumbered, comes whole. */
  onHeader(first: number, length: number): boolean {
    if (this.st !== St.Rows) return true;
    if ((first === Header.Eof && length < maxPacketPayload) || first === Header.Err) return true;
    this.rowCount++;
    return (this.masking !== null && this.masking.active) || this.seqShift !== 0;
  }

  /** Rows are being masked and keep their sequence ids: they may come in runs (`onRows`). */
  get rowRun(): boolean {
    return this.st === St.Rows && this.seqShift === 0 && this.masking !== null && this.masking.active;
  }

  /** `count` whole single-packet rows back to back (see rowRun). False: as onPacket. */
  onRows(buf: Buffer, start: number, end: number, count: number): boolean {
    this.rowCount += count;
    return this.masking!.rows(buf, start, end);
  }

  /** A whole packet of the response. Returns false when masking is full: stop reading the server until `drained()`. */
  onPacket(buf: Buffer, start: number, end: number, parts: number): boolean {
    const first = end - start > 4 ? buf[start + 4]! : -1;
    switch (this.st) {
      case St.Idle:
        // Unsolicited: an ERR before the server closes the connection (shutdown, timeout, KILL).
        if (first === Header.Err) this.writeErr(buf, start, end);
        else this.sink.write(buf.subarray(start, end));
        return true;
      case St.Simple:
        if (first === Header.Ok || first === Header.Eof) this.endStatus(buf, start, end, first === Header.Ok || this.deprecateEof);
        if (first === Header.Err) this.errorOutcome(this.writeErr(buf, start, end));
        else {
          if (first === Header.Ok && this.outcomes) this.sink.outcome(affectedRows(buf, start, end));
          this.write(buf, start, end);
        }
        this.finish();
        return true;
      case St.First:
        this.onFirst(first, buf, start, end);
        return true;
      case St.Columns:
        return this.onColumn(buf, start, end);
      case St.MetaEof: {
        const status = this.endStatus(buf, start, end, false);
        this.write(buf, start, end);
        if (this.cursor && status & Status.CursorExists) this.endResult(status);
        else this.st = St.Rows;
        return true;
      }
      case St.Rows:
        return this.onRow(first, buf, start, end, parts);
      case St.PrepareDefs:
        return this.onPrepareDef(buf, start, end);
      case St.FieldList:
        if (first === Header.Eof) this.endStatus(buf, start, end, this.deprecateEof);
        if (first === Header.Err) this.writeErr(buf, start, end);
        else this.write(buf, start, end);
        if (first === Header.Err || (first === Header.Eof && end - start - 4 < maxPacketPayload)) this.finish();
        return true;
    }
  }

  /** After onPacket returned false: resolves when masking has room again. */
  drained(): Promise<void> {
    const m = this.masking;
    if (!m) return Promise.resolve();
    const waiting = this.waiting;
    if (!waiting) return m.drained();
    this.waiting = null;
    return waiting.then(() => (m.full ? m.drained() : undefined));
  }

  /**
   * Runs `use` with the columns' origins: now (true), or once the catalog has looked them up (false: the
   * caller stops reading the server; drained() resolves after `use` ran).
   */
  private withOrigins(masking: MysqlMasking, use: (columns: MysqlResultColumn[]) => void): boolean {
    const columns = masking.origins(this.columns);
    if (!(columns instanceof Promise)) {
      use(columns);
      return true;
    }
    // Taken by the drained() call that follows the false; a prepare's end is chained on first.
    this.waiting = columns.then(use).catch((err: Error) => masking.fail(err));
    return false;
  }

  private onFirst(first: number, buf: Buffer, start: number, end: number): void {
    if (first === Header.Err) {
      if (dec.isProgressReport(buf, start + 4, end)) return this.write(buf, start, end);
      const err = this.writeErr(buf, start, end);
      if (this.kind === 'prepare') this.sink.prepared(-1);
      this.errorOutcome(err);
      return this.finish();
    }
    if (first === Header.Ok) {
      if (this.kind === 'prepare') return this.onPrepareOk(buf, start, end);
      const status = this.endStatus(buf, start, end, true);
      if (this.outcomes) this.sink.outcome(affectedRows(buf, start, end));
      this.write(buf, start, end);
      if (!(status & Status.MoreResultsExist)) this.finish();
      return;
    }
    if (first === Header.LocalInfile && this.kind === 'query') {
      this.write(buf, start, end);
      // The server's OK or ERR comes after the client has sent the file.
      return this.sink.localInfile();
    }
    if (first === Header.Eof) {
      this.write(buf, start, end);
      return this.finish();
    }
    const n = dec.decodeColumnCount(buf, start + 4, end);
    this.left = n;
    this.rowCount = 0;
    this.st = St.Columns;
    if (this.masking) {
      this.meta = [buf.subarray(start, end)];
      this.columns = [];
    } else this.write(buf, start, end);
  }

  private onColumn(buf: Buffer, start: number, end: number): boolean {
    if (this.masking) this.holdColumn(buf, start, end, this.kind === 'execute' ? 1 : 0);
    else this.write(buf, start, end);
    if (--this.left > 0) return true;
    this.st = this.deprecateEof ? St.Rows : St.MetaEof;
    return this.masking ? this.beginResult(this.masking) : true;
  }

  /** A column definition packet, held until the result's columns are all known; `format` of its rows. */
  private holdColumn(buf: Buffer, start: number, end: number, format: number): void {
    this.meta.push(buf.subarray(start, end));
    this.columns.push(this.columnOf(buf, start, end, format, this.columns.length));
  }

  /**
   * The column a definition packet describes; decoded again only when the packet differs from the one at the
   * same place in the last result: a session that repeats a query gets the same definitions every time, and
   * comparing their bytes costs less than decoding their names. The columns are frozen, as results share them.
   */
  private columnOf(buf: Buffer, start: number, end: number, format: number, k: number): MysqlResultColumn {
    const known = this.lastDefinitions[k];
    // The 4-byte header's sequence id is the packet's place in the stream, not part of the definition.
    if (known && known.format === format && known.bytes.length === end - start - 4 && buf.compare(known.bytes, 0, known.bytes.length, start + 4, end) === 0) return known.column;
    const column = this.decodeColumn(buf, start, end, format);
    // Kept for the first columns only: a very wide result is not worth holding on to.
    if (k < memoColumns) this.lastDefinitions[k] = { bytes: Buffer.from(buf.subarray(start + 4, end)), format, column };
    return column;
  }

  private decodeColumn(buf: Buffer, start: number, end: number, format: number): MysqlResultColumn {
    const d = dec.decodeColumnDefinition(buf, start + 4, end, this.extendedMetadata);
    return Object.freeze({
      name: d.name,
      schema: d.schema,
      table: d.orgTable,
      originalName: d.orgName,
      type: d.type,
      format,
      characterSet: d.characterSet,
      flags: d.flags,
      decimals: d.decimals,
    });
  }

  /** All column definitions are in: masking decides about this result set (false: once origins are known). */
  private beginResult(masking: MysqlMasking): boolean {
    const meta = this.meta;
    this.meta = [];
    const cursor = this.kind === 'execute' && this.cursor ? this.statementId : undefined;
    return this.withOrigins(masking, (columns) => this.sendDescription(masking, columns, meta, cursor));
  }

  private sendDescription(masking: MysqlMasking, columns: MysqlResultColumn[], meta: Buffer[], cursor: number | undefined): void {
    const description = masking.begin(columns, meta, this.extendedMetadata, cursor);
    if (!description) {
      for (const m of meta) this.write(m, 0, m.length);
      return;
    }
    // The rewritten definitions, numbered as the server numbered the originals.
    const firstSeq = (meta[0]![3]! + this.seqShift) & 0xff;
    setSequenceIds(description, 0, description.length, firstSeq);
    let packets = 0;
    for (let at = 0; at + 4 <= description.length; at += 4 + payloadLength(description, at)) packets++;
    this.sink.write(description);
    this.seqShift += packets - meta.length;
  }

  private onRow(first: number, buf: Buffer, start: number, end: number, parts: number): boolean {
    if (first === Header.Err) {
      if (dec.isProgressReport(buf, start + 4, end)) {
        this.write(buf, start, end);
        return true;
      }
      this.endResult(0, this.writeErr(buf, start, end));
      return true;
    }
    if (first === Header.Eof && parts === 1) {
      const status = this.endStatus(buf, start, end, this.deprecateEof);
      this.write(buf, start, end);
      this.endResult(status);
      return true;
    }
    const m = this.masking;
    if (m === null || !m.active) {
      this.write(buf, start, end);
      return true;
    }
    if (parts === 1) {
      // The stage keeps the packet's sequence id: give it the one the client expects first.
      if (this.seqShift !== 0) buf[start + 3] = (buf[start + 3]! + this.seqShift) & 0xff;
      return m.row(buf, start, end);
    }
    const seq = (buf[start + 3]! + this.seqShift) & 0xff;
    this.writeRowPayload(m.bigRow(payloadOf(buf, start, end, parts)), seq, parts);
    return !m.full;
  }

  private writeRowPayload(payload: Buffer, seq: number, parts: number): void {
    if (payload.length < maxPacketPayload) {
      const header = Buffer.allocUnsafe(4);
      header.writeUIntLE(payload.length, 0, 3);
      header[3] = seq;
      this.sink.write(header);
      this.sink.write(payload);
    } else this.sink.write(framePayload(payload, seq));
    this.seqShift += physicalPackets(payload.length) - parts;
  }

  /** A result set ended with these status flags, or with this ERR packet (as sent: masked). */
  private endResult(status: number, err?: Buffer): void {
    const masked = this.masking?.end() ?? null;
    if (err) this.errorOutcome(err, masked);
    // A cursor's rows come with the fetches: its execute has no outcome of its own.
    else if (this.outcomes && !(status & Status.CursorExists && this.kind === 'execute')) this.sink.outcome(this.rowCount, undefined, masked);
    this.rowCount = 0;
    if (status & Status.MoreResultsExist) {
      this.st = St.First;
      return;
    }
    this.finish();
  }

  private onPrepareOk(buf: Buffer, start: number, end: number): void {
    const ok = dec.decodeStmtPrepareOk(buf, start + 4, end);
    this.write(buf, start, end);
    this.sink.prepared(ok.statementId);
    this.left = ok.params;
    this.prepareColumns = ok.columns;
    this.prepareInColumns = false;
    // Without CLIENT_DEPRECATE_EOF each non-empty block of definitions ends with an EOF.
    this.prepareEofs = this.deprecateEof ? 0 : (ok.params > 0 ? 1 : 0) + (ok.columns > 0 ? 1 : 0);
    this.st = St.PrepareDefs;
    if (ok.params + ok.columns + this.prepareEofs === 0) this.finish();
  }

  /**
   * Parameter definitions, [EOF], column definitions, [EOF]: all counted. With masking on, the column
   * definitions are rewritten as each execute's will be, for clients that decode binary rows by them.
   */
  private onPrepareDef(buf: Buffer, start: number, end: number): boolean {
    if (this.left > 0) {
      this.left--;
      const now = this.prepareDef(buf, start, end);
      const last = this.left === 0 && this.prepareEofs === 0 && this.prepareColumns === 0;
      if (now) {
        if (last) this.finish();
        return true;
      }
      // The definitions go out once their origins are known; the response ends after them.
      if (last) this.waiting = this.waiting!.then(() => this.finish());
      return false;
    }
    if (!this.deprecateEof && this.prepareEofs > 0 && buf[start + 4] === Header.Eof && end - start - 4 < 9) {
      this.write(buf, start, end);
      this.prepareEofs--;
    } else if (this.prepareColumns > 0) {
      this.left = this.prepareColumns - 1;
      this.prepareColumns = 0;
      this.prepareInColumns = true;
      this.meta = [];
      this.columns = [];
      if (!this.prepareDef(buf, start, end)) {
        if (this.left === 0 && this.prepareColumns === 0 && this.prepareEofs === 0) this.waiting = this.waiting!.then(() => this.finish());
        return false;
      }
    } else {
      throw new WireError('COM_STMT_PREPARE response: more definitions than announced');
    }
    if (this.left === 0 && this.prepareColumns === 0 && this.prepareEofs === 0) this.finish();
    return true;
  }

  /**
   * One definition of a prepare response: column definitions wait for the last one (`left` is 0) when
   * masking, and then for their origins (false: once the catalog has looked them up).
   */
  private prepareDef(buf: Buffer, start: number, end: number): boolean {
    if (!this.prepareInColumns || !this.masking) {
      this.write(buf, start, end);
      return true;
    }
    this.holdColumn(buf, start, end, 1);
    if (this.left > 0) return true;
    const defs = this.meta;
    this.meta = [];
    const masking = this.masking;
    return this.withOrigins(masking, (columns) => {
      // One packet each, rewritten or not: the sequence ids stay the server's.
      const rewritten = masking.describePrepared(columns, defs, this.extendedMetadata);
      if (rewritten) this.sink.write(rewritten);
      else for (const d of defs) this.write(d, 0, d.length);
    });
  }

  /** Status flags of an OK (`ok`) or EOF packet, which the session keeps track of. */
  private endStatus(buf: Buffer, start: number, end: number, ok: boolean): number {
    const flags = dec.endStatusFlags(buf, start + 4, end, ok);
    this.sink.status(flags, buf, start + 4, end, ok);
    return flags;
  }

  /** An ERR packet (framed, as sent to the client) is a statement's outcome. */
  private errorOutcome(err: Buffer, masked: Promise<Record<string, number>> | null = null): void {
    if (!this.outcomes) return;
    const e = dec.decodeErr(err, 4, err.length);
    this.sink.outcome(0, `${e.code} (${e.sqlState}): ${e.message}`, masked);
  }

  private write(buf: Buffer, start: number, end: number): void {
    if (this.seqShift !== 0) setSequenceIds(buf, start, end, (buf[start + 3]! + this.seqShift) & 0xff);
    this.sink.write(buf.subarray(start, end));
  }

  /** Writes an ERR packet, with the values it quotes masked when masking is on; returns it as written. */
  private writeErr(buf: Buffer, start: number, end: number): Buffer {
    if (this.seqShift !== 0) setSequenceIds(buf, start, end, (buf[start + 3]! + this.seqShift) & 0xff);
    const err = this.masking && end - start - 4 < maxPacketPayload ? this.masking.maskErr(buf, start, end) : buf.subarray(start, end);
    this.sink.write(err);
    return err;
  }

  private finish(): void {
    this.st = St.Idle;
    this.masking?.responseEnded();
    this.sink.done();
  }
}

/** Affected rows of an OK packet, read in place. */
function affectedRows(buf: Buffer, start: number, end: number): number {
  return Math.max(0, readLenenc(buf, start + 5, end));
}
