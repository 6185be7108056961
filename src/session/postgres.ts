// One PostgreSQL client session: Startup -> (TLS) -> Auth -> Ready, relaying bytes unchanged by default.
// It follows the PostgreSQL documentation's "Message Flow" chapter. Only the messages policy needs are
// decoded: statements go to the gate (held ones wait with their whole pipeline; refused ones fail upstream
// like a server error, see `refuse`); results go through masking (pg-masking.ts) when it is configured;
// everything else streams through as byte ranges.
import type net from 'node:net';
import tls from 'node:tls';
import { ProxyError, type ErrorCode } from '../errors.js';
import { WireError, joined } from '../wire/bytes.js';
import { PgFramer, MessageTooLarge, type FrameHandler } from '../wire/postgres/frames.js';
import { AuthCode, Back, Front } from '../wire/postgres/messages.js';
import * as dec from '../wire/postgres/decode.js';
import * as enc from '../wire/postgres/encode.js';
import type { Hold, SessionInfo, StatementRequest, Verdict } from './hooks.js';
import { CopyNotMaskable, PgMasking, maskingClientInspected, maskingServerInspected } from './pg-masking.js';
import type { ProxySession, SessionContext } from './listener.js';
import type { PostgresContext } from '../classify/index.js';
import { SocketPair, type PairEvents } from './socket-pair.js';
import { connectPgUpstream, forwardCancelRequest } from './pg-startup.js';

type Phase = 'startup' | 'connecting' | 'auth' | 'ready' | 'closed';

/** One Query, Sync or FunctionCall sent upstream, waiting for its ReadyForQuery. */
interface SyncPoint {
  /** Our error for a refused statement, to send in place of the server's error for `refusalMarker`. */
  refusal: Buffer | null;
  /** The Sync of our Describe of a COPY's rows: its answers are not the client's (see `ourAnswer`). */
  ours?: boolean;
  /**
   * Our Describe failed inside a transaction block, which the failure aborted: the COPY's "current transaction
   * is aborted" is answered with this error, the one the COPY itself would have met.
   */
  priorError?: Buffer;
}

/** What the server answers our Parse, Describe and Sync with. */
const answersToOurs = new Set<number>([Back.ParseComplete, Back.ParameterDescription, Back.RowDescription, Back.NoData, Back.ErrorResponse, Back.ReadyForQuery]);

/** A statement that cannot parse, sent in place of a refused one; no table, function or keyword has the name. */
const refusalMarker = 'SQLWARDEN_REFUSED_STATEMENT';
const refusalQuery = encodeFrontend(Front.Query, `${refusalMarker}\0`);
const refusalParse = encodeFrontend(Front.Parse, `\0${refusalMarker}\0\0\0`);

function encodeFrontend(type: number, body: string): Buffer {
  const b = Buffer.from(` ----${body}`, 'latin1');
  b[0] = type;
  b.writeInt32BE(b.length - 1, 1);
  return b;
}

const clientInspected = [Front.Query, Front.Parse, Front.Bind, Front.Execute, Front.Close, Front.Sync, Front.Flush, Front.FunctionCall, Front.Terminate];
/** Largest extended-protocol pipeline held back whole until its Sync (see `pipeline`). */
const maxPipelineBytes = 1024 * 1024;
const serverInspected = [Back.Authentication, Back.BackendKeyData, Back.ParameterStatus, Back.ReadyForQuery, Back.ErrorResponse, Back.CommandComplete];

export function cancelKeyOf(processId: number, key: Buffer): string {
  return `${processId}:${key.toString('hex')}`;
}

export function createPostgresSession(client: net.Socket, ctx: SessionContext): ProxySession {
  return new PostgresSession(client, ctx);
}

class PostgresSession implements ProxySession {
  readonly closed: Promise<void>;
  private readonly info: SessionInfo;
  private phase: Phase = 'startup';

  private readonly sockets: SocketPair;
  private fromClient: PgFramer;
  private fromServer?: PgFramer;
  private terminating = false;

