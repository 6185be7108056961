// One MySQL/MariaDB client session: Greeting -> [SSLRequest, TLS] -> HandshakeResponse -> Auth -> Command,
// relaying bytes unchanged by default (MySQL documentation, "Connection Lifecycle"). The server speaks
// first, so the upstream connection opens at once and its greeting is relayed with the capabilities the
// proxy cannot inspect through cleared. Statements go to the gate; result sets and errors to masking
// (mysql-masking.ts), whose ordered output then carries every byte for the client; every other packet
// streams through.
//
// Turns are strict: after a command that has a response, the client is not read until the response has
// ended. A client that pipelines still works (its packets wait in the socket), and the proxy never has to
// guess whether a packet is a command, a LOCAL INFILE block or authentication data: it knows what the
// server expects, because the server only ever expects one thing.
import type net from 'node:net';
import tls from 'node:tls';
import { ProxyError, type ErrorCode } from '../errors.js';
import { WireError } from '../wire/bytes.js';
import * as dec from '../wire/mysql/decode.js';
import * as enc from '../wire/mysql/encode.js';
import { MessageTooLarge, MyFramer, framePayload, lastSequenceId, payloadOf, physicalPackets, type PacketHandler } from '../wire/mysql/frames.js';
import { Cap, Command, Header, charsetOfCollation } from '../wire/mysql/packets.js';
import type { SessionInfo } from './hooks.js';
import { mysqlCancelKey, type ProxySession, type SessionContext } from './listener.js';
import { AuthExchange, proxyRsaKey, type AuthLinks } from './mysql-auth.js';
import { CommandPhase, type CommandIo } from './mysql-commands.js';
import { MysqlMasking, mayChangeSchema } from './mysql-masking.js';
import { agreement, contextOfGreeting, greetingForClient, responseForServer } from './mysql-handshake.js';
import { SocketPair, type PairEvents } from './socket-pair.js';
import { connectTcp, startClientTls } from './upstream.js';

type Phase = 'greeting' | 'handshake' | 'auth' | 'command' | 'closed';

export function createMysqlSession(client: net.Socket, ctx: SessionContext): ProxySession {
  return new MysqlSession(client, ctx);
}

class MysqlSession implements ProxySession {
  readonly closed: Promise<void>;
  private readonly info: SessionInfo;
  private phase: Phase = 'greeting';

  private readonly sockets: SocketPair;
  private fromClient: MyFramer;
  private fromServer?: MyFramer;
  private clientTls = false;
  private upstreamTls = false;
  private terminating = false;

  private greeting?: dec.HandshakeV10;
  /** This connection in ctx.deps.cancelKeys (its server connection id): KILL QUERY from another connection finds it. */
  private cancelKey?: string;
  /** The greeting as offered to the client. */
  private offered?: dec.HandshakeV10;
  /** Last sequence id on each link: the proxy renumbers while authenticating (TLS and RSA steps differ). */
  private clientSeq = 0;
  private serverSeq = 0;
  private auth: AuthExchange | null = null;
  private readonly commands: CommandPhase;
  /** Result masking (absent when no masking stage is configured). */
  private readonly masking: MysqlMasking | null = null;
  /** Authenticated: the audit has its session.open line. */
  private opened = false;
  private closeReason = 'client closed';

  constructor(
    client: net.Socket,
    private readonly ctx: SessionContext,
  ) {
    this.sockets = new SocketPair(client, this.socketEvents, ctx.log);
    this.closed = this.sockets.closed;
    this.info = {
      id: ctx.id,
      listener: ctx.listener.name,
      protocol: 'mysql',
      client: `${client.remoteAddress}:${client.remotePort}`,
      signal: this.sockets.signal,
    };
    const stage = ctx.deps.masking;
    if (stage) {
      this.masking = new MysqlMasking(
        stage,
        this.info,
        (bytes) => this.writeClientSocket(bytes),
        (err) => {
          ctx.log.error({ err: err.message }, 'masking failed; closing the session rather than send rows unmasked');
          this.fatal(new ProxyError('protocolViolation', 'masking failed'));
        },
        ctx.deps.mysqlCatalogFor?.(ctx.listener.name),
      );
    }
    this.commands = new CommandPhase(this.commandIo, this.info, ctx.deps.gate, this.masking, ctx.deps.events, ctx.log, (id) => this.killQuery(id));
    this.fromClient = this.newClientFramer();
    // Nothing is expected from the client before the server's greeting has reached it.
    this.fromClient.stop();
    ctx.log.debug('session opened');
    void this.connectUpstream();
  }

