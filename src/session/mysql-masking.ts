// A MySQL session's result masking (DESIGN.md "Masking"). The ResponseReader hands it each result's column
// definitions, rows and errors; it opens a masker per result through the row stage and owns the ordered
// output that every byte for the client goes through while masking is on, so rows that workers finish later
// keep their place before everything after them. A result with nothing to mask is not seen row by row: the
// reader lets its rows stream through raw.
//
// Column origins: with a catalog (mysql-catalog.ts), a view's columns are pointed at the base table columns
// they show before masking decides (`origins`); a result naming a table the catalog has not seen waits for
// its lookup, and the reader stops reading the server meanwhile, so no row goes out before its plan is made.
// Derived table and CTE aliases are traced the same way, in the SQL of the command under way (`statement`).
//
// Sequence ids: the stage keeps each row packet's own id (a masked row must still fit one packet), so the
// reader renumbers a row in place before handing it over when it has shifted the ids of that response.
import type { MaskingRowStage } from '../masking/row-stage.js';
import { MysqlRowMasker, mysqlRowColumns } from '../masking/mysql-rows.js';
import type { ResultMasker } from '../masking/stage.js';
import { OrderedOutput } from '../masking/ordered-output.js';
import { encodeColumnCount } from '../wire/mysql/encode.js';
import { framePayload } from '../wire/mysql/frames.js';
import type { ResultColumn, SessionInfo } from './hooks.js';
import type { MysqlCatalog, StatementContext } from './mysql-catalog.js';

/** A result column as the MySQL session describes it to the row stage (what binary rows need besides the name). */
export interface MysqlResultColumn extends ResultColumn {
  characterSet: number;
  flags: number;
  decimals: number;
}

/** A result's columns and its description as the server sent it: [column count packet, definitions...], framed. */
interface Described {
  columns: MysqlResultColumn[];
  raw: Buffer[];
}

export class MysqlMasking {
  readonly output: OrderedOutput;
  private masker: ResultMasker | null = null;
  private described: Described | null = null;
  /** Rows of several packets (16 MiB or more) of the result under way, masked here rather than in the stage. */
  private bigRows: MysqlRowMasker | null = null;
  /** Cursors opened by COM_STMT_EXECUTE, by statement id: their fetches carry no definitions of their own. */
  private readonly cursors = new Map<number, Described>();
  /** A statement that may change the schema went upstream: the catalog forgets again once its response ends. */
  private schemaChanging = false;
  /** The SQL of the command whose response is under way (null: none, or not readable). */
  private statement: StatementContext | null = null;

  constructor(
    private readonly stage: MaskingRowStage,
    private readonly session: SessionInfo,
    /** Where the output's bytes go: the client socket. */
    sink: (bytes: Buffer) => void,
    /** A batch could not be masked: the session must close rather than send anything more. */
    onError: (err: Error) => void,
    /** Traces view columns to their base columns (absent: columns are as the server describes them). */
    private readonly catalog?: MysqlCatalog,
  ) {
    this.output = new OrderedOutput(sink, onError);
  }

  /** The result under way has something to mask: its rows come through `row`. */
  get active(): boolean {
    return this.masker !== null;
  }

  /** Resolves when the stage has room again, after `row` returned false. */
  drained(): Promise<void> {
    return this.masker ? this.masker.drained() : Promise.resolve();
  }

  /**
   * The result's columns with view columns pointed at the base columns they show: at once when the catalog
   * knows their tables (or there is no catalog, or nothing to mask), else once it has looked them up.
   */
  origins(columns: MysqlResultColumn[]): MysqlResultColumn[] | Promise<MysqlResultColumn[]> {
    const catalog = this.catalog;
    if (!catalog || this.stage.masksNothing(this.session)) return columns;
    return catalog.resolve(columns, this.statement) ?? catalog.load(columns, this.statement);
  }

  /** Whether derived tables are traced: a catalog is there. */
  get tracesStatements(): boolean {
    return this.catalog !== undefined;
  }

  /** A command goes upstream: the SQL its results answer (null: none), where derived table aliases are defined. */
  commandSent(statement: StatementContext | null): void {
    this.statement = statement;
  }

  /** A statement that may change tables or views (DDL) goes upstream: what the catalog knows may go stale. */
  schemaMayChange(): void {
    if (!this.catalog) return;
    this.catalog.invalidate();
    this.schemaChanging = true;
  }

  /** A response ended; after DDL the catalog forgets what it may have looked up while the DDL ran. */
  responseEnded(): void {
    if (!this.schemaChanging) return;
    this.schemaChanging = false;
    this.catalog!.invalidate();
  }

  /** Fails the output (the session ends) rather than send anything more. */
  fail(err: Error): void {
    this.output.fail(err);
  }

  /**
   * All column definitions of a result are in, their origins resolved (`origins`). Returns the rewritten
   * description to send instead of `raw` (sequence ids still to be set), or null to send `raw` as it is.
   * `cursor`: the statement whose cursor this execute opened, whose fetches will be masked the same way.
   */
  begin(columns: MysqlResultColumn[], raw: Buffer[], extendedMetadata: boolean, cursor?: number): Buffer | null {
    // Copies: the views into socket chunks would keep those alive for as long as the cursor lives.
    if (cursor !== undefined) this.cursors.set(cursor, { columns, raw: raw.map((p) => Buffer.from(p)) });
    this.open({ columns, raw }, extendedMetadata);
    return this.masker?.description ?? null;
  }

