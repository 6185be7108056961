// The two sockets of a proxied session, client and upstream, and what they share whatever the protocol:
// which are still open, back-pressure (a socket whose peer is not draining pauses the other side), corking
// around a chunk's handling so its writes go out together, and a close propagated the way it happened.
// What a close means and what is said first (an error, the rest of masked rows) is the session's call.
import type net from 'node:net';
import type { Logger } from '../log.js';
import { closeLike } from './upstream.js';

/** What the session decides; the pair calls these and never decodes a byte. */
export interface PairEvents {
  /** A chunk from the client, handled with the upstream corked. */
  clientData(chunk: Buffer): void;
  /** A chunk from the server, handled with the client corked. */
  upstreamData(chunk: Buffer): void;
  /** The session is not reading that side now (its framer waits for a verdict, a turn or masking room). */
  clientStopped(): boolean;
  upstreamStopped(): boolean;
  /** The client closed; the upstream is then closed the same way. */
  clientClosed?(hadError: boolean): void;
  /** The server closed while the client is open: the session closes the client (`closeClientLike`) or fails. */
  upstreamClosed(hadError: boolean): void;
  /** Both sockets are closed (an upstream never connected counts as closed): the session's last words. */
  bothClosed(): void;
}

export class SocketPair {
  /** Resolved once both sockets are closed and the session has had its `bothClosed`. */
  readonly closed: Promise<void>;
  /** Aborted then too: whatever waits on the session (a hold) ends with it. */
  readonly signal: AbortSignal;
  private resolveClosed!: () => void;
  private readonly abort = new AbortController();
  client: net.Socket;
  upstream?: net.Socket;
  clientOpen = true;
  upstreamOpen = false;
  private clientBacklogged = false;
  private upstreamBacklogged = false;

  constructor(
    client: net.Socket,
    private readonly events: PairEvents,
    private readonly log: Logger,
  ) {
    this.client = client;
    this.closed = new Promise((r) => (this.resolveClosed = r));
    this.signal = this.abort.signal;
    this.attachClient(client);
  }

  /** The client socket, first the accepted one, then the TLS socket over it. */
  attachClient(socket: net.Socket): void {
    this.client = socket;
    socket.on('data', (chunk: Buffer) => this.withUpstreamCorked(() => this.events.clientData(chunk)));
    socket.on('drain', () => {
      this.clientBacklogged = false;
      this.updateFlow();
    });
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'client socket error'));
    socket.on('close', (hadError) => {
      this.clientOpen = false;
      this.events.clientClosed?.(hadError);
      if (this.upstream && this.upstreamOpen) closeLike(this.upstream, hadError);
      this.finish();
    });
  }

  /** The upstream socket, once connected (and again after a TLS upgrade). */
  attachUpstream(socket: net.Socket): void {
    this.upstream = socket;
    this.upstreamOpen = true;
    socket.on('data', (chunk: Buffer) => this.withClientCorked(() => this.events.upstreamData(chunk)));
    socket.on('drain', () => {
      this.upstreamBacklogged = false;
      this.updateFlow();
    });
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'upstream socket error'));
    socket.on('close', (hadError) => {
      this.upstreamOpen = false;
      if (this.clientOpen) this.events.upstreamClosed(hadError);
      this.finish();
    });
  }

  /** Stops relaying a socket that is about to carry TLS: it is read again once attached as the TLS socket. */
  detach(socket: net.Socket): void {
    socket.pause();
    if (socket === this.upstream) this.upstreamOpen = false;
    for (const event of ['data', 'drain', 'close']) socket.removeAllListeners(event);
  }

  /** Writes to the client; nothing once it is closed. */
  writeClient(bytes: Buffer): void {
    if (!this.clientOpen) return;
    if (!this.client.write(bytes)) {
      this.clientBacklogged = true;
      this.updateFlow();
    }
  }

  /** Writes to the server; nothing before it is connected or once it is closed. */
  writeUpstream(bytes: Buffer): void {
    if (!this.upstreamOpen || !this.upstream) return;
    if (!this.upstream.write(bytes)) {
      this.upstreamBacklogged = true;
      this.updateFlow();
    }
  }

  /** Reads from a side only while the other side drains and the session is reading that side. */
  updateFlow(): void {
    if (this.upstreamBacklogged || this.events.clientStopped()) this.client.pause();
    else if (this.clientOpen) this.client.resume();
    if (this.upstream) {
      if (this.clientBacklogged || this.events.upstreamStopped()) this.upstream.pause();
      else if (this.upstreamOpen) this.upstream.resume();
    }
  }

  /** Runs `fn` with the upstream corked: what it writes there leaves in one piece. */
  withUpstreamCorked(fn: () => void): void {
    const up = this.upstream;
    up?.cork();
    try {
      fn();
    } finally {
      up?.uncork();
    }
  }

  /** Runs `fn` with the client corked: what it writes there leaves in one piece. */
  withClientCorked(fn: () => void): void {
    const client = this.client;
    client.cork();
    try {
      fn();
    } finally {
      client.uncork();
    }
  }

  /**
   * Goes on reading the server's bytes the session had stopped at (`resume`: its framer, then what masking
   * gathered), with the client corked; a protocol error goes to `onError`.
   */
  resumeUpstream(resume: () => void, onError: (err: unknown) => void): void {
    this.withClientCorked(() => {
      try {
        resume();
      } catch (err) {
        onError(err);
      }
    });
    this.updateFlow();
  }

  /** Closes the client the way the server closed: a reset stays a reset. */
  closeClientLike(hadError: boolean): void {
    closeLike(this.client, hadError);
  }

  private finish(): void {
    if (this.clientOpen || (this.upstream && this.upstreamOpen)) return;
    this.events.bothClosed();
    this.abort.abort();
    this.log.debug('session closed');
    this.resolveClosed();
  }
}
