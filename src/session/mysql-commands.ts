// The command phase of a MySQL/MariaDB session (MySQL documentation, "Command Phase"): Command ->
// response -> Command. Each command packet is looked at once: statements (COM_QUERY, COM_STMT_PREPARE, each
// COM_STMT_EXECUTE) go to the gate, everything else is relayed, and the response is followed by the
// ResponseReader. The session (mysql.ts) owns the sockets; this part owns what the conversation means.
import { ProxyError } from '../errors.js';
import { WireError } from '../wire/bytes.js';
import * as dec from '../wire/mysql/decode.js';
import * as enc from '../wire/mysql/encode.js';
import { lastSequenceId, payloadOf } from '../wire/mysql/frames.js';
import { PayloadReader } from '../wire/mysql/reader.js';
import { Cap, Command, SessionTrack, Status, charsetOfCollation, commandName, cursorTypeMask } from '../wire/mysql/packets.js';
import { parseSqlMode, type MysqlContext } from '../classify/index.js';
import type { Logger } from '../log.js';
import { allow, type Gate, type Hold, type SessionEvents, type SessionInfo, type StatementRequest, type Verdict } from './hooks.js';
import type { StatementContext } from './mysql-catalog.js';
import type { MysqlMasking } from './mysql-masking.js';
import { ResponseReader, type ResponseKind, type ResponseSink } from './mysql-response.js';

/** What the command phase needs from the session. */
export interface CommandIo {
  writeClient(bytes: Buffer): void;
  writeUpstream(bytes: Buffer): void;
  /** The client's turn again: read its next packet. */
  resumeClient(): void;
  /** After a refusal: the client may go on, and a new sequence id was used on its link. */
  sentToClient(seq: number): void;
  /** COM_CHANGE_USER starts a new authentication exchange; the session relays the command and runs it. */
  changeUser(plugin: string | undefined, buf: Buffer, start: number, end: number): void;
  /** COM_QUIT went upstream: the server closes next. */
  quit(): void;
  isClosed(): boolean;
}

/** Commands with an SQL equivalent but no SQL text: the gate sees the equivalent. */
const sqlOfCommand: Partial<Record<number, (p: Buffer, ps: number, pe: number) => string>> = {
  [Command.CreateDb]: (p, ps, pe) => `CREATE DATABASE ${quoteName(dec.decodeCommandText(p, ps, pe))}`,
  [Command.DropDb]: (p, ps, pe) => `DROP DATABASE ${quoteName(dec.decodeCommandText(p, ps, pe))}`,
  [Command.ProcessKill]: (p, ps, pe) => `KILL CONNECTION ${dec.decodeStatementId(p, ps, pe)}`,
  [Command.Shutdown]: () => 'SHUTDOWN',
  [Command.Refresh]: () => 'FLUSH PRIVILEGES, TABLES, LOGS, STATUS',
};

/** `KILL [HARD | SOFT] QUERY n`: the connection id n, else undefined. */
export function killQueryTarget(sql: string): number | undefined {
  const m = /^\s*kill\s+(?:(?:hard|soft)\s+)?query\s+(\d{1,10})\s*;?\s*$/i.exec(sql);
  return m ? Number(m[1]) : undefined;
}