  // ---- sockets ----

  private newClientFramer(): MyFramer {
    return new MyFramer(this.clientHandler, this.ctx.listener.maxMessageBytes, 'from the client');
  }

  private readonly socketEvents: PairEvents = {
    clientData: (chunk) => {
      try {
        this.fromClient.push(chunk);
      } catch (err) {
        this.protocolError(err, 'client');
      }
      // A command sent: the client waits its next turn in the socket.
      if (this.fromClient.isStopped) this.sockets.updateFlow();
    },
    upstreamData: (chunk) => {
      const framer = this.fromServer!;
      try {
        framer.push(chunk);
        // Rows masked inline were gathered: they join this chunk's one write.
        this.masking?.output.flush();
      } catch (err) {
        this.protocolError(err, 'server');
      }
      if (framer.isStopped) this.sockets.updateFlow();
    },
    clientStopped: () => this.fromClient.isStopped,
    upstreamStopped: () => this.fromServer?.isStopped === true,
    upstreamClosed: (hadError) => {
      // The server closing between responses (after COM_QUIT, a failed login, KILL, a timeout) closes the
      // client the same way; in the middle of one, the client gets an error.
      const between = this.phase === 'closed' || this.terminating || (this.phase === 'command' && !this.auth && this.commands.idle) || (this.phase === 'auth' && !this.auth);
      if (!this.terminating && this.phase !== 'closed') this.closeReason = 'server closed';
      if (between) this.afterOutput(() => this.sockets.closeClientLike(hadError));
      else this.fatal(new ProxyError('upstreamLost', hadError ? 'connection reset' : 'the server closed the connection'));
    },
    bothClosed: () => this.finish(),
  };

  private attachUpstream(socket: net.Socket): void {
    this.fromServer ??= new MyFramer(this.serverHandler, this.ctx.listener.maxMessageBytes, 'from the server');
    this.sockets.attachUpstream(socket);
  }

  /** Everything for the client goes here: through masking's ordered output when masking is on. */
  private writeClient(bytes: Buffer): void {
    if (this.masking) this.masking.output.write(bytes);
    else this.writeClientSocket(bytes);
  }

  private writeClientSocket(bytes: Buffer): void {
    // Ended by fatal(): rows masked after that have nowhere to go.
    if (this.sockets.client.writableEnded) return;
    this.sockets.writeClient(bytes);
  }

  /** Runs `fn` once masking's output has sent everything it holds (rows still with the workers). */
  private afterOutput(fn: () => void): void {
    const out = this.masking?.output;
    out?.flush();
    if (!out || out.idle) return fn();
    void out.until(() => out.idle).then(() => {
      out.flush();
      fn();
    });
  }

  /** Frames a payload of the proxy's own for one link, continuing that link's sequence ids. */
  private sendClient(payload: Buffer): void {
    this.writeClient(framePayload(payload, (this.clientSeq + 1) & 0xff));
    this.clientSeq = (this.clientSeq + physicalPackets(payload.length)) & 0xff;
  }

  private sendServer(payload: Buffer): void {
    this.sockets.writeUpstream(framePayload(payload, (this.serverSeq + 1) & 0xff));
    this.serverSeq = (this.serverSeq + physicalPackets(payload.length)) & 0xff;
  }

  /** The client's turn: read its next packet. */
  private resumeClient(): void {
    if (this.phase === 'closed' || this.terminating) return;
    this.sockets.withUpstreamCorked(() => {
      try {
        this.fromClient.resume();
      } catch (err) {
        this.protocolError(err, 'client');
      }
    });
    this.sockets.updateFlow();
  }

  // ---- connection phase ----

  private async connectUpstream(): Promise<void> {
    try {
      const socket = await connectTcp(this.ctx.listener.upstream);
      if (!this.sockets.clientOpen) return void socket.destroy();
      this.attachUpstream(socket);
    } catch (err) {
      this.fatal(err instanceof ProxyError ? err : new ProxyError('upstreamUnreachable', (err as Error).message));
    }
  }

