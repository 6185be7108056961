// Connections to the real database: TCP with TCP_NODELAY, a connect timeout, and TLS per `upstreamTls`.
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { HostPort } from '../config.js';
import { ProxyError } from '../errors.js';
import { ReadSlab } from './read-slab.js';

export type UpstreamTlsMode = 'disable' | 'prefer' | 'require' | 'verify-full';

export const connectTimeoutMs = 10_000;

export function connectTcp(target: HostPort): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    // Reads go into a slab of the socket's own (read-slab.ts) and reach the session as 'data' events, as usual.
    const slab = new ReadSlab();
    const socket: net.Socket = net.connect({
      host: target.host,
      port: target.port,
      noDelay: true,
      onread: {
        buffer: slab.room,
        callback: (n) => {
          socket.emit('data', slab.took(n));
          return true;
        },
      },
    });
    const timer = setTimeout(() => socket.destroy(new Error(`timed out after ${connectTimeoutMs} ms`)), connectTimeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(new ProxyError('upstreamUnreachable', `${target.host}:${target.port}: ${err.message}`));
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 60_000);
      resolve(socket);
    });
  });
}

/** Starts TLS over an already connected socket, as a client. verify-full checks the chain and the host name. */
export function startClientTls(socket: net.Socket, target: HostPort, mode: UpstreamTlsMode, caFile?: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const verify = mode === 'verify-full';
    const secure = tls.connect({
      socket,
      servername: net.isIP(target.host) ? undefined : target.host,
      rejectUnauthorized: verify,
      ca: caFile ? readFileSync(caFile) : undefined,
      // verify-full: Node checks the name against the certificate (checkServerIdentity) when rejectUnauthorized.
      checkServerIdentity: verify ? (host, cert) => tls.checkServerIdentity(target.host, cert) : () => undefined,
    });
    const fail = (err: Error) => reject(new ProxyError('upstreamUnreachable', `TLS with ${target.host}:${target.port}: ${err.message}`));
    secure.once('error', fail);
    secure.once('secureConnect', () => {
      secure.off('error', fail);
      secure.setNoDelay(true);
      resolve(secure);
    });
  });
}

/** Reads exactly `n` bytes from a socket that is not yet relaying (handshake answers); `extra` gets what followed. */
export function readExactly(socket: net.Socket, n: number): Promise<{ bytes: Buffer; extra: Buffer }> {
  return new Promise((resolve, reject) => {
    let got: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      got = got.length ? Buffer.concat([got, chunk]) : chunk;
      if (got.length >= n) {
        cleanup();
        socket.pause();
        resolve({ bytes: got.subarray(0, n), extra: got.subarray(n) });
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new Error('the server closed the connection during the handshake'));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
    socket.resume();
  });
}

/** Closes the other side the way this side closed: a reset stays a reset, an orderly close stays orderly. */
export function closeLike(other: net.Socket, hadError: boolean): void {
  if (other.destroyed) return;
  if (hadError && typeof other.resetAndDestroy === 'function' && !(other instanceof tls.TLSSocket)) {
    try {
      other.resetAndDestroy();
      return;
    } catch {
      // not a TCP handle (e.g. already closing): fall through
    }
  }
  other.end();
  other.destroySoon?.();
}