  private readonly syncPoints: SyncPoint[] = [];
  /**
   * Extended-protocol messages since the last Sync or Flush, held back until it: a held statement holds its
   * whole pipeline, so nothing of the pipeline reaches the server before the verdict.
   */
  private pipeline: Buffer[] = [];
  private pipelineBytes = 0;
  private pipelineOpen = false;
  /** Our error for a statement refused in this extended-protocol batch, answered at the batch's Sync. */
  private refusedInBatch: Buffer | null = null;
  /** The hold the client is waiting on, if any (a CancelRequest or a disconnect ends it). */
  private hold: Hold | null = null;
  /** Messages of ours waiting for the server's current message to end. */
  private deferredToClient: Buffer[] = [];
  /** Prepared statement name -> SQL, and portal -> SQL, so each Execute can name what it runs. */
  private readonly statements = new Map<string, string>();
  private readonly portals = new Map<string, string>();
  private backendKey?: string;
  readonly serverParams = new Map<string, string>();
  /** How the server reads SQL text right now, for the classifier. */
  private context: PostgresContext = { dialect: 'postgres' };
  /** Result masking (absent when no masking stage is configured). */
  private masking: PgMasking | null = null;
  private readonly negotiated = new Set<'ssl' | 'gssenc'>();
  /** Authenticated: the audit has its session.open line. */
  private opened = false;
  private closeReason = 'client closed';
  /** When the statement now running was sent (for the audit's durations). */
  private statementStartedAt = 0;
  /** The server sent a FATAL error: when it then closes, the client has its reason already. */
  private serverSentFatal = false;

  constructor(
    client: net.Socket,
    private readonly ctx: SessionContext,
  ) {
    this.sockets = new SocketPair(client, this.socketEvents, ctx.log);
    this.closed = this.sockets.closed;
    this.info = {
      id: ctx.id,
      listener: ctx.listener.name,
      protocol: 'postgres',
      client: ctx.client,
      signal: this.sockets.signal,
    };
    this.fromClient = this.newClientFramer();
    ctx.log.debug('session opened');
  }

  // ---- sockets ----

  private readonly socketEvents: PairEvents = {
    clientData: (chunk) => {
      // After a fatal error the rest of what the client sends is moot (and no longer framed).
      if (this.phase === 'closed') return;
      try {
        this.fromClient.push(chunk);
        this.endOfInput();
      } catch (err) {
        this.protocolError(err, 'client');
      }
    },
    upstreamData: (chunk) => {
      try {
        this.fromServer!.push(chunk);
        if (this.deferredToClient.length > 0 && this.fromServer!.atBoundary) {
          for (const m of this.deferredToClient.splice(0)) this.writeClient(m);
        }
        // Rows masked inline were gathered: they join this chunk's one write.
        this.masking?.output.flush();
      } catch (err) {
        this.protocolError(err, 'server');
      }
    },
    // A verdict pending stops reading the client; masking without room stops reading the server.
    clientStopped: () => this.fromClient.isStopped,
    upstreamStopped: () => this.fromServer?.isStopped === true,
    clientClosed: () => this.hold?.cancel('disconnect'),
    upstreamClosed: (hadError) => {
      // Terminate sent, or the client has its reason already: the client is closed as the server closed.
      if (this.terminating || this.phase === 'closed' || this.serverSentFatal) this.sockets.closeClientLike(hadError);
      else this.fatal(new ProxyError('upstreamLost', hadError ? 'connection reset' : 'the server closed the connection'));
    },
    bothClosed: () => this.finish(),
  };

  private attachUpstream(socket: net.Socket): void {
    const framer = new PgFramer(this.serverHandler, {
      typed: true,
      maxMessageBytes: this.ctx.listener.maxMessageBytes,
      inspect: serverInspected,
    });
    this.fromServer = framer;
    const stage = this.ctx.deps.masking;
    if (stage) {
      for (const t of maskingServerInspected) framer.inspect[t] = 1;
      for (const t of maskingClientInspected) this.fromClient.inspect[t] = 1;
      this.masking = new PgMasking(
        stage,
        this.info,
        framer,
        (bytes) => this.sockets.writeClient(bytes),
        (err) => {
          if (err instanceof CopyNotMaskable) return this.fatal(new ProxyError('unsupportedCommand', err.message));
          this.ctx.log.error({ err: err.message }, 'masking failed; closing the session rather than send rows unmasked');
          this.fatal(new ProxyError('protocolViolation', 'masking failed'));
        },
        () => this.waitForMasking(),
        this.ctx.deps.catalogFor?.(this.ctx.listener.name),
      );
    }
    this.sockets.attachUpstream(socket);
  }