  /** Protocol::HandshakeV10 from the server, relayed with the capabilities the proxy offers. */
  private onGreeting(buf: Buffer, start: number, end: number, parts: number): void {
    if (buf[start + 4] === Header.Err) {
      // Too many connections, host blocked: the server's own words, then it closes.
      this.phase = 'closed';
      return this.writeClient(buf.subarray(start, end));
    }
    const p = payloadOf(buf, start, end, parts);
    const g = dec.decodeHandshakeV10(p, 0, p.length);
    this.greeting = g;
    this.offered = greetingForClient(g, this.ctx.tls !== undefined);
    this.commands.context = contextOfGreeting(g);
    this.clientSeq = this.serverSeq = buf[start + 3]!;
    this.ctx.log.debug({ server: g.serverVersion, connectionId: g.connectionId }, 'server greeting');
    this.cancelKey = mysqlCancelKey(this.ctx.listener.name, g.connectionId);
    this.ctx.deps.cancelKeys.set(this.cancelKey, { cancel: () => this.commands.cancelHeld(), user: () => this.info.user });
    this.writeClient(framePayload(enc.encodeHandshakeV10(this.offered), this.clientSeq));
    this.phase = 'handshake';
    this.resumeClient();
  }

  /** SSLRequest or HandshakeResponse41 from the client. Returns false: the server's turn (or TLS) follows. */
  private onHandshakeResponse(buf: Buffer, start: number, end: number, parts: number): boolean {
    this.clientSeq = lastSequenceId(buf, start, end);
    const p = payloadOf(buf, start, end, parts);
    if (p.length === dec.sslRequestLength) {
      const req = dec.decodeSSLRequest(p, 0, p.length);
      if (!(req.capabilities & Cap.Ssl)) throw new WireError('HandshakeResponse41: truncated');
      if (!this.ctx.tls || this.clientTls) {
        this.fatal(new ProxyError('tlsNotConfigured'));
        return false;
      }
      // The client starts its TLS handshake right away; bytes after the SSLRequest belong to it.
      queueMicrotask(() => this.startClientTls());
      return false;
    }
    const hr = dec.decodeHandshakeResponse41(p, 0, p.length);
    if (hr.capabilities & Cap.Ssl && !this.clientTls) throw new WireError('HandshakeResponse41: CLIENT_SSL set without an SSLRequest');
    if (hr.capabilities & (Cap.Compress | Cap.ZstdCompression)) {
      this.fatal(new ProxyError('protocolViolation', 'the client asked for compression, which sqlwarden does not offer'));
      return false;
    }
    this.info.user = hr.user;
    this.info.database = hr.database || undefined;
    this.info.application = hr.attributes?.find(([k]) => k === 'program_name')?.[1];
    const agreed = agreement(hr, this.offered!);
    const commands = this.commands;
    commands.capabilities = agreed.capabilities;
    commands.reader.deprecateEof = agreed.deprecateEof;
    commands.reader.extendedMetadata = agreed.extendedMetadata;
    commands.handshakeCharset = charsetOfCollation(hr.characterSet);
    commands.context = { ...commands.context, charset: commands.handshakeCharset };
    const g = this.greeting!;
    const forServer = responseForServer(hr);
    const plugin = hr.authPluginName || g.authPluginName || 'mysql_native_password';
    void this.sendHandshakeResponse(forServer, plugin).catch((err) => this.protocolError(err, 'server'));
    return false;
  }

  /** Opens TLS upstream when the server offers it and `upstreamTls` wants it, then sends the response. */
  private async sendHandshakeResponse(hr: dec.HandshakeResponse41, plugin: string): Promise<void> {
    const { upstream: target, upstreamTls: mode, upstreamCa } = this.ctx.listener;
    const offered = (this.greeting!.capabilities & Cap.Ssl) !== 0;
    if (mode === 'require' || mode === 'verify-full') {
      if (!offered) return this.fatal(new ProxyError('upstreamTlsRequired'));
    }
    if (offered && mode !== 'disable') {
      hr.capabilities = (hr.capabilities | Cap.Ssl) >>> 0;
      this.sendServer(enc.encodeSSLRequest(hr));
      const raw = this.sockets.upstream!;
      this.sockets.detach(raw);
      let secure: tls.TLSSocket;
      try {
        secure = await startClientTls(raw, target, mode, upstreamCa);
      } catch (err) {
        return this.fatal(err instanceof ProxyError ? err : new ProxyError('upstreamUnreachable', (err as Error).message));
      }
      if (this.phase === 'closed') return void secure.destroy();
      this.attachUpstream(secure);
      this.upstreamTls = true;
    }
    // caching_sha2_password with a plain client and a TLS server may need the proxy's own key: make it now.
    if (!this.clientTls && this.upstreamTls) void proxyRsaKey();
    this.phase = 'auth';
    this.auth = new AuthExchange(this.authLinks, plugin, dec.scrambleOf(this.greeting!.authPluginData), this.clientTls, this.upstreamTls);
    this.sendServer(enc.encodeHandshakeResponse41(hr));
    this.ctx.log.debug({ user: hr.user, tls: this.clientTls, upstreamTls: this.upstreamTls, capabilities: this.commands.capabilities.toString(16) }, 'handshake response relayed');
  }

