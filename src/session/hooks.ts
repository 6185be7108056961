// The contract between a protocol session and the protocol-neutral parts (gate, row stage). Sessions call
// these at fixed lifecycle steps; the hooks never touch a socket.
import type { ProxyError } from '../errors.js';
import type { ClassifyContext } from '../classify/index.js';

/** Who is asking, as far as the wire tells: the identity every hold, decision and audit line carries. */
export interface SessionInfo {
  id: string;
  listener: string;
  protocol: 'postgres' | 'mysql';
  /** Client address as host:port. */
  client: string;
  user?: string;
  database?: string;
  /** application_name (PostgreSQL) or program_name (MySQL connection attributes). */
  application?: string;
  /** Common name of the client's TLS certificate, when it presented one. */
  tlsCommonName?: string;
  /** Aborted when the session ends: a pending verdict for it is moot. */
  signal: AbortSignal;
}

/** How a statement reached the gate. */
export type StatementVia =
  | 'query' // PostgreSQL Query, MySQL COM_QUERY
  | 'parse' // PostgreSQL Parse, MySQL COM_STMT_PREPARE
  | 'execute' // PostgreSQL Execute of a portal, MySQL COM_STMT_EXECUTE
  | 'function-call'; // PostgreSQL FunctionCall (fast-path): no SQL text at all

export interface StatementRequest {
  session: SessionInfo;
  via: StatementVia;
  /** The SQL text (for an execute, the text of the prepared statement it runs). */
  sql: string;
  /** Prepared statement name (PostgreSQL) or id (MySQL), when there is one. */
  statement?: string;
  /**
   * Session settings that change how the SQL reads (PostgreSQL ParameterStatus, MySQL version and sql_mode).
   * Absent: the dialect's defaults.
   */
  context?: ClassifyContext;
}

export type Verdict = { action: 'allow' } | { action: 'deny'; error: ProxyError };

export const allow: Verdict = Object.freeze({ action: 'allow' });

/** A statement held for a reviewer's decision. */
export interface Hold {
  readonly action: 'hold';
  readonly requestId: string;
  /** What the client is told while it waits (a PostgreSQL NOTICE): the request id and where to decide it. */
  readonly notice: string;
  /** Settles with allow (approved) or deny (denied, expired, cancelled). */
  readonly verdict: Promise<Verdict>;
  /** The client cancelled the statement or went away: the request ends and the verdict denies. */
  cancel(reason: 'client-cancel' | 'disconnect'): void;
}

/**
 * One call per statement. A Verdict is immediate; a Hold or a Promise means "wait": the session stops reading
 * from that client until it settles (a Hold also tells the client why it waits).
 */
export interface Gate {
  check(req: StatementRequest): Verdict | Hold | Promise<Verdict>;
}

/** A result set's columns as the protocol describes them (enough to decide masking). */
export interface ResultColumn {
  name: string;
  /** PostgreSQL table OID and attribute number; 0 when the column is computed. */
  tableOid?: number;
  columnNumber?: number;
  /** MySQL org_table / org_name (and schema), when the server sent them. */
  schema?: string;
  table?: string;
  originalName?: string;
  /**
   * The view the result named, when schema/table/originalName are the base table's column the view column
   * shows (PostgreSQL, through the catalog): rules of either apply.
   */
  view?: { schema?: string; table: string; column: string };
  /** PostgreSQL type OID or MySQL column type. */
  type: number;
  /** 0 text, 1 binary. */
  format: number;
  /** MySQL: the column definition's character set, flags and decimals, when the session decoded them. */
  characterSet?: number;
  flags?: number;
  decimals?: number;
}

export interface ResultInfo {
  session: SessionInfo;
  columns: ResultColumn[];
}

/** What a session reports for the audit: its identity once authenticated, each statement's outcome, its end. */
export interface SessionEvents {
  sessionOpened(session: SessionInfo, tls: boolean): void;
  /** A statement finished: rows returned or affected, or the error it ended with. */
  executed(session: SessionInfo, e: { command?: string; rows: number; durationMs: number; error?: string; maskedCells?: Record<string, number> }): void;
  sessionClosed(session: SessionInfo, reason: string): void;
}

export const noSessionEvents: SessionEvents = Object.freeze({
  sessionOpened: () => undefined,
  executed: () => undefined,
  sessionClosed: () => undefined,
});