  /** Everything for the client goes here: through masking's ordered output when masking is on. */
  private writeClient(bytes: Buffer): void {
    if (this.masking) this.masking.output.write(bytes);
    else this.sockets.writeClient(bytes);
  }

  // ---- startup: SSLRequest, GSSENCRequest, CancelRequest, StartupMessage ----

  private newClientFramer(): PgFramer {
    return new PgFramer(this.clientHandler, { typed: false, maxMessageBytes: this.ctx.listener.maxMessageBytes, inspect: clientInspected });
  }

  private onStartupPacket(buf: Buffer, start: number, end: number): boolean {
    const packet = dec.decodeStartupPacket(buf, start, end);
    switch (packet.kind) {
      case 'ssl':
        // As the server: each negotiation request at most once (postmaster.c, ProcessStartupPacket).
        if (this.negotiated.has('ssl')) return this.refuseRepeat('SSLRequest');
        this.negotiated.add('ssl');
        if (!this.ctx.tls) {
          this.writeClient(enc.sslRefused);
          return true;
        }
        this.writeClient(enc.sslAccepted);
        queueMicrotask(() => {
          // Bytes after SSLRequest and before the handshake could be injected in the clear (CVE-2021-23214).
          if (this.fromClient.takeRemainder().length > 0) return this.fatal(new ProxyError('protocolViolation', 'data after SSLRequest'));
          this.startClientTls();
        });
        return false;
      case 'gssenc':
        if (this.negotiated.has('gssenc')) return this.refuseRepeat('GSSENCRequest');
        this.negotiated.add('gssenc');
        this.writeClient(enc.sslRefused);
        return true;
      case 'cancel':
        this.ctx.deps.cancelKeys.get(cancelKeyOf(packet.processId, packet.key))?.cancel();
        this.sockets.client.end();
        return false;
      case 'startup':
        if (packet.major !== 3) {
          this.fatal(new ProxyError('unsupportedProtocol', `${packet.major}.${packet.minor}; this proxy speaks 3.x`));
          return false;
        }
        this.info.user = packet.params.get('user');
        this.info.database = packet.params.get('database') ?? this.info.user;
        this.info.application = packet.params.get('application_name');
        void this.connectUpstream(Buffer.from(buf.subarray(start, end)));
        return false;
    }
  }

  private refuseRepeat(what: string): boolean {
    this.fatal(new ProxyError('protocolViolation', `${what} sent twice`));
    return false;
  }