function quoteName(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

/** Server-internal and replication commands: answered with an error, never relayed. */
const refusedCommands = new Set<number>([
  Command.Sleep, Command.Connect, Command.Time, Command.DelayedInsert, Command.BinlogDump, Command.TableDump,
  Command.ConnectOut, Command.RegisterSlave, Command.Daemon, Command.BinlogDumpGtid, Command.Multi,
]);

export class CommandPhase {
  /** How the server reads SQL on this connection, for the classifier; replaced (never changed) when it changes. */
  context: MysqlContext = { dialect: 'mysql', serverVersion: 0, mariadb: false };
  readonly reader: ResponseReader;
  /** Capabilities the client and the proxy agreed on. */
  capabilities = 0;
  /** Character set of the handshake, which COM_RESET_CONNECTION returns to. */
  handshakeCharset: string | null = 'utf8mb4';

  /** The client is sending a LOCAL INFILE: its packets are file data until an empty one. */
  private uploading = false;
  private readonly statements = new Map<number, string>();
  /** MariaDB's statement id -1 means the last statement prepared. */
  private lastPrepared: string | undefined;
  private preparing = '';
  /** A statement held for a reviewer. */
  private held: Hold | null = null;
  /** The command whose response is under way, and when it (or its last statement's outcome) was sent. */
  private command = '';
  private startedAt = 0;
  /**
   * Outcomes wait for their masked cells (known once the result's last rows are masked); later outcomes
   * wait behind them, so the audit keeps the statements' order. null: none is waiting.
   */
  private reporting: Promise<void> | null = null;
  /**
   * A `USE` may have changed the current database without the server saying so (the client does not track
   * session state): the catalog does not trace derived tables until COM_INIT_DB or COM_CHANGE_USER says
   * which it is.
   */
  private databaseUnsure = false;
  /** The SQL of the statement about to go upstream, for the masking's catalog (statementSent). */
  private sending: StatementContext | null = null;

  constructor(
    private readonly io: CommandIo,
    private readonly info: SessionInfo,
    private readonly gate: Gate,
    private readonly masking: MysqlMasking | null,
    private readonly events: SessionEvents,
    private readonly log: Logger,
    /** A KILL QUERY for this connection id went through the gate (it still goes to the server too). */
    private readonly killQuery: (connectionId: number) => void = () => undefined,
  ) {
    this.reader = new ResponseReader(this.sink, masking);
  }

  /** No response is under way: the server closing now closes nothing in the middle. */
  get idle(): boolean {
    return this.reader.idle;
  }

  /** The session ended: a held statement's request is cancelled. */
  end(): void {
    this.held?.cancel('disconnect');
    this.held = null;
  }

  /** A KILL QUERY for this connection: the statement held, if any, ends with errno 1317 as a killed query does. */
  cancelHeld(): void {
    this.held?.cancel('client-cancel');
  }

  /** Runs `fn` once every outcome reported so far has reached the audit (at once when none waits). */
  afterOutcomes(fn: () => void): void {
    if (this.reporting) void this.reporting.then(fn);
    else fn();
  }

  // ---- client -> server ----

  /** Framer decision for a client packet: commands come whole; LOCAL INFILE data and long data stream. */
  onClientHeader(first: number, length: number): boolean {
    if (this.uploading) return length === 0;
    return first !== Command.StmtSendLongData;
  }

  /** A whole client packet. Returns false while its response (or a verdict) is pending. */
  onClientPacket(buf: Buffer, start: number, end: number, parts: number): boolean {
    if (this.uploading) {
      // The empty packet that ends the file: the server's OK or ERR comes next.
      this.uploading = false;
      this.io.writeUpstream(buf.subarray(start, end));
      return false;
    }
    if (buf[start + 3] !== 0) throw new WireError(`${commandName(buf[start + 4] ?? -1)} with sequence id ${buf[start + 3]}, expected 0`);
    if (end - start === 4) throw new WireError('empty command packet');
    const p = parts === 1 ? buf : payloadOf(buf, start, end, parts);
    const ps = parts === 1 ? start + 4 : 0;
    const pe = parts === 1 ? end : p.length;
    const command = p[ps]!;
    switch (command) {
      case Command.Query: {
        const sql = dec.decodeCommandText(p, ps, pe);
        return this.gateThen({ session: this.info, via: 'query', sql }, buf, start, end, () => {
          // A held statement never reached the server, so the server's KILL QUERY cannot end it: we do.
          const killed = killQueryTarget(sql);
          if (killed !== undefined) this.killQuery(killed);
          this.statementSent(sql, true);
          return this.forward('query', buf, start, end);
        });
      }
      case Command.StmtPrepare: {
        const sql = dec.decodeCommandText(p, ps, pe);
        return this.gateThen({ session: this.info, via: 'parse', sql }, buf, start, end, () => {
          this.preparing = sql;
          this.statementSent(sql, false);
          return this.forward('prepare', buf, start, end);
        });
      }
      case Command.StmtExecute:
      case Command.StmtBulkExecute: {
        const x = dec.decodeStmtExecute(p, ps, pe);
        const sql = x.statementId === 0xffffffff ? this.lastPrepared : this.statements.get(x.statementId);
        const opts = { cursor: command === Command.StmtExecute && (x.flags & cursorTypeMask) !== 0, statementId: x.statementId };
        // An id the proxy never saw prepared is unknown to the server too: it answers with its own error.
        if (sql === undefined) {
          this.statementSent(null, false);
          return this.forward('execute', buf, start, end, opts);
        }
        const req: StatementRequest = { session: this.info, via: 'execute', sql, statement: String(x.statementId) };
        return this.gateThen(req, buf, start, end, () => {
          this.statementSent(sql, false);
          return this.forward('execute', buf, start, end, opts);
        });
      }
      case Command.StmtFetch:
        return this.forward('fetch', buf, start, end, { statementId: dec.decodeStatementId(p, ps, pe) });
      case Command.StmtReset:
        this.reader.forget(dec.decodeStatementId(p, ps, pe));
        return this.forward('simple', buf, start, end);
      case Command.StmtClose: {
        const id = dec.decodeStatementId(p, ps, pe);
        this.statements.delete(id);
        this.reader.forget(id);
        this.io.writeUpstream(buf.subarray(start, end));
        return true;
      }
      case Command.StmtSendLongData:
        this.io.writeUpstream(buf.subarray(start, end));
        return true;
      case Command.Quit:
        this.io.writeUpstream(buf.subarray(start, end));
        this.io.quit();
        return false;
      case Command.InitDb:
        this.info.database = dec.decodeCommandText(p, ps, pe);
        this.databaseUnsure = false;
        return this.forward('simple', buf, start, end);
      case Command.ResetConnection:
        this.forgetStatements();
        this.resetContext(this.handshakeCharset);
        return this.forward('simple', buf, start, end);
      case Command.FieldList:
        return this.forward('fieldList', buf, start, end);
      case Command.ProcessInfo:
        return this.forward('query', buf, start, end);
      case Command.ChangeUser: {
        const cu = dec.decodeChangeUser(p, ps, pe, this.capabilities);
        this.info.user = cu.user;
        this.info.database = cu.database || undefined;
        this.databaseUnsure = false;
        this.forgetStatements();
        this.resetContext(cu.characterSet === undefined ? this.handshakeCharset : charsetOfCollation(cu.characterSet));
        this.io.changeUser(cu.authPluginName, buf, start, end);
        return false;
      }
    }
    const equivalent = sqlOfCommand[command];
    if (equivalent) {
      const sql = equivalent(p, ps, pe);
      return this.gateThen({ session: this.info, via: 'query', sql }, buf, start, end, () => this.forward('simple', buf, start, end, { statement: true }));
    }
    if (refusedCommands.has(command) || command > Command.ResetConnection) {
      this.refuse(new ProxyError('unsupportedCommand', `${commandName(command)} is not supported through sqlwarden`), buf, start, end);
      return true;
    }
    // COM_PING, COM_STATISTICS, COM_DEBUG, COM_SET_OPTION: one packet answers.
    return this.forward('simple', buf, start, end);
  }

  private forward(kind: ResponseKind, buf: Buffer, start: number, end: number, opts?: { cursor?: boolean; statementId?: number; statement?: boolean }): boolean {
    // The SQL of a query, prepare or execute (statementSent just before); none for anything else.
    this.masking?.commandSent(this.sending);
    this.sending = null;
    this.reader.begin(kind, opts);
    this.command = commandName(buf[start + 4]!);
    this.startedAt = Date.now();
    this.io.writeUpstream(buf.subarray(start, end));
    return false;
  }

  /**
   * A statement goes upstream: the masking's catalog reads its derived tables in it. `query`: COM_QUERY
   * text, which may hold a USE.
   */
  private statementSent(sql: string | null, query: boolean): void {
    const masking = this.masking;
    if (!masking?.tracesStatements) return;
    // A client that tracks session state hears of a USE in its OK packet (session_track_schema), and so do we.
    if (query && sql !== null && !(this.capabilities & Cap.SessionTrack) && mayUse(sql)) this.databaseUnsure = true;
    if (sql === null || this.context.oracleMode) {
      this.sending = null;
      return;
    }
    const { noBackslashEscapes, ansiQuotes, serverVersion, mariadb } = this.context;
    const database = this.databaseUnsure ? undefined : this.info.database;
    this.sending = { sql, database, mode: { noBackslashEscapes, ansiQuotes, serverVersion, mariadb } };
  }

  private forgetStatements(): void {
    this.statements.clear();
    this.lastPrepared = undefined;
    this.reader.forget();
  }

  /**
   * Asks the gate about a statement. Allowed: `onAllow` sends it. Held or pending: the client is not read
   * until the verdict. Refused: the client gets an ERR packet and may go on.
   */
  private gateThen(req: StatementRequest, buf: Buffer, start: number, end: number, onAllow: () => boolean): boolean {
    req.context = this.context;
    const verdict = this.gate.check(req);
    if (verdict === allow) return onAllow();
    if (verdict instanceof Promise) return this.waitFor(verdict, buf, start, end, onAllow);
    if (verdict.action === 'hold') {
      // MySQL has no message a server may send while a command runs: the client just waits, as for a slow query.
      this.held = verdict;
      this.log.info({ request: verdict.requestId }, verdict.notice);
      return this.waitFor(verdict.verdict, buf, start, end, onAllow);
    }
    return this.apply(verdict, buf, start, end, onAllow);
  }

  private waitFor(verdict: Promise<Verdict>, buf: Buffer, start: number, end: number, onAllow: () => boolean): boolean {
    verdict.then(
      (v) => this.afterVerdict(v, buf, start, end, onAllow),
      (err) => {
        this.log.error({ err }, 'gate failed; refusing the statement');
        this.afterVerdict({ action: 'deny', error: new ProxyError('denied', 'the gate failed') }, buf, start, end, onAllow);
      },
    );
    return false;
  }

  private afterVerdict(v: Verdict, buf: Buffer, start: number, end: number, onAllow: () => boolean): void {
    this.held = null;
    if (this.io.isClosed()) return;
    if (this.apply(v, buf, start, end, onAllow)) this.io.resumeClient();
  }

  private apply(v: Verdict, buf: Buffer, start: number, end: number, onAllow: () => boolean): boolean {
    if (v.action === 'allow') return onAllow();
    this.refuse(v.error, buf, start, end);
    return true;
  }

  /** Answers a command with an ERR packet of the proxy's own, as the server would have. */
  private refuse(error: ProxyError, buf: Buffer, start: number, end: number): void {
    const seq = (lastSequenceId(buf, start, end) + 1) & 0xff;
    this.io.writeClient(enc.errPacket(seq, error.entry.errno, error.entry.mysqlState, error.message));
    this.io.sentToClient(seq);
  }

  // ---- server -> client ----

  private readonly sink: ResponseSink = {
    write: (bytes) => this.io.writeClient(bytes),
    status: (flags, buf, start, end, ok) => {
      const noBackslashEscapes = (flags & Status.NoBackslashEscapes) !== 0;
      if (noBackslashEscapes !== this.context.noBackslashEscapes) this.context = { ...this.context, noBackslashEscapes };
      if (ok && flags & Status.SessionStateChanged) this.onSessionState(buf, start, end);
    },
    outcome: (rows, error, maskedCells) => {
      const now = Date.now();
      const e = { command: this.command, rows, durationMs: now - this.startedAt, ...(error ? { error } : {}) };
      // The next statement of a multi-statement query starts now.
      this.startedAt = now;
      if (!maskedCells && !this.reporting) return this.events.executed(this.info, e);
      const reported: Promise<void> = (this.reporting ?? Promise.resolve())
        .then(() => maskedCells)
        .then(
          (cells) => this.events.executed(this.info, cells ? { ...e, maskedCells: cells } : e),
          () => this.events.executed(this.info, e),
        )
        .then(() => {
          if (this.reporting === reported) this.reporting = null;
        });
      this.reporting = reported;
    },
    localInfile: () => {
      this.uploading = true;
      this.io.resumeClient();
    },
    prepared: (id) => {
      if (id < 0) this.lastPrepared = undefined;
      else {
        this.statements.set(id, this.preparing);
        this.lastPrepared = this.preparing;
      }
    },
    done: () => this.io.resumeClient(),
  };

  /** System variables the server reports changed (SESSION_TRACK) that change how it reads SQL. */
  private onSessionState(buf: Buffer, start: number, end: number): void {
    const state = dec.decodeOk(buf, start, end, this.capabilities).sessionState;
    if (!state) return;
    for (const change of dec.decodeSessionState(state)) {
      if (change.type === SessionTrack.schema) {
        // The current database changed (USE): the server says which.
        this.info.database = new PayloadReader(change.data, 0, change.data.length, 'session state: schema').lenencString() || undefined;
        this.databaseUnsure = false;
        continue;
      }
      if (change.type !== SessionTrack.systemVariables) continue;
      const [name, value] = dec.decodeSystemVariable(change.data);
      if (name === 'sql_mode') {
        const mode = parseSqlMode(value);
        this.context = { ...this.context, noBackslashEscapes: mode.noBackslashEscapes, ansiQuotes: mode.ansiQuotes, oracleMode: mode.oracle };
      } else if (name === 'character_set_client') {
        this.context = { ...this.context, charset: value.toLowerCase() };
      }
    }
  }

  /** The session's variables went back to the server's defaults (COM_RESET_CONNECTION, COM_CHANGE_USER). */
  private resetContext(charset: string | null): void {
    const { dialect, serverVersion, mariadb, noBackslashEscapes } = this.context;
    this.context = { dialect, serverVersion, mariadb, noBackslashEscapes, charset };
  }
}

/**
 * Whether a COM_QUERY text may hold a USE statement (a word USE anywhere: cheap, and a false alarm only
 * stops derived table tracing until the server or a command names the database again).
 */
export function mayUse(sql: string): boolean {
  for (let i = 0; i + 3 <= sql.length; i++) {
    if ((sql.charCodeAt(i) | 0x20) !== 0x75 || (sql.charCodeAt(i + 1) | 0x20) !== 0x73 || (sql.charCodeAt(i + 2) | 0x20) !== 0x65) continue;
    if (!isNameChar(sql.charCodeAt(i - 1)) && !isNameChar(sql.charCodeAt(i + 3))) return true;
  }
  return false;
}

function isNameChar(c: number): boolean {
  // NaN (out of the text) is not.
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) || c === 0x5f || c === 0x24 || c >= 0x80;
}
