// The console's WebSocket at /ws (DESIGN.md "Console (contract)"): live requests for the page, decisions back.
//
// API:
//   const live = attachWebSocket({ console, broker, log?, origins?, maxPayload?, pingIntervalMs?, metrics? })
//   live.clients -> how many are connected;  await live.close()  (also runs when the console closes)
//
// Upgrade (refused with a JSON body and the connection closed):
//   403 an Origin that is not the console's own (`origins`, e.g. the public URL, or http(s)://<Host>);
//       a browser always sends Origin, so a page on another site cannot ride a reviewer's cookie.
//   401 no reviewer: the session cookie of POST /api/login, or (for programs) the subprotocol
//       `sqlwarden.bearer.<token>`, offered beside `sqlwarden` (the one the server picks, so the token is not
//       echoed back). A cookie needs a matching Origin; a program without Origin must use the subprotocol.
// Server -> client: {type:"snapshot", requests, now, reviewer} on connect (pending, then the most recent
//   decided, newest first), then {type:"request", request} on every change, and
//   {type:"result", id, action, ok, request? | status, error} for each decision the client sent.
// Client -> server: {type:"approve", id, reason?, for?} | {type:"deny", id, reason}: the same broker calls,
//   and so the same checks, as the HTTP API (self-approval 403, no longer pending 409 ...).
// A message over `maxPayload` (4 KiB) closes that socket (1009); a client too slow to read is dropped; a
// client that misses a ping interval is dropped; logging out closes that session's sockets (4401).
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { ApprovalError, type Broker, type RequestView } from '../approval/broker.js';
import type { Reviewer } from '../approval/identity.js';
import { HttpError, reviewerInfo, type ConsoleLog, type ConsoleServer } from './server.js';

export const WS_PATH = '/ws';
export const WS_PROTOCOL = 'sqlwarden';
export const BEARER_PROTOCOL_PREFIX = 'sqlwarden.bearer.';
/** Close code for "log in again" (4000-4999 are the application's). */
export const CLOSE_SESSION_ENDED = 4401;

export interface WebSocketOptions {
  console: ConsoleServer;
  broker: Broker;
  log?: ConsoleLog;
  /** Origins besides http(s)://<Host header>, e.g. the configured public URL's. */
  origins?: readonly string[];
  /** Largest client message in bytes (default 4 KiB: a decision with a reason). */
  maxPayload?: number;
  /** Ping every so often; a client that has not answered the previous ping is dropped (default 30 s). */
  pingIntervalMs?: number;
  /** Decided requests in the snapshot (default 200). */
  historyInSnapshot?: number;
  /** Bytes queued for one client before it is dropped as too slow (default 8 MiB). */
  maxBufferedBytes?: number;
  metrics?: { consoleClients(n: number): void };
}

export interface LiveConsole {
  readonly clients: number;
  close(): Promise<void>;
}

interface Client {
  ws: WebSocket;
  reviewer: Reviewer;
  /** The cookie session it came with (closed when that session ends). */
  session?: string;
  alive: boolean;
}

interface Admitted {
  reviewer: Reviewer;
  session?: string;
  protocol?: string;
}