  private startClientTls(): void {
    const raw = this.sockets.client;
    this.sockets.detach(raw);
    const secure = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: this.ctx.tls,
      ALPNProtocols: ['postgresql'],
    });
    raw.on('close', () => secure.destroy());
    this.fromClient = this.newClientFramer();
    this.sockets.attachClient(secure);
    secure.on('secure', () => this.ctx.log.debug({ protocol: secure.getProtocol() }, 'client TLS established'));
    raw.resume();
  }

  private async connectUpstream(startupPacket: Buffer): Promise<void> {
    this.phase = 'connecting';
    try {
      const socket = await connectPgUpstream(this.ctx.listener);
      if (!this.sockets.clientOpen) return void socket.destroy();
      this.attachUpstream(socket);
      this.phase = 'auth';
      this.fromClient.typed = true;
      this.sockets.writeUpstream(startupPacket);
    } catch (err) {
      return this.fatal(err instanceof ProxyError ? err : new ProxyError('upstreamUnreachable', (err as Error).message));
    }
    // What the client sent after its startup packet is framed now, and is the client's fault if malformed.
    try {
      this.fromClient.resume();
    } catch (err) {
      this.protocolError(err, 'client');
    }
    this.sockets.updateFlow();
  }

  // ---- client -> server ----

  private readonly clientHandler: FrameHandler = {
    onFrame: (type, buf, start, end) => {
      if (this.phase === 'startup') return this.onStartupPacket(buf, start, end);
      switch (type) {
        case Front.Query:
          return this.gateThen({ session: this.info, via: 'query', sql: dec.decodeQuery(buf, start, end).sql, context: this.context }, buf, start, end);
        case Front.Parse: {
          const p = dec.decodeParse(buf, start, end);
          return this.gateThen({ session: this.info, via: 'parse', sql: p.sql, statement: p.statement, context: this.context }, buf, start, end, () =>
            this.statements.set(p.statement, p.sql),
          );
        }
        case Front.Bind: {
          const b = dec.decodeBindNames(buf, start, end);
          this.portals.set(b.portal, this.statements.get(b.statement) ?? '');
          break;
        }
        case Front.Execute: {
          const portal = dec.decodeExecute(buf, start, end).portal;
          return this.gateThen({ session: this.info, via: 'execute', sql: this.portals.get(portal) ?? '', statement: portal, context: this.context }, buf, start, end);
        }
        case Front.Close: {
          const c = dec.decodeTarget(buf, start, end);
          (c.target === 'S' ? this.statements : this.portals).delete(c.name);
          break;
        }
        case Front.FunctionCall:
          return this.gateThen({ session: this.info, via: 'function-call', sql: '', context: this.context }, buf, start, end);
        case Front.Sync:
          this.syncPoints.push({ refusal: this.refusedInBatch });
          this.refusedInBatch = null;
          break;
        case Front.Terminate:
          this.terminating = true;
          break;
      }
      this.forward(type, buf, start, end);
      return true;
    },
    onPass: (buf, start, end) => this.send(buf.subarray(start, end)),
  };

  private forward(type: number, buf: Buffer, start: number, end: number): void {
    const bytes = buf.subarray(start, end);
    const before = this.masking?.clientSent(type, buf, start, end);
    if (before) this.send(before);
    if (type === Front.Query || type === Front.Execute || type === Front.FunctionCall) this.statementStartedAt = Date.now();
    switch (type) {
      case Front.Query:
      case Front.FunctionCall: {
        // Our Sync would end a batch the client left open: a COPY's rows are described only between batches.
        const betweenBatches = !this.pipelineOpen;
        this.flushPipeline();
        if (type === Front.Query && betweenBatches) this.describeCopyRows(buf, start, end);
        this.syncPoints.push({ refusal: null });
        return this.sockets.writeUpstream(bytes);
      }
      case Front.Terminate:
        this.flushPipeline();
        return this.sockets.writeUpstream(bytes);
      case Front.Sync:
      case Front.Flush:
        // The client now waits for answers: the pipeline goes.
        this.send(bytes);
        return this.flushPipeline();
      default:
        this.pipelineOpen = true;
        return this.send(bytes);
    }
  }

  /**
   * A COPY ... TO STDOUT with masking on: the server describes its rows first (pg-masking.ts describeCopy).
   * The Parse uses the unnamed statement, which the client's simple Query destroys anyway.
   */
  private describeCopyRows(buf: Buffer, start: number, end: number): void {
    const describe = this.masking?.describeCopy(buf, start, end);
    if (!describe) return;
    this.syncPoints.push({ refusal: null, ours: true });
    this.sockets.writeUpstream(describe);
  }

  /**
   * All the client sent so far is processed. A pipeline still open goes upstream too, unless a verdict is
   * pending: a client may wait for an answer without Sync (COPY FROM STDIN sent with Execute), and a pipeline
   * is held whole only while it arrived in one piece with its held statement.
   */
  private endOfInput(): void {
    if (this.pipelineOpen && !this.fromClient.isStopped) this.flushPipeline();
  }

  /** Client bytes go upstream now, or join the open pipeline. */
  private send(bytes: Buffer): void {
    if (!this.pipelineOpen) return this.sockets.writeUpstream(bytes);
    this.pipeline.push(bytes);
    this.pipelineBytes += bytes.length;
    // A pipeline larger than this goes on in parts: memory stays bounded, the unit is then only as large.
    if (this.pipelineBytes > maxPipelineBytes) this.flushPipeline(true);
  }

  private flushPipeline(stillOpen = false): void {
    // Messages of one socket read (Bind, Execute, Sync) go on as one write.
    let run: Buffer | null = null;
    for (const b of this.pipeline) {
      const both: Buffer | null = run && joined(run, b);
      if (run && !both) this.sockets.writeUpstream(run);
      run = both || b;
    }
    if (run) this.sockets.writeUpstream(run);
    this.pipeline = [];
    this.pipelineBytes = 0;
    this.pipelineOpen = stillOpen;
  }

  /**
   * Asks the gate about a statement. Allowed: the message goes upstream now. Held or pending: the framer stops
   * (the client is no longer read) until the verdict, then goes on. Refused: see `refuse`.
   */
  private gateThen(req: StatementRequest, buf: Buffer, start: number, end: number, onAllow?: () => void): boolean {
    if (this.refusedInBatch) {
      // The server is skipping to Sync after our refusal: what follows goes along unjudged and unexecuted.
      this.forward(buf[start]!, buf, start, end);
      return true;
    }
    const verdict = this.ctx.deps.gate.check(req);
    if (!(verdict instanceof Promise) && verdict.action !== 'hold') {
      this.apply(verdict, buf, start, end, onAllow);
      return true;
    }
    let pending = verdict as Promise<Verdict>;
    if (!(verdict instanceof Promise)) {
      this.hold = verdict;
      this.writeClientBetweenMessages(enc.encodeNoticeResponse({ severity: 'NOTICE', code: '00000', message: verdict.notice }));
      pending = verdict.verdict;
    }
    pending.then(
      (v) => this.afterVerdict(v, buf, start, end, onAllow),
      (err) => {
        this.ctx.log.error({ err }, 'gate failed; refusing the statement');
        this.afterVerdict({ action: 'deny', error: new ProxyError('denied', 'the gate failed') }, buf, start, end);
      },
    );
    return false;
  }

  private afterVerdict(v: Verdict, buf: Buffer, start: number, end: number, onAllow?: () => void): void {
    this.hold = null;
    if (this.phase === 'closed') return;
    this.sockets.withUpstreamCorked(() => {
      try {
        this.apply(v, buf, start, end, onAllow);
        this.fromClient.resume();
        this.endOfInput();
      } catch (err) {
        this.protocolError(err, 'client');
      }
    });
    this.sockets.updateFlow();
  }

  private apply(v: Verdict, buf: Buffer, start: number, end: number, onAllow?: () => void): void {
    if (v.action === 'allow') {
      onAllow?.();
      return this.forward(buf[start]!, buf, start, end);
    }
    this.refuse(buf[start]!, enc.encodeErrorResponse({ severity: 'ERROR', code: v.error.entry.sqlstate, message: v.error.message }));
  }

  /**
   * A refused statement must fail exactly as a failing statement does on the server: an open transaction
   * becomes aborted, an extended-protocol batch is skipped to Sync and its implicit transaction rolled back,
   * and ReadyForQuery reports the server's real status. So the server is sent a statement that cannot parse
   * in its place, and its syntax error is replaced by ours on the way back.
   */
  private refuse(type: number, error: Buffer): void {
    if (type === Front.Query || type === Front.FunctionCall) {
      this.syncPoints.push({ refusal: error });
      this.masking?.clientSent(Front.Query, refusalQuery, 0, refusalQuery.length);
      this.sockets.writeUpstream(refusalQuery);
      return;
    }
    this.masking?.clientSent(Front.Parse, refusalParse, 0, refusalParse.length);
    this.refusedInBatch = error;
    this.pipelineOpen = true;
    this.send(refusalParse);
  }

  /** Async messages (a NOTICE) may go to the client between two server messages, never inside one. */
  private writeClientBetweenMessages(bytes: Buffer): void {
    if (!this.fromServer || this.fromServer.atBoundary) this.writeClient(bytes);
    else this.deferredToClient.push(bytes);
  }

  // ---- server -> client ----

  private readonly serverHandler: FrameHandler = {
    onFrame: (type, buf, start, end) => {
      if (this.syncPoints[0]?.ours && answersToOurs.has(type) && this.ourAnswer(type, buf, start, end)) return true;
      switch (type) {
        case Back.Authentication:
          return this.onAuthentication(buf, start, end);
        case Back.BackendKeyData: {
          const k = dec.decodeBackendKeyData(buf, start, end);
          this.backendKey = cancelKeyOf(k.processId, k.key);
          this.ctx.deps.cancelKeys.set(this.backendKey, { cancel: () => this.onCancelRequest(k.processId, k.key) });
          break;
        }
        case Back.ParameterStatus: {
          const p = dec.decodeParameterStatus(buf, start, end);
          this.serverParams.set(p.name, p.value);
          // Both are reported by the server (GUC_REPORT) and change how SQL text reads.
          if (p.name === 'standard_conforming_strings') this.context = { ...this.context, standardConformingStrings: p.value === 'on' };
          else if (p.name === 'client_encoding') this.context = { ...this.context, clientEncoding: p.value };
          break;
        }
        case Back.ReadyForQuery:
          dec.decodeReadyForQuery(buf, start, end); // a malformed one ends the session, as any bad message does
          if (this.phase === 'auth') this.phase = 'ready';
          else this.syncPoints.shift();
          break;
        case Back.ErrorResponse: {
          const fields = dec.decodeFields(buf, start, end);
          const severity = fields.get('V') ?? fields.get('S');
          if (severity === 'FATAL' || severity === 'PANIC') this.serverSentFatal = true;
          const point = this.syncPoints[0];
          if (point?.refusal && fields.get('M')?.includes(refusalMarker)) {
            const ours = point.refusal;
            point.refusal = null;
            return this.toClient(type, ours, 0, ours.length);
          }
          if (point?.priorError && fields.get('C') === inFailedTransaction) {
            const prior = point.priorError;
            point.priorError = undefined;
            const go = this.toClient(type, prior, 0, prior.length);
            this.statementEnded(undefined, 0, errorText(dec.decodeFields(prior, 0, prior.length)));
            return go;
          }
          const go = this.toClient(type, buf, start, end);
          this.statementEnded(undefined, 0, errorText(fields));
          return go;
        }
        case Back.CommandComplete: {
          const go = this.toClient(type, buf, start, end);
          const tag = dec.decodeCommandComplete(buf, start, end).tag;
          if (/^(CREATE|ALTER|DROP|COMMENT|GRANT|REVOKE) /.test(tag)) this.masking?.schemaChanged();
          this.statementEnded(tag, rowsOfTag(tag));
          return go;
        }
      }
      return this.toClient(type, buf, start, end);
    },
    onPass: (buf, start, end) => this.writeClient(buf.subarray(start, end)),
  };

  /**
   * An answer to our Describe of a COPY's rows: kept from the client and the audit. Returns false for what
   * the client must see all the same (a FATAL error).
   */
  private ourAnswer(type: number, buf: Buffer, start: number, end: number): boolean {
    switch (type) {
      case Back.RowDescription:
        this.masking?.copyDescribed(dec.decodeRowDescription(buf, start, end));
        break;
      case Back.ErrorResponse: {
        const fields = dec.decodeFields(buf, start, end);
        const severity = fields.get('V') ?? fields.get('S');
        if (severity === 'FATAL' || severity === 'PANIC') return false;
        const next = this.syncPoints[1];
        if (next) {
          // Its position points into our Describe's text, not the client's: left out.
          fields.delete('P');
          next.priorError = enc.encodeFields(Back.ErrorResponse, fields);
        }
        break;
      }
      case Back.ReadyForQuery:
        dec.decodeReadyForQuery(buf, start, end);
        this.syncPoints.shift();
        break;
    }
    return true;
  }

  /** A whole server message for the client; false stops reading the server until masking has room again. */
  private toClient(type: number, buf: Buffer, start: number, end: number): boolean {
    const masking = this.masking;
    if (!masking) {
      this.sockets.writeClient(buf.subarray(start, end));
      return true;
    }
    return masking.serverMessage(type, buf, start, end) || this.waitForMasking();
  }

  /** Masking has no room: the server is read again once it has. */
  private waitForMasking(): false {
    const masking = this.masking!;
    void masking.drained().then(() => {
      if (this.phase === 'closed') return;
      this.sockets.resumeUpstream(
        () => {
          this.fromServer!.resume();
          masking.output.flush();
        },
        (err) => this.protocolError(err, 'server'),
      );
    });
    return false;
  }

  private onAuthentication(buf: Buffer, start: number, end: number): boolean {
    const auth = dec.decodeAuthentication(buf, start, end);
    if (auth.code === AuthCode.sasl) {
      // Channel binding binds to the TLS connection the server sees, which is ours, not the client's:
      // SCRAM-SHA-256-PLUS cannot succeed through a proxy, so clients are not offered it.
      const usable = auth.mechanisms.filter((m) => !m.endsWith('-PLUS'));
      if (usable.length !== auth.mechanisms.length) {
        this.writeClient(enc.encodeAuthenticationSASL(usable));
        return true;
      }
    } else if (auth.code === AuthCode.ok) {
      this.ctx.log.info({ user: this.info.user, database: this.info.database, application: this.info.application }, 'authenticated');
      this.ctx.deps.events.sessionOpened(this.info, this.sockets.client instanceof tls.TLSSocket);
      this.opened = true;
    }
    this.writeClient(buf.subarray(start, end));
    return true;
  }

  /** A statement finished (CommandComplete or an error): the audit gets its outcome. */
  private statementEnded(command: string | undefined, rows: number, error?: string): void {
    const now = Date.now();
    const durationMs = this.statementStartedAt ? now - this.statementStartedAt : 0;
    const masked = this.masking?.takeEnded();
    if (masked) void masked.then((maskedCells) => this.ctx.deps.events.executed(this.info, { command, rows, durationMs, error, maskedCells }));
    else this.ctx.deps.events.executed(this.info, { command, rows, durationMs, error });
    // The next statement of a multi-statement query starts now.
    this.statementStartedAt = now;
  }

  // ---- cancel, errors, close ----

  /** A CancelRequest for this session: it ends a hold the client waits on, else it goes to the server. */
  private onCancelRequest(processId: number, key: Buffer): void {
    if (this.hold) this.hold.cancel('client-cancel');
    else void this.cancelUpstream(processId, key);
  }

  /** A client's CancelRequest for this session, sent on a fresh connection to the server as the protocol wants. */
  private async cancelUpstream(processId: number, key: Buffer): Promise<void> {
    try {
      await forwardCancelRequest(this.ctx.listener, processId, key);
      this.ctx.log.info('cancel request forwarded');
    } catch (err) {
      this.ctx.log.warn({ err: (err as Error).message }, 'cancel request could not be forwarded');
    }
  }

  private protocolError(err: unknown, from: 'client' | 'server'): void {
    if (err instanceof CopyNotMaskable) return this.fatal(new ProxyError('unsupportedCommand', err.message));
    if (!(err instanceof WireError)) {
      this.ctx.log.error({ err }, 'unexpected error in session');
      return this.fatal(new ProxyError('protocolViolation', 'internal error'));
    }
    this.ctx.log.warn({ from, err: err.message }, 'protocol violation');
    const code: ErrorCode = err instanceof MessageTooLarge ? 'messageTooLarge' : 'protocolViolation';
    this.fatal(new ProxyError(code, `${from === 'server' ? 'from the server: ' : ''}${err.message}`));
  }

  /** Ends the session with a FATAL error the client can read (when the stream to it is between messages). */
  private fatal(error: ProxyError): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.ctx.log.info({ code: error.entry.sqlstate, reason: error.message }, 'session ended by the proxy');
    this.closeReason = `error: ${error.message}`;
    // The client may be between messages while more of the server's wait unread (the framer stopped).
    const atBoundary = !this.fromServer?.insidePassedMessage;
    const { client, clientOpen, upstream } = this.sockets;
    if (clientOpen) {
      if (atBoundary) {
        // What masking's output holds was sent before the error: it goes first.
        this.masking?.output.flush();
        client.end(enc.encodeErrorResponse({ severity: 'FATAL', code: error.entry.sqlstate, message: error.message }));
      } else client.destroy();
    }
    upstream?.destroy();
  }

  close(reason: 'shutdown'): void {
    void reason;
    this.fatal(new ProxyError('shuttingDown'));
  }

  /** Both sockets are closed. */
  private finish(): void {
    if (this.phase !== 'closed') this.phase = 'closed';
    if (this.backendKey) this.ctx.deps.cancelKeys.delete(this.backendKey);
    if (this.opened) this.ctx.deps.events.sessionClosed(this.info, this.closeReason);
  }
}

/** SQLSTATE of "current transaction is aborted, commands ignored until end of transaction block". */
const inFailedTransaction = '25P02';

function errorText(fields: Map<string, string>): string {
  return `${fields.get('C')}: ${fields.get('M')}`;
}

/** Rows a CommandComplete tag reports: the last number of `SELECT 5`, `INSERT 0 3`, `COPY 7`; 0 for `CREATE TABLE`. */
function rowsOfTag(tag: string): number {
  const space = tag.lastIndexOf(' ');
  const n = space < 0 ? NaN : Number(tag.slice(space + 1));
  return Number.isInteger(n) ? n : 0;
}
