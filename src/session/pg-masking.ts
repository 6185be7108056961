// A PostgreSQL session's result masking: it follows which result each server message belongs to
// (pg-results.ts), opens a masker per result through the row stage, and sends everything to the client
// through one ordered output, so masked rows finished by workers later still reach the client in order.
// A result with nothing to mask streams its rows as raw bytes (DataRow is inspected again at its end).
import { isPostgresTextType } from '../masking/types.js';
import { maskColumn, type MaskingRowStage } from '../masking/row-stage.js';
import type { MaskColumn } from '../masking/rules.js';
import type { ResultMasker } from '../masking/stage.js';
import { OrderedOutput } from '../masking/ordered-output.js';
import * as dec from '../wire/postgres/decode.js';
import { encodeDescribePortal, encodeDescribeQuery } from '../wire/postgres/encode.js';
import type { PgFramer } from '../wire/postgres/frames.js';
import { Back, Front } from '../wire/postgres/messages.js';
import type { ResultColumn, SessionInfo } from './hooks.js';
import { PgResults, type ResultEvent } from './pg-results.js';
import type { ColumnOrigin, PgCatalog } from './pg-catalog.js';
import { copyRowsQuery } from './pg-copy-rows.js';

/** Server messages masking needs to see, besides what the session inspects anyway. */
export const maskingServerInspected = [
  Back.RowDescription,
  Back.ParameterDescription,
  Back.NoData,
  Back.ParseComplete,
  Back.BindComplete,
  Back.CloseComplete,
  Back.DataRow,
  Back.CommandComplete,
  Back.PortalSuspended,
  Back.EmptyQueryResponse,
  Back.ErrorResponse,
  Back.NoticeResponse,
  Back.ReadyForQuery,
  Back.CopyOutResponse,
  Back.CopyData,
  Back.CopyDone,
];
/** Client messages masking needs to see (Describe, on top of what the session inspects). */
export const maskingClientInspected = [Front.Describe];

export class PgMasking {
  readonly output: OrderedOutput;
  private readonly results = new PgResults();
  private masker: ResultMasker | null = null;
  /** Masked cells by rule of the result that ended last, once all its rows went out. */
  private ended: Promise<Record<string, number>> | null = null;
  /** A catalog lookup the next result waits for (the server is not read meanwhile). */
  private lookup: Promise<void> | null = null;
  /**
   * The last simple query (its Query message, decoded only if a COPY follows) or executed statement's text:
   * what a COPY ... TO STDOUT that follows copies.
   */
  private lastQuery: string | Buffer = '';
  /** Rows of a COPY TO STDOUT go through a masker (CopyData is inspected only for them). */
  private copying = false;
  /** The columns of the rows the next COPY TO STDOUT sends, as the server described them (see describeCopy). */
  private copyFields: dec.FieldDescription[] | null = null;
  /** The last RowDescription received (a copy) and its fields (see `describe`). */
  private lastDescription: Buffer | null = null;
  private lastFields: dec.FieldDescription[] = [];

  constructor(
    private readonly stage: MaskingRowStage,
    private readonly session: SessionInfo,
    private readonly server: PgFramer,
    sink: (bytes: Buffer) => void,
    onError: (err: Error) => void,
    /** Called when a row found the stage full: returns false after arranging to read the server again. */
    private readonly onFull: () => false,
    /** Resolves columns to schema.table.column (absent: result names only). */
    private readonly catalog?: PgCatalog,
  ) {
    this.output = new OrderedOutput(sink, onError);
  }

  /** True while masking holds bytes back: the session should stop reading the server. */
  get full(): boolean {
    return this.masker?.full ?? false;
  }

  drained(): Promise<void> {
    const lookup = this.lookup ?? Promise.resolve();
    return lookup.then(() => (this.masker && this.masker.full ? this.masker.drained() : undefined));
  }

  // ---- client messages, in the order they go upstream ----

