// Which result the server's rows belong to, so the row stage knows their columns and formats
// (PostgreSQL documentation, "Extended Query"). The server answers every message in order, so a queue of
// what was sent tells what each answer is for:
//   Parse -> ParseComplete, Bind -> BindComplete, Close -> CloseComplete,
//   Describe(S) -> ParameterDescription + RowDescription|NoData, Describe(P) -> RowDescription|NoData,
//   Execute -> DataRow* + CommandComplete|PortalSuspended|EmptyQueryResponse|ErrorResponse,
//   Sync -> ReadyForQuery; Query and FunctionCall -> everything up to their ReadyForQuery.
// After an ErrorResponse the server skips to Sync: so does the queue.
// Rows of an Execute arrive without a RowDescription when the client described the statement earlier (or
// never): the statement's description plus the Bind's result formats give them their columns. When neither
// is known, the session asks the server itself (a Describe of the portal whose answer it keeps).
import type { FieldDescription } from '../wire/postgres/decode.js';

type Expected =
  | { kind: 'parse' | 'bind' | 'close' | 'flush' }
  | { kind: 'describe-statement'; name: string }
  | { kind: 'describe-portal'; portal: string; ours: boolean }
  | { kind: 'execute'; portal: string }
  | { kind: 'sync' | 'query' };

interface Portal {
  statement: string;
  /** The client asked to describe it since its Bind: the columns arrive before any of its rows. */
  describing?: boolean;
  /** Bind's result-format codes: none (all text), one (all columns), or one per column. */
  formats: number[];
  fields?: FieldDescription[];
}

/** What a server message means for the rows that follow. */
export type ResultEvent =
  | { kind: 'pass' }
  /** A RowDescription the client must not see (the session asked for it). */
  | { kind: 'swallow' }
  /** Rows of a result with these columns follow (simple query, or an Execute). */
  | { kind: 'begin'; fields: FieldDescription[] }
  /** A result ended. */
  | { kind: 'end' };

export class PgResults {
  private readonly expected: Expected[] = [];
  private head = 0;
  private readonly statements = new Map<string, FieldDescription[] | undefined>();
  /** Each prepared statement's SQL: what an Execute of one of its portals runs. */
  private readonly texts = new Map<string, string>();
  private readonly portals = new Map<string, Portal>();
  /** Rows of the current Execute have started. */
  private executing = false;

  // ---- what the client sent (in the order it goes upstream) ----

  parse(name: string, sql: string): void {
    this.statements.set(name, undefined);
    this.texts.set(name, sql);
    this.push({ kind: 'parse' });
  }

  bind(portal: string, statement: string, formats: number[]): void {
    this.portals.set(portal, { statement, formats });
    this.push({ kind: 'bind' });
  }

  describe(target: 'S' | 'P', name: string): void {
    if (target === 'P') {
      const p = this.portals.get(name);
      if (p) p.describing = true;
    }
    this.push(target === 'S' ? { kind: 'describe-statement', name } : { kind: 'describe-portal', portal: name, ours: false });
  }

  /** The SQL an Execute of `portal` runs ('' when unknown). */
  sqlOf(portal: string): string {
    const p = this.portals.get(portal);
    return (p && this.texts.get(p.statement)) ?? '';
  }

  /** Whether the portal's columns are known; if not, the session sends a Describe of its own first. */
  knowsColumns(portal: string): boolean {
    const p = this.portals.get(portal);
    return !!p && (p.describing === true || p.fields !== undefined || this.statements.get(p.statement) !== undefined);
  }

  describeOurs(portal: string): void {
    this.push({ kind: 'describe-portal', portal, ours: true });
  }

  execute(portal: string): void {
    this.push({ kind: 'execute', portal });
  }

  close(target: 'S' | 'P', name: string): void {
    (target === 'S' ? this.statements : this.portals).delete(name);
    if (target === 'S') this.texts.delete(name);
    this.push({ kind: 'close' });
  }

  sync(): void {
    this.push({ kind: 'sync' });
  }

  query(): void {
    this.push({ kind: 'query' });
  }

  // ---- what the server answered ----

  rowDescription(fields: FieldDescription[]): ResultEvent {
    const e = this.current();
    if (!e || e.kind === 'query') return { kind: 'begin', fields };
    if (e.kind === 'describe-statement') {
      this.statements.set(e.name, fields);
      this.shift();
      return { kind: 'pass' };
    }
    if (e.kind === 'describe-portal') {
      const p = this.portals.get(e.portal);
      if (p) p.fields = fields;
      this.shift();
      return { kind: e.ours ? 'swallow' : 'pass' };
    }
    return { kind: 'pass' };
  }

  /** NoData answers a Describe of a statement or portal that returns no rows. */
  noData(): ResultEvent {
    const e = this.current();
    if (e?.kind === 'describe-statement' || e?.kind === 'describe-portal') {
      if (e.kind === 'describe-portal') {
        const p = this.portals.get(e.portal);
        if (p) p.fields = [];
      }
      this.shift();
      return { kind: e.kind === 'describe-portal' && e.ours ? 'swallow' : 'pass' };
    }
    return { kind: 'pass' };
  }

  /** ParseComplete, BindComplete, CloseComplete. */
  complete(): void {
    const e = this.current();
    if (e && (e.kind === 'parse' || e.kind === 'bind' || e.kind === 'close')) this.shift();
  }

  /** The first DataRow of an Execute: the columns its rows have. Simple query rows follow a RowDescription. */
  dataRow(): ResultEvent {
    const e = this.current();
    if (e?.kind !== 'execute' || this.executing) return { kind: 'pass' };
    this.executing = true;
    const p = this.portals.get(e.portal);
    if (!p) return { kind: 'pass' };
    const described = p.fields ?? this.statements.get(p.statement);
    if (!described) return { kind: 'pass' };
    return { kind: 'begin', fields: withFormats(described, p.formats) };
  }

  /** CommandComplete, PortalSuspended, EmptyQueryResponse. */
  commandEnd(): ResultEvent {
    const e = this.current();
    if (e?.kind === 'execute') {
      this.executing = false;
      this.shift();
    }
    return { kind: 'end' };
  }

  error(): ResultEvent {
    const e = this.current();
    this.executing = false;
    // Extended protocol: the server discards everything up to Sync; a simple query goes on to its Z.
    if (e && e.kind !== 'query') while (this.head < this.expected.length && this.expected[this.head]!.kind !== 'sync') this.shift();
    return { kind: 'end' };
  }

  readyForQuery(): void {
    while (this.head < this.expected.length) {
      const k = this.expected[this.head]!.kind;
      this.shift();
      if (k === 'sync' || k === 'query') break;
    }
  }

  private current(): Expected | undefined {
    return this.expected[this.head];
  }

  private push(e: Expected): void {
    this.expected.push(e);
  }

  private shift(): void {
    this.head++;
    if (this.head === this.expected.length) {
      this.expected.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      this.expected.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** A statement's description has format 0 everywhere; the Bind decides the real ones. */
function withFormats(fields: FieldDescription[], formats: number[]): FieldDescription[] {
  if (formats.length === 0) return fields;
  return fields.map((f, i) => ({ ...f, format: formats.length === 1 ? formats[0]! : (formats[i] ?? 0) }));
}
