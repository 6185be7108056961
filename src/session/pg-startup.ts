// The proxy as a PostgreSQL client before the session relays: the connection to the server with TLS as
// `upstreamTls` wants it, and a client's CancelRequest forwarded on a connection of its own (PostgreSQL
// documentation, "Message Flow": "SSL Session Encryption" and "Canceling Requests in Progress").
import type net from 'node:net';
import type { ListenerConfig } from '../config.js';
import { ProxyError } from '../errors.js';
import * as enc from '../wire/postgres/encode.js';
import { connectTcp, readExactly, startClientTls } from './upstream.js';

/** The server's answer to an SSLRequest that means yes. */
const sslYes = 0x53;

type UpstreamSettings = Pick<ListenerConfig, 'upstream' | 'upstreamTls' | 'upstreamCa'>;

/** A connection to the server ready for the StartupMessage: SSLRequest first unless `upstreamTls` is disable. */
export async function connectPgUpstream(listener: UpstreamSettings): Promise<net.Socket> {
  const { upstream: target, upstreamTls: mode, upstreamCa } = listener;
  const socket = await connectTcp(target);
  if (mode === 'disable') return socket;
  try {
    socket.write(enc.encodeSSLRequest());
    const { bytes, extra } = await readExactly(socket, 1);
    // Bytes after the server's answer could be injected by a man in the middle (CVE-2021-23222).
    if (extra.length > 0) throw new ProxyError('protocolViolation', 'the server sent data after its SSLRequest answer');
    if (bytes[0] === sslYes) return await startClientTls(socket, target, mode, upstreamCa);
    if (mode !== 'prefer') throw new ProxyError('upstreamTlsRequired');
    return socket;
  } catch (err) {
    socket.destroy(); // the session ends with the error: the connection must not linger
    throw err;
  }
}

/** Sends a CancelRequest to the server on a fresh connection, as the protocol wants; TLS when it is required. */
export async function forwardCancelRequest(listener: UpstreamSettings, processId: number, key: Buffer): Promise<void> {
  const { upstream: target, upstreamTls: mode, upstreamCa } = listener;
  let socket = await connectTcp(target);
  if (mode === 'require' || mode === 'verify-full') {
    socket.write(enc.encodeSSLRequest());
    const { bytes } = await readExactly(socket, 1);
    if (bytes[0] === sslYes) socket = await startClientTls(socket, target, mode, upstreamCa);
  }
  socket.on('error', () => undefined);
  socket.end(enc.encodeCancelRequest(processId, key));
}