  /**
   * A COM_STMT_FETCH of an open cursor: its rows are masked under the plan its execute described (the same
   * definitions go in, so the same plan comes out); the description went to the client with the execute.
   */
  beginFetch(statementId: number, extendedMetadata: boolean): void {
    const d = this.cursors.get(statementId);
    if (d) this.open(d, extendedMetadata);
  }

  private open(d: Described, extendedMetadata: boolean): void {
    this.described = d;
    this.masker = this.stage.begin({ session: this.session, columns: d.columns, raw: d.raw, extendedMetadata }, this.output);
  }

  /**
   * COM_STMT_PREPARE's column definitions (framed) as each execute of the statement will describe them:
   * the rewritten packets, or null when none changes. The plan is made and dropped; no rows go through it.
   */
  describePrepared(columns: MysqlResultColumn[], defs: Buffer[], extendedMetadata: boolean): Buffer | null {
    // The row stage rewrites a result's description, which starts with the column count packet.
    const count = framePayload(encodeColumnCount(columns.length), 0);
    const masker = this.stage.begin({ session: this.session, columns, raw: [count, ...defs], extendedMetadata }, this.output);
    if (!masker) return null;
    void masker.end();
    return masker.description ? masker.description.subarray(count.length) : null;
  }

  /** Row packets back to back, each one whole physical packet; false as for `row`. */
  rows(buf: Buffer, start: number, end: number): boolean {
    return this.masker!.rows(buf, start, end);
  }

  /** One row packet, framed; false: the stage is full, stop reading the server until `drained()`. */
  row(buf: Buffer, start: number, end: number): boolean {
    return this.masker!.row(buf, start, end);
  }

  /**
   * A row of several packets (its payload joined): masked here, inline, after every row before it has gone
   * to the output. Returns the payload to send, which the reader frames.
   */
  bigRow(payload: Buffer): Buffer {
    const m = this.masker!;
    m.flush();
    const columns = this.described!.columns;
    this.bigRows ??= new MysqlRowMasker(m.plan, mysqlRowColumns(columns), columns[0]?.format === 1, m.counters);
    return this.bigRows.mask(payload, 0, payload.length);
  }

  get full(): boolean {
    return this.masker?.full ?? false;
  }

  /** The result ended: its masked cells by rule, once all its rows are out (null: it had nothing to mask). */
  end(): Promise<Record<string, number>> | null {
    const m = this.masker;
    this.masker = null;
    this.described = null;
    this.bigRows = null;
    if (!m) return null;
    return m.end().then((counts) => {
      const cells: Record<string, number> = {};
      for (const [rule, c] of Object.entries(counts.rules)) if (c.cells > 0) cells[rule] = c.cells;
      return cells;
    });
  }

  /** An ERR packet buf[start, end) (one packet, framed) with the values it quotes masked; the same view when unchanged. */
  maskErr(buf: Buffer, start: number, end: number): Buffer {
    const payload = this.stage.maskError(buf, start + 4, end, this.session);
    if (payload.buffer === buf.buffer && payload.byteOffset === buf.byteOffset + start + 4 && payload.length === end - start - 4) {
      return buf.subarray(start, end);
    }
    return framePayload(payload, buf[start + 3]!);
  }

  /** Statements closed or reset on the server (all of them: no id): their cursors are gone. */
  forget(statementId?: number): void {
    if (statementId === undefined) this.cursors.clear();
    else this.cursors.delete(statementId);
  }
}

const ddlWords = ['CREATE', 'ALTER', 'DROP', 'RENAME'];

/**
 * Whether the SQL text buf[start, end) starts with a statement that can change tables or views (CREATE,
 * ALTER, DROP, RENAME), past spaces and comments. Executable comments count as code: mysqldump writes
 * `/*!50001 CREATE ALGORITHM=UNDEFINED *\/ ... VIEW`. Only the first statement of a text is read.
 */
export function mayChangeSchema(buf: Buffer, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const b = buf[i]!;
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) i++;
    else if (b === 0x23 || (b === 0x2d && buf[i + 1] === 0x2d && i + 2 < end && buf[i + 2]! <= 0x20)) {
      // # or -- : to the end of the line.
      while (i < end && buf[i] !== 0x0a) i++;
    } else if (b === 0x2f && buf[i + 1] === 0x2a) {
      // /*! and MariaDB's /*M! hold code (after an optional version): read on inside them.
      let j = i + 2;
      if (buf[j] === 0x4d && buf[j + 1] === 0x21) j++;
      if (buf[j] === 0x21) {
        j++;
        while (j < end && buf[j]! >= 0x30 && buf[j]! <= 0x39) j++;
        i = j;
      } else {
        i = buf.indexOf('*/', j);
        if (i < 0 || i >= end) return false;
        i += 2;
      }
    } else break;
  }
  for (const word of ddlWords) {
    if (end - i < word.length) continue;
    let k = 0;
    while (k < word.length && (buf[i + k]! & 0xdf) === word.charCodeAt(k)) k++;
    if (k < word.length) continue;
    const after = i + k < end ? buf[i + k]! : 0x20;
    // A whole word: CREATE, not CREATED_AT.
    if (!((after | 0x20) >= 0x61 && (after | 0x20) <= 0x7a) && after !== 0x5f && !(after >= 0x30 && after <= 0x39)) return true;
  }
  return false;
}
