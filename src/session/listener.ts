// Accepts client sockets on one listener and gives each its protocol session.
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { ListenerConfig } from '../config.js';
import { formatHostPort } from '../config.js';
import { sessionLogger, type Logger } from '../log.js';
import type { Gate, SessionEvents } from './hooks.js';
import type { MaskingRowStage } from '../masking/row-stage.js';
import type { PgCatalog } from './pg-catalog.js';
import type { MysqlCatalog } from './mysql-catalog.js';

export interface SessionDeps {
  gate: Gate;
  /** Masking of result rows and errors (absent: everything passes raw). */
  masking?: MaskingRowStage;
  /** A listener's catalog connection for column origins (PostgreSQL, `catalog` in the config). */
  catalogFor?: (listener: string) => PgCatalog | undefined;
  /** The same for MySQL listeners: view columns traced to their base table columns. */
  mysqlCatalogFor?: (listener: string) => MysqlCatalog | undefined;
  events: SessionEvents;
  /**
   * Sessions by the cancel key the client knows, so a cancel on a new connection finds its session:
   * PostgreSQL's BackendKeyData, MySQL's connection id (KILL QUERY, see mysqlCancelKey).
   */
  cancelKeys: Map<string, CancelTarget>;
}

export interface CancelTarget {
  cancel(): void;
  /** The database user the session runs as now (MySQL: only the same user's KILL QUERY reaches a hold). */
  user?(): string | undefined;
}

/** MySQL connection ids are the server's: unique per upstream, so per listener. */
export function mysqlCancelKey(listener: string, connectionId: number): string {
  return `mysql ${listener} ${connectionId}`;
}

/** Counters a listener feeds (the console's Metrics fits). */
export interface ListenerMetrics {
  sessionOpened(listener: string): void;
  sessionClosed(listener: string): void;
  bytes(listener: string, direction: 'client_to_server' | 'server_to_client', n: number): void;
}

/** How often the bytes of open sessions are counted (closed sessions are counted at once). */
const bytesSampleMs = 5000;

export interface SessionContext {
  id: string;
  /** The client's address as host:port ([v6]:port). */
  client: string;
  log: Logger;
  listener: ListenerConfig;
  deps: SessionDeps;
  /** Present when the listener accepts TLS from clients. */
  tls?: tls.SecureContext;
}

export interface ProxySession {
  /** Ends the session now (shutdown); the client gets the protocol's error when it can. */
  close(reason: 'shutdown'): void;
  /** Resolves when both sockets are closed. */
  readonly closed: Promise<void>;
}

export type SessionFactory = (client: net.Socket, ctx: SessionContext) => ProxySession;

export class Listener {
  readonly sessions = new Set<ProxySession>();
  private server?: net.Server;
  private readonly secureContext?: tls.SecureContext;
  /** Client sockets of open sessions, with the bytes already counted for each. */
  private readonly counted = new Map<net.Socket, { read: number; written: number }>();
  private sampler?: NodeJS.Timeout;

  constructor(
    readonly config: ListenerConfig,
    private readonly log: Logger,
    private readonly deps: SessionDeps,
    private readonly factory: SessionFactory,
    private readonly metrics?: ListenerMetrics,
  ) {
    if (config.tls) {
      try {
        this.secureContext = tls.createSecureContext({
          cert: readFileSync(config.tls.cert),
          key: readFileSync(config.tls.key),
          ca: config.tls.ca ? readFileSync(config.tls.ca) : undefined,
        });
      } catch (err) {
        throw new Error(`listeners.${config.name}.tls: ${(err as Error).message}`);
      }
    }
  }

  /** The bound address (port 0 in the config picks a free one). */
  get address(): { host: string; port: number } {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new Error(`listener ${this.config.name} is not listening`);
    return { host: a.address, port: a.port };
  }

  start(): Promise<void> {
    const server = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 }, (socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.config.listen.host, port: this.config.listen.port }, () => {
        server.off('error', reject);
        if (this.metrics) {
          this.sampler = setInterval(() => this.counted.forEach((_, socket) => this.countBytes(socket)), bytesSampleMs);
          this.sampler.unref();
        }
        server.on('error', (err) => this.log.error({ err, listener: this.config.name }, 'listener error'));
        this.log.info(
          { listener: this.config.name, protocol: this.config.protocol, listen: formatHostPort(this.address), upstream: formatHostPort(this.config.upstream) },
          'listening',
        );
        resolve();
      });
    });
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const client = formatHostPort({ host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 });
    const { id, log } = sessionLogger(this.log, this.config.name, client);
    try {
      const session = this.factory(socket, { id, client, log, listener: this.config, deps: this.deps, tls: this.secureContext });
      this.sessions.add(session);
      this.metrics?.sessionOpened(this.config.name);
      this.counted.set(socket, { read: 0, written: 0 });
      void session.closed.then(() => {
        this.sessions.delete(session);
        this.countBytes(socket);
        this.counted.delete(socket);
        this.metrics?.sessionClosed(this.config.name);
      });
    } catch (err) {
      // A session that cannot even start must not take the listener down.
      log.error({ err }, 'session failed to start');
      socket.destroy();
    }
  }

  /** Bytes a client socket moved since last counted: read from the client, written to it (TLS included). */
  private countBytes(socket: net.Socket): void {
    const seen = this.counted.get(socket);
    if (!seen || !this.metrics) return;
    this.metrics.bytes(this.config.name, 'client_to_server', socket.bytesRead - seen.read);
    this.metrics.bytes(this.config.name, 'server_to_client', socket.bytesWritten - seen.written);
    seen.read = socket.bytesRead;
    seen.written = socket.bytesWritten;
  }

  /** Stops accepting; with `drainMs`, lets sessions finish that long before closing them. */
  async close(drainMs = 0): Promise<void> {
    clearInterval(this.sampler);
    // server.close() calls back only once every connection has ended, so sessions are closed meanwhile.
    const stopped = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    if (drainMs > 0 && this.sessions.size > 0) {
      await Promise.race([Promise.all([...this.sessions].map((s) => s.closed)), new Promise((r) => setTimeout(r, drainMs))]);
    }
    for (const s of this.sessions) s.close('shutdown');
    await Promise.all([...this.sessions].map((s) => s.closed));
    await stopped;
  }
}