  private startClientTls(): void {
    if (this.phase === 'closed') return;
    const raw = this.sockets.client;
    const rest = this.fromClient.takeRemainder();
    // Bytes for the client written before the switch go out in the clear, as they were written.
    this.masking?.output.flush();
    this.sockets.detach(raw);
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: this.ctx.tls });
    if (rest.length > 0) raw.unshift(rest);
    raw.on('close', () => secure.destroy());
    this.clientTls = true;
    this.fromClient = this.newClientFramer();
    this.sockets.attachClient(secure);
    secure.on('secure', () => this.ctx.log.debug({ protocol: secure.getProtocol() }, 'client TLS established'));
    raw.resume();
  }

  private readonly authLinks: AuthLinks = {
    toClient: (payload) => this.sendClient(payload),
    toServer: (payload) => this.sendServer(payload),
    clientTurn: () => this.resumeClient(),
    finished: (ok) => {
      this.auth = null;
      if (!ok) return; // the server closes the connection after a failed login
      this.ctx.log.info({ user: this.info.user, database: this.info.database, application: this.info.application }, 'authenticated');
      // After COM_CHANGE_USER too: the session goes on as someone else.
      this.ctx.deps.events.sessionOpened(this.info, this.clientTls);
      this.opened = true;
      this.phase = 'command';
      this.resumeClient();
    },
  };

  private onServerAuth(buf: Buffer, start: number, end: number, parts: number): void {
    this.serverSeq = lastSequenceId(buf, start, end);
    this.auth!.fromServer(payloadOf(buf, start, end, parts));
  }

  private onClientAuth(buf: Buffer, start: number, end: number, parts: number): boolean {
    this.clientSeq = lastSequenceId(buf, start, end);
    this.auth!.fromClient(payloadOf(buf, start, end, parts)).catch((err) => this.protocolError(err, 'client'));
    return false;
  }

  // ---- client -> server ----

  private readonly clientHandler: PacketHandler = {
    onHeader: (first, length, seq) => {
      this.clientSeq = seq;
      if (this.phase !== 'command' || this.auth) return true;
      return this.commands.onClientHeader(first, length);
    },
    onPacket: (buf, start, end, parts) => {
      switch (this.phase) {
        case 'handshake':
          return this.onHandshakeResponse(buf, start, end, parts);
        case 'auth':
          return this.auth ? this.onClientAuth(buf, start, end, parts) : false;
        case 'command':
          if (this.auth) return this.onClientAuth(buf, start, end, parts);
          // DDL (even one the gate holds or denies): the catalog's answers may go stale.
          if (this.masking && buf[start + 4] === Command.Query && mayChangeSchema(buf, start + 5, end)) this.masking.schemaMayChange();
          return this.commands.onClientPacket(buf, start, end, parts);
        default:
          return false;
      }
    },
    onPass: (buf, start, end) => this.sockets.writeUpstream(buf.subarray(start, end)),
  };

  private readonly commandIo: CommandIo = {
    writeClient: (bytes) => this.writeClient(bytes),
    writeUpstream: (bytes) => this.sockets.writeUpstream(bytes),
    resumeClient: () => this.resumeClient(),
    sentToClient: (seq) => (this.clientSeq = seq),
    changeUser: (plugin, buf, start, end) => {
      // A new authentication exchange, numbered from the command's sequence id on both links.
      this.clientSeq = this.serverSeq = lastSequenceId(buf, start, end);
      const g = this.greeting!;
      this.auth = new AuthExchange(this.authLinks, plugin || g.authPluginName || 'mysql_native_password', dec.scrambleOf(g.authPluginData), this.clientTls, this.upstreamTls);
      this.sockets.writeUpstream(buf.subarray(start, end));
    },
    quit: () => (this.terminating = true),
    isClosed: () => this.phase === 'closed',
  };

  // ---- server -> client ----

  private readonly serverHandler: PacketHandler = {
    onHeader: (first, length, seq) => {
      if (this.phase !== 'command' || this.auth) return true;
      this.clientSeq = seq;
      return this.commands.reader.onHeader(first, length);
    },
    onPacket: (buf, start, end, parts) => {
      if (this.phase === 'command' && !this.auth) {
        if (this.commands.reader.onPacket(buf, start, end, parts)) return true;
        // Masking is full: the server waits (its socket pauses) until the stage has room again.
        void this.commands.reader.drained().then(() => this.resumeServer());
        return false;
      }
      if (this.auth) this.onServerAuth(buf, start, end, parts);
      else if (this.phase === 'greeting') this.onGreeting(buf, start, end, parts);
      else if (buf[start + 4] === Header.Err) this.writeClient(buf.subarray(start, end));
      else if (this.phase !== 'closed') throw new WireError(`unexpected packet during the ${this.phase} phase`);
      return true;
    },
    onPass: (buf, start, end) => this.writeClient(buf.subarray(start, end)),
    rows: {
      active: () => this.phase === 'command' && !this.auth && this.commands.reader.rowRun,
      onRows: (buf, start, end, count) => {
        this.clientSeq = this.fromServer!.lastSeq;
        if (this.commands.reader.onRows(buf, start, end, count)) return true;
        void this.commands.reader.drained().then(() => this.resumeServer());
        return false;
      },
    },
  };

  private resumeServer(): void {
    if (this.phase === 'closed') return;
    this.sockets.resumeUpstream(
      () => {
        this.fromServer!.resume();
        this.masking?.output.flush();
      },
      (err) => this.protocolError(err, 'server'),
    );
  }

  // ---- errors, close ----

  private protocolError(err: unknown, from: 'client' | 'server'): void {
    if (!(err instanceof WireError)) {
      this.ctx.log.error({ err }, 'unexpected error in session');
      return this.fatal(new ProxyError('protocolViolation', 'internal error'));
    }
    this.ctx.log.warn({ from, err: err.message }, 'protocol violation');
    const code: ErrorCode = err instanceof MessageTooLarge ? 'messageTooLarge' : 'protocolViolation';
    this.fatal(new ProxyError(code, `${from === 'server' ? 'from the server: ' : ''}${err.message}`));
  }

  /** Ends the session with an ERR packet the client can read (when the stream to it is between packets). */
  private fatal(error: ProxyError): void {
    if (this.phase === 'closed') return;
    const before = this.phase;
    this.phase = 'closed';
    this.ctx.log.info({ code: error.entry.errno, reason: error.message }, 'session ended by the proxy');
    this.closeReason = `error: ${error.message}`;
    const atBoundary = !this.fromServer || this.fromServer.atBoundary;
    const { client, clientOpen, upstream } = this.sockets;
    if (clientOpen) {
      const seq = before === 'greeting' ? 0 : (this.clientSeq + 1) & 0xff;
      // Closed once the error is out, without waiting for the client to close its side: it may never read again.
      if (atBoundary) {
        // What masking's output holds was sent before the error: it goes first.
        this.masking?.output.flush();
        client.end(enc.errPacket(seq, error.entry.errno, error.entry.mysqlState, error.message), () => client.destroy());
      } else client.destroy();
    }
    upstream?.destroy();
  }

  close(reason: 'shutdown'): void {
    void reason;
    this.fatal(new ProxyError('shuttingDown'));
  }

  /**
   * KILL QUERY from this session for connection `id`: a statement held there ends, when it runs as the same
   * user (the server lets a user kill only their own queries without PROCESS or CONNECTION ADMIN, and the
   * proxy does not know those privileges).
   */
  private killQuery(id: number): void {
    const target = this.ctx.deps.cancelKeys.get(mysqlCancelKey(this.ctx.listener.name, id));
    if (target?.user && target.user() === this.info.user) target.cancel();
  }

  /** Both sockets are closed. */
  private finish(): void {
    this.phase = 'closed';
    if (this.cancelKey) this.ctx.deps.cancelKeys.delete(this.cancelKey);
    this.commands.end();
    if (this.opened) this.commands.afterOutcomes(() => this.ctx.deps.events.sessionClosed(this.info, this.closeReason));
  }
}