  /** Returns a message to send upstream before this one (our Describe of a portal whose columns are unknown). */
  clientSent(type: number, buf: Buffer, start: number, end: number): Buffer | null {
    switch (type) {
      case Front.Query:
        this.lastQuery = buf.subarray(start, end);
        this.results.query();
        return null;
      case Front.FunctionCall:
        this.results.query();
        return null;
      case Front.Parse: {
        const p = dec.decodeParse(buf, start, end);
        this.results.parse(p.statement, p.sql);
        return null;
      }
      case Front.Bind: {
        const b = dec.decodeBindResultFormats(buf, start, end);
        this.results.bind(b.portal, b.statement, b.resultFormats);
        return null;
      }
      case Front.Describe: {
        const d = dec.decodeTarget(buf, start, end);
        this.results.describe(d.target, d.name);
        return null;
      }
      case Front.Execute: {
        const portal = dec.decodeExecute(buf, start, end).portal;
        let before: Buffer | null = null;
        if (!this.results.knowsColumns(portal)) {
          this.results.describeOurs(portal);
          before = encodeDescribePortal(portal);
        }
        this.results.execute(portal);
        // A COPY run this way is read from its own text (see beginCopy), not the last simple query's.
        this.lastQuery = this.results.sqlOf(portal);
        return before;
      }
      case Front.Close: {
        const c = dec.decodeTarget(buf, start, end);
        this.results.close(c.target, c.name);
        return null;
      }
      case Front.Sync:
        this.results.sync();
        return null;
    }
    return null;
  }

  /**
   * A simple Query that is a COPY ... TO STDOUT: the messages that have the server describe the rows it will
   * send (pg-copy-rows.ts), to go upstream before it, or null. Their answers are the session's to take:
   * the RowDescription comes back through `copyDescribed`.
   */
  describeCopy(buf: Buffer, start: number, end: number): Buffer | null {
    this.copyFields = null;
    if (this.stage.masksNothing(this.session) || !mentionsCopy(buf, start + 5, end)) return null;
    const query = copyRowsQuery(dec.decodeQuery(buf, start, end).sql);
    return query === undefined ? null : encodeDescribeQuery(query);
  }

  copyDescribed(fields: dec.FieldDescription[]): void {
    this.copyFields = fields;
  }

  // ---- server messages ----

  /**
   * Handles a server message masking cares about: writes it (masked, rewritten or as it is) or swallows it.
   * Returns false when the stage is full (the session stops reading the server until `drained()`).
   */
  serverMessage(type: number, buf: Buffer, start: number, end: number): boolean {
    switch (type) {
      case Back.RowDescription: {
        const fields = this.describe(buf, start, end);
        return this.onEvent(this.results.rowDescription(fields), buf, start, end);
      }
      case Back.NoData:
        return this.onEvent(this.results.noData(), buf, start, end);
      case Back.ParseComplete:
      case Back.BindComplete:
      case Back.CloseComplete:
        this.results.complete();
        break;
      case Back.DataRow: {
        if (!this.masker) {
          const e = this.results.dataRow();
          if (e.kind === 'begin') {
            if (!this.begin(e.fields, null, () => this.firstRow(buf, start, end))) return false;
          }
          // Nothing to mask in this result: its rows stream raw until it ends.
          if (!this.masker) this.server.inspect[Back.DataRow] = 0;
        }
        if (this.masker) return this.masker.row(buf, start, end);
        break;
      }
      case Back.CommandComplete:
      case Back.PortalSuspended:
      case Back.EmptyQueryResponse:
        this.results.commandEnd();
        this.endResult();
        break;
      case Back.ErrorResponse:
        this.results.error();
        this.endResult();
        this.output.write(this.stage.maskError(buf, start, end, this.session));
        return true;
      case Back.NoticeResponse:
        this.output.write(this.stage.maskError(buf, start, end, this.session));
        return true;
      case Back.CopyOutResponse:
        return this.beginCopy(buf, start, end);
      case Back.CopyData:
        if (this.copying && this.masker) return this.masker.row(buf, start, end);
        break;
      case Back.CopyDone:
        this.copying = false;
        this.endResult();
        break;
      case Back.ReadyForQuery:
        this.results.readyForQuery();
        this.endResult();
        break;
    }
    this.output.write(buf.subarray(start, end));
    return true;
  }

  /**
   * The fields of a RowDescription, decoded again only when it differs from the last one: a session that
   * repeats a query (a point select) gets the same description every time, and decoding its names costs more
   * than comparing its bytes. The fields are frozen, since later results share them.
   */
  private describe(buf: Buffer, start: number, end: number): dec.FieldDescription[] {
    const last = this.lastDescription;
    if (last !== null && last.length === end - start && buf.compare(last, 0, last.length, start, end) === 0) return this.lastFields;
    const fields = dec.decodeRowDescription(buf, start, end);
    for (const f of fields) Object.freeze(f);
    this.lastDescription = Buffer.from(buf.subarray(start, end));
    this.lastFields = Object.freeze(fields) as dec.FieldDescription[];
    return fields;
  }