function refuse(socket: Duplex, status: number, reason: string, error: string): void {
  const body = JSON.stringify({ error });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\n\r\n${body}`,
  );
}

const originOf = (url: string): string | undefined => {
  try {
    return new URL(url).origin.toLowerCase();
  } catch {
    return undefined;
  }
};

export function attachWebSocket(opts: WebSocketOptions): LiveConsole {
  const { console: consoleServer, broker, log } = opts;
  const maxBuffered = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
  const historyInSnapshot = opts.historyInSnapshot ?? 200;
  const configured = new Set((opts.origins ?? []).map(originOf).filter((o): o is string => !!o));
  const admitted = new WeakMap<http.IncomingMessage, Admitted>();
  const clients = new Set<Client>();
  let closed = false;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayload ?? 4096,
    clientTracking: false,
    perMessageDeflate: false,
    handleProtocols: (_offered, req) => admitted.get(req)?.protocol ?? false,
  });

  const countChanged = () => opts.metrics?.consoleClients(clients.size);

  function admit(req: http.IncomingMessage): { ok: Admitted } | { status: number; reason: string; error: string } {
    const origin = req.headers.origin;
    const host = req.headers.host?.toLowerCase();
    if (origin !== undefined) {
      const o = originOf(origin);
      const own = !!o && (configured.has(o) || (!!host && (o === `http://${host}` || o === `https://${host}`)));
      if (!own) return { status: 403, reason: 'Forbidden', error: `origin ${JSON.stringify(origin)} is not this console's` };
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    const bearer = offered.find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX));
    if (bearer) {
      let reviewer;
      try {
        reviewer = consoleServer.token(bearer.slice(BEARER_PROTOCOL_PREFIX.length), req.socket.remoteAddress ?? '');
      } catch (err) {
        if (err instanceof HttpError) return { status: err.status, reason: 'Too Many Requests', error: err.message };
        throw err;
      }
      if (!reviewer) return { status: 401, reason: 'Unauthorized', error: "the token is not a reviewer's" };
      return { ok: { reviewer, protocol: offered.includes(WS_PROTOCOL) ? WS_PROTOCOL : bearer } };
    }
    const session = consoleServer.sessionOf(req);
    if (!session) return { status: 401, reason: 'Unauthorized', error: 'no session: log in first, or offer the subprotocol sqlwarden.bearer.<token>' };
    // SameSite=Strict keeps the cookie from cross-site requests; the Origin makes sure a browser sent it.
    if (origin === undefined) return { status: 403, reason: 'Forbidden', error: 'a session cookie needs an Origin header' };
    return { ok: { reviewer: session.reviewer, session: session.id, ...(offered.includes(WS_PROTOCOL) ? { protocol: WS_PROTOCOL } : {}) } };
  }

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== WS_PATH) return refuse(socket, 404, 'Not Found', `no WebSocket at ${path}; use ${WS_PATH}`);
    if (closed) return refuse(socket, 503, 'Service Unavailable', 'the console is shutting down');
    const verdict = admit(req);
    if (!('ok' in verdict)) {
      log?.info({ client: req.socket.remoteAddress, status: verdict.status, err: verdict.error }, 'console websocket refused');
      return refuse(socket, verdict.status, verdict.reason, verdict.error);
    }
    admitted.set(req, verdict.ok);
    wss.handleUpgrade(req, socket, head, (ws) => connected(ws, verdict.ok, req));
  };
  consoleServer.server.on('upgrade', onUpgrade);

  function send(c: Client, data: string): void {
    if (c.ws.readyState !== WebSocket.OPEN) return;
    if (c.ws.bufferedAmount > maxBuffered) {
      log?.info({ reviewer: c.reviewer.name, buffered: c.ws.bufferedAmount }, 'console websocket dropped: the client does not read');
      c.ws.terminate();
      return;
    }
    c.ws.send(data);
  }

  function snapshot(c: Client): string {
    const all = broker.list('all');
    const pending = all.filter((v) => v.status === 'pending').reverse();
    const decided = all.filter((v) => v.status !== 'pending');
    decided.sort((a, b) => ((a.decidedAt ?? '') < (b.decidedAt ?? '') ? 1 : -1));
    const requests = [...pending, ...decided.slice(0, historyInSnapshot)];
    return JSON.stringify({ type: 'snapshot', requests, now: Date.now(), reviewer: reviewerInfo(c.reviewer) });
  }

  function connected(ws: WebSocket, who: Admitted, req: http.IncomingMessage): void {
    const c: Client = { ws, reviewer: who.reviewer, alive: true, ...(who.session ? { session: who.session } : {}) };
    clients.add(c);
    countChanged();
    log?.info({ reviewer: c.reviewer.name, client: req.socket.remoteAddress }, 'console websocket connected');
    ws.on('pong', () => (c.alive = true));
    ws.on('error', (err) => {
      // Oversize messages (1009) and protocol errors: ws closes this socket; the others go on.
      log?.info({ reviewer: c.reviewer.name, err: err.message }, 'console websocket error');
    });
    ws.on('close', () => {
      clients.delete(c);
      countChanged();
    });
    ws.on('message', (data, isBinary) => void onMessage(c, data, isBinary));
    send(c, snapshot(c));
  }

  async function onMessage(c: Client, data: RawData, isBinary: boolean): Promise<void> {
    if (c.session && !consoleServer.sessions.get(c.session)) return c.ws.close(CLOSE_SESSION_ENDED, 'session ended');
    let msg: unknown;
    try {
      if (isBinary) throw new Error('binary messages are not understood');
      msg = JSON.parse(data.toString());
    } catch (err) {
      return send(c, JSON.stringify({ type: 'error', error: `expected a JSON message: ${(err as Error).message}` }));
    }
    const m = msg as Record<string, unknown>;
    const id = typeof m?.id === 'string' ? m.id : null;
    const reply = (r: object) => send(c, JSON.stringify({ type: 'result', id, action: m?.type ?? null, ...r }));
    const bad = checkDecision(m);
    if (bad) return reply({ ok: false, status: 400, error: bad });
    const body = { ...(typeof m.reason === 'string' ? { reason: m.reason } : {}), ...(typeof m.for === 'string' && m.for !== '' ? { for: m.for } : {}) };
    try {
      const view: RequestView = m.type === 'approve' ? await broker.approve(id!, c.reviewer, body) : await broker.deny(id!, c.reviewer, body);
      log?.info({ request: view.id, reviewer: c.reviewer.name, window: view.windowUntil, via: 'websocket' }, `request ${view.status}`);
      reply({ ok: true, request: view });
    } catch (err) {
      if (err instanceof ApprovalError) return reply({ ok: false, status: err.status, error: err.message });
      log?.error({ err: (err as Error).message, request: id }, 'console websocket decision failed');
      reply({ ok: false, status: 500, error: 'internal error' });
    }
  }

  const unsubscribe = broker.onChange((view) => {
    if (clients.size === 0) return;
    const data = JSON.stringify({ type: 'request', request: view });
    for (const c of clients) send(c, data);
  });

  const unsubscribeSessions = consoleServer.sessions.onEnd((id) => {
    for (const c of clients) if (c.session === id) c.ws.close(CLOSE_SESSION_ENDED, 'session ended');
  });

  const pinger = setInterval(() => {
    for (const c of clients) {
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }, opts.pingIntervalMs ?? 30_000);
  pinger.unref();

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    clearInterval(pinger);
    unsubscribe();
    unsubscribeSessions();
    consoleServer.server.off('upgrade', onUpgrade);
    const gone = [...clients].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === WebSocket.CLOSED) return resolve();
          c.ws.once('close', () => resolve());
          c.ws.close(1001, 'the console is shutting down');
          // A peer that does not answer the close frame is cut.
          setTimeout(() => c.ws.terminate(), 1000).unref();
        }),
    );
    await Promise.all(gone);
    wss.close();
  }
  consoleServer.onClose(close);

  return {
    get clients() {
      return clients.size;
    },
    close,
  };
}

/** Why a client message is not a decision, or undefined when it is one. */
function checkDecision(m: Record<string, unknown>): string | undefined {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return 'expected an object';
  if (m.type !== 'approve' && m.type !== 'deny') return `type: expected approve or deny, got ${JSON.stringify(m.type)}`;
  for (const k of Object.keys(m)) if (!['type', 'id', 'reason', 'for'].includes(k)) return `${k}: unknown key; expected id, reason or for`;
  if (typeof m.id !== 'string' || m.id === '') return 'id: expected a request id';
  if (m.reason !== undefined && m.reason !== null && typeof m.reason !== 'string') return `reason: expected a string, got ${JSON.stringify(m.reason)}`;
  if (m.for !== undefined && m.for !== null && typeof m.for !== 'string') return `for: expected a string, got ${JSON.stringify(m.for)}`;
  if (m.type === 'deny' && m.for !== undefined && m.for !== null) return 'for: only an approval opens a window';
  return undefined;
}