  private onEvent(e: ResultEvent, buf: Buffer, start: number, end: number): boolean {
    if (e.kind === 'swallow') return true;
    if (e.kind === 'begin') {
      this.endResult();
      const frame = buf.subarray(start, end);
      const sendDescription = () => {
        this.output.write(this.masker?.description ?? frame);
        // Rows of a result with nothing to mask stream raw.
        if (!this.masker) this.server.inspect[Back.DataRow] = 0;
      };
      if (!this.begin(e.fields, frame, sendDescription)) return false;
      sendDescription();
      return true;
    }
    this.output.write(buf.subarray(start, end));
    return true;
  }

  /**
   * Opens the result's masker. Returns false when the columns' origins must be looked up first: then
   * `then` runs once they are known (the session stops reading the server until `drained()`).
   */
  private begin(fields: dec.FieldDescription[], raw: Buffer | null, then: () => void): boolean {
    if (this.stage.masksNothing(this.session)) {
      this.masker = null;
      return true;
    }
    return this.withColumns(fields, (columns) => this.open(columns, raw), then);
  }

  /**
   * Calls `use` with the described columns and the table columns they show: at once when the catalog knows
   * them (true), else once it has looked them up, and `later` after it (false).
   */
  private withColumns(fields: dec.FieldDescription[], use: (columns: ResultColumn[]) => void, later?: () => void): boolean {
    const database = this.session.database ?? '';
    const oids = fields.map((f) => f.tableOid);
    const tables = this.catalog?.known(database, oids);
    if (this.catalog && tables === null) {
      this.lookup = this.catalog
        .load(database, oids)
        .then((loaded) => {
          this.lookup = null;
          use(this.resultColumns(fields, loaded));
          later?.();
        })
        // A binary COPY that would need masking (CopyNotMaskable) ends the session, as it does at once.
        .catch((err: Error) => this.output.fail(err));
      return false;
    }
    use(this.resultColumns(fields, tables ?? undefined));
    return true;
  }

  private open(columns: ResultColumn[], raw: Buffer | null): void {
    this.masker = this.stage.begin({ session: this.session, columns, ...(raw ? { raw: [raw] } : {}) }, this.output);
    // The result's rows go from the framer straight to its masker (what serverMessage would do with each).
    if (this.masker) this.server.express(Back.DataRow, this.maskRow);
  }

  /** A run of DataRows or CopyData (PgFramer.express). */
  private readonly maskRow = (buf: Buffer, start: number, end: number): boolean => this.masker!.rows(buf, start, end) || this.onFull();

  /** The columns as described, with the table columns they show where the catalog knows them. */
  private resultColumns(fields: dec.FieldDescription[], tables: Map<number, Map<number, ColumnOrigin>> | undefined): ResultColumn[] {
    return fields.map((f) => {
      const origin = f.tableOid ? tables?.get(f.tableOid)?.get(f.column) : undefined;
      return {
        name: f.name,
        tableOid: f.tableOid,
        columnNumber: f.column,
        type: f.typeOid,
        format: f.format,
        ...(origin ? { schema: origin.schema, table: origin.table, originalName: origin.column } : {}),
        ...(origin?.view ? { view: origin.view } : {}),
      };
    });
  }

  /** The first row of an Execute's result, once its columns' origins are known. */
  private firstRow(buf: Buffer, start: number, end: number): void {
    if (!this.masker) {
      this.server.inspect[Back.DataRow] = 0;
      this.output.write(buf.subarray(start, end));
    } else this.masker.row(buf, start, end);
  }

  /**
   * COPY ... TO STDOUT: one row per CopyData. Columns are named when the statement lists them
   * (`COPY t (email, ssn) TO STDOUT`) or, for a whole table, by the catalog; otherwise every column is scanned by
   * the detectors. Binary COPY carries no types, so when anything would need masking the session ends rather
   * than send it unmasked.
   */
  private beginCopy(buf: Buffer, start: number, end: number): boolean {
    this.endResult();
    const described = this.copyFields;
    this.copyFields = null;
    if (described && described.length === buf.readInt16BE(start + 6)) {
      // Origins as for a SELECT's columns: rules by table.column, aliases and views apply; detectors scan the
      // columns of text types, as in a SELECT's result (a timestamp's or a number's text holds no e-mail).
      return this.withColumns(described, (columns) => this.openCopy(buf, start, end, columns.map((c) => maskColumn(c, isPostgresTextType(c.type)))));
    }
    // Not described (a form copyRowsQuery does not take apart, or a pipeline was open): names, if the
    // statement lists them or the catalog knows the table's, and the detectors.
    const sql = this.lastQueryText();
    const listed = /^\s*copy\s+[^(]*?\(([^)]*)\)\s+to\s/i.exec(sql)?.[1]?.split(',').map((c) => c.trim().replace(/^"|"$/g, ''));
    const table = listed ? undefined : /^\s*copy\s+((?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?)\s+to\s/i.exec(sql)?.[1];
    if (table && this.catalog) {
      this.lookup = this.catalog
        .tableColumns(this.session.database ?? '', table)
        .then((names) => {
          this.lookup = null;
          this.openCopy(buf, start, end, namedColumns(names));
        })
        .catch((err: Error) => this.output.fail(err));
      return false;
    }
    this.openCopy(buf, start, end, namedColumns(listed));
    return true;
  }

  private openCopy(buf: Buffer, start: number, end: number, named: MaskColumn[] | undefined): void {
    const binary = buf[start + 5] === 1;
    const count = buf.readInt16BE(start + 6);
    const columns = Array.from({ length: count }, (_, i) => named?.[i] ?? { name: '', textLike: true });
    const csv = /\bcsv\b/i.test(this.lastQueryText());
    if (binary) {
      const masker = this.stage.beginCopy(this.session, columns, 'text', this.output);
      if (masker) {
        void masker.end();
        throw new CopyNotMaskable();
      }
      // Nothing to mask: the rows stream raw, as a result's DataRows do.
      this.server.inspect[Back.CopyData] = 0;
      this.output.write(buf.subarray(start, end));
      return;
    }
    this.masker = this.stage.beginCopy(this.session, columns, csv ? 'csv' : 'text', this.output);
    this.copying = this.masker !== null;
    if (this.copying) this.server.express(Back.CopyData, this.maskRow);
    // Nothing to mask (an exempt user, no rules): the rows stream raw, as a result's DataRows do.
    else this.server.inspect[Back.CopyData] = 0;
    this.output.write(buf.subarray(start, end));
  }

  private lastQueryText(): string {
    const q = this.lastQuery;
    return typeof q === 'string' ? q : dec.decodeQuery(q, 0, q.length).sql;
  }

  /** DDL ran: the catalog's answers for this database may be stale. */
  schemaChanged(): void {
    this.catalog?.invalidate(this.session.database ?? '');
  }

  private endResult(): void {
    this.server.inspect[Back.DataRow] = 1;
    this.server.inspect[Back.CopyData] = 1;
    this.server.express(Back.DataRow, null);
    const masker = this.masker;
    if (!masker) return;
    this.masker = null;
    this.ended = masker.end().then((counts) => {
      const cells: Record<string, number> = {};
      for (const [rule, c] of Object.entries(counts.rules)) if (c.cells > 0) cells[rule] = c.cells;
      return cells;
    });
  }

  /** The masked cells of the result that just ended (null: it had nothing to mask). */
  takeEnded(): Promise<Record<string, number>> | null {
    const e = this.ended;
    this.ended = null;
    return e;
  }
}

/** Whether the bytes hold "copy" in any case: most queries do not, and need not be decoded again. */
function mentionsCopy(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i + 3 < end; i++) {
    if ((buf[i]! | 0x20) === 0x63 && (buf[i + 1]! | 0x20) === 0x6f && (buf[i + 2]! | 0x20) === 0x70 && (buf[i + 3]! | 0x20) === 0x79) return true;
  }
  return false;
}

function namedColumns(names: string[] | undefined): MaskColumn[] | undefined {
  return names?.map((name) => ({ name, textLike: true }));
}

/** A binary COPY whose rows would need masking: the session ends instead of sending them. */
export class CopyNotMaskable extends Error {
  override name = 'CopyNotMaskable';
  constructor() {
    super('COPY in binary format cannot be masked; use text or CSV');
  }
}
