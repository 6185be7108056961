// The reviewer console's HTTP server (DESIGN.md "Console (contract)"): node:http, a small route table, JSON.
//
// API:
//   const console = createConsoleServer({ broker, reviewers, log? })   routes: GET /healthz, the JSON API below
//   console.route(method, '/path/:param', handler, { auth? })          more routes (the page, /metrics)
//   console.server                                                     the http.Server: attach ws to 'upgrade'
//   console.authenticate(req)                                          Bearer token or session cookie -> Reviewer
//   console.token(token, clientAddress)                                 a token -> Reviewer; 429 after repeated wrong ones
//   console.sessionOf(req)                                             the cookie's ConsoleSession, if any
//   console.sessions                                                   browser sessions (sessions.ts)
//   console.onClose(async () => ...)                                   runs first on close (ws closes its sockets)
//   await console.listen({ host, port })  -> bound address;  await console.close()
//   attach.ts adds the page, the WebSocket, /metrics and webhooks.
//
// JSON API (every error is `{ "error": "what was wrong" }`):
//   POST /api/login  {token}                   -> {reviewer: {name, databaseUsers}} and a session cookie
//   POST /api/logout                           -> {ok: true}; ends the cookie's session, clears the cookie
//   GET  /api/session                          -> {reviewer: {name, databaseUsers} | null} of the token or cookie
//   GET  /api/requests?status=pending|all      -> RequestView[] (oldest first)
//   GET  /api/requests/:id                     -> RequestView
//   POST /api/requests/:id/approve {reason?, for?}  -> RequestView (decided)
//   POST /api/requests/:id/deny    {reason}         -> RequestView (decided)
//   401 no or unknown token or session, 403 self-approval, 404 unknown id or route, 405 wrong method, 409 no
//   longer pending, 400 bad body or query, 413 body over 16 KiB, 415 body not application/json, 500 decision
//   not recorded.
// Every API route takes `Authorization: Bearer <token>` (CLI, scripts) or the session cookie (the page).
// POST bodies must say Content-Type: application/json (even when empty): a browser cannot send that across
// origins without a preflight (which gets no CORS answer), so the cookie does not open the API to cross-site
// forms; the cookie is SameSite=Strict besides.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApprovalError, type Broker } from '../approval/broker.js';
import type { Reviewer, Reviewers } from '../approval/identity.js';
import { Sessions, sessionIdOf, type ConsoleSession, type SessionsOptions } from './sessions.js';
import { LoginGuard, type LoginGuardOptions } from './login-guard.js';

export interface ConsoleLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ConsoleOptions {
  broker: Broker;
  reviewers: Reviewers;
  log?: ConsoleLog;
  /** Largest request body accepted (default 16 KiB). */
  maxBodyBytes?: number;
  /** Browser sessions (login lifetime, cookie flags). */
  sessions?: SessionsOptions;
  /** How wrong tokens slow a client down (see login-guard.ts). */
  loginGuard?: LoginGuardOptions;
}

export interface RouteContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  /** `:name` segments of the route's path, decoded. */
  params: Record<string, string>;
  /** Set on routes registered with `auth: true`. */
  reviewer: Reviewer | undefined;
}

/** What the API says about a reviewer (never the token). */
export const reviewerInfo = (r: Reviewer) => ({ name: r.name, databaseUsers: [...r.databaseUsers] });

export type Handler = (ctx: RouteContext) => void | Promise<void>;

/** An error a handler throws to answer with `status` and `{ error: message }`. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface Route {
  method: string;
  /** Literal segments, or ':name' for a parameter. */
  segments: string[];
  auth: boolean;
  handler: Handler;
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(data), 'cache-control': 'no-store', ...headers });
  res.end(data);
}

export function sendText(res: http.ServerResponse, status: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** The body of a JSON request as an object ({} when empty); HttpError 400/413/415 otherwise. */
export async function readJsonBody(req: http.IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new HttpError(415, `expected Content-Type: application/json, got ${JSON.stringify(req.headers['content-type'] ?? '(none)')}`);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new HttpError(413, `request body over ${maxBytes} bytes`, { connection: 'close' });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new HttpError(413, `request body over ${maxBytes} bytes`, { connection: 'close' });
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'body: expected a JSON object');
  return body as Record<string, unknown>;
}

/** Picks the known string fields of a body; unknown keys and non-strings are 400s. */
function stringFields<K extends string>(body: Record<string, unknown>, keys: readonly K[]): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const [k, v] of Object.entries(body)) {
    if (!(keys as readonly string[]).includes(k)) throw new HttpError(400, `${k}: unknown key; expected ${keys.join(' or ')}`);
    if (v === null || v === undefined) continue;
    if (typeof v !== 'string') throw new HttpError(400, `${k}: expected a string, got ${JSON.stringify(v)}`);
    out[k as K] = v;
  }
  return out;
}

export class ConsoleServer {
  readonly server: http.Server;
  readonly sessions: Sessions;
  private readonly routes: Route[] = [];
  private readonly closeHooks: (() => void | Promise<void>)[] = [];

  private readonly guard: LoginGuard;

  constructor(private readonly opts: ConsoleOptions) {
    this.guard = new LoginGuard(opts.loginGuard);
    this.sessions = new Sessions(opts.sessions);
    this.server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => void this.handle(req, res));
  }

  route(method: string, path: string, handler: Handler, opts: { auth?: boolean } = {}): this {
    this.routes.push({ method: method.toUpperCase(), segments: path.split('/').filter(Boolean), auth: opts.auth ?? false, handler });
    return this;
  }

  /** The reviewer of a Bearer token, or else of the session cookie. Throws HttpError 429: see `token`. */
  authenticate(req: http.IncomingMessage): Reviewer | undefined {
    if (req.headers.authorization !== undefined) return this.bearer(req.headers.authorization, req.socket.remoteAddress ?? '');
    return this.sessionOf(req)?.reviewer;
  }

  bearer(authorization: string, address: string): Reviewer | undefined {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    return this.token(m ? m[1]! : '', address);
  }

  sessionOf(req: http.IncomingMessage): ConsoleSession | undefined {
    return this.sessions.get(sessionIdOf(req.headers.cookie));
  }

  /**
   * The reviewer a token names (constant time, see identity.ts), presented by the client at `address`.
   * Throws HttpError 429 while that address is refused for presenting wrong tokens (login-guard.ts).
   */
  token(token: string, address: string): Reviewer | undefined {
    const wait = this.guard.retryAfter(address);
    if (wait > 0) throw new HttpError(429, `too many wrong tokens from this address: try again in ${wait} s`, { 'retry-after': String(wait) });
    const reviewer = token ? this.opts.reviewers.authenticate(token) : undefined;
    if (reviewer) this.guard.succeeded(address);
    else {
      this.guard.failed(address);
      if (this.guard.retryAfter(address) > 0) this.opts.log?.info({ client: address }, 'console: too many wrong tokens; client refused for a while');
    }
    return reviewer;
  }

  /** `hook` runs when the console closes, before the HTTP server stops (upgraded sockets are not its own). */
  onClose(hook: () => void | Promise<void>): this {
    this.closeHooks.push(hook);
    return this;
  }

  listen(at: { host: string; port: number }): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(at.port, at.host, () => {
        this.server.off('error', onError);
        const a = this.server.address() as AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  async close(): Promise<void> {
    const hooks = this.closeHooks.splice(0);
    for (const hook of hooks) {
      try {
        await hook();
      } catch (err) {
        this.opts.log?.error({ err: (err as Error).message }, 'console close hook failed');
      }
    }
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private match(method: string, path: string): { route: Route; params: Record<string, string> } | { allowed: string[] } {
    const parts = path.split('/').filter(Boolean);
    const allowed: string[] = [];
    for (const route of this.routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = route.segments[i]!;
        if (seg.startsWith(':')) {
          try {
            params[seg.slice(1)] = decodeURIComponent(parts[i]!);
          } catch {
            ok = false;
          }
        } else ok = seg === parts[i];
      }
      if (!ok) continue;
      if (route.method === method) return { route, params };
      allowed.push(route.method);
    }
    return { allowed };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://console');
    } catch {
      return sendJson(res, 400, { error: `bad request target ${JSON.stringify(req.url)}` });
    }
    try {
      const found = this.match(method, url.pathname);
      if (!('route' in found)) {
        if (found.allowed.length) throw new HttpError(405, `${method} is not allowed on ${url.pathname}; use ${found.allowed.join(', ')}`, { allow: found.allowed.join(', ') });
        throw new HttpError(404, `no such route: ${method} ${url.pathname}`);
      }
      let reviewer: Reviewer | undefined;
      if (found.route.auth) {
        reviewer = this.authenticate(req);
        if (!reviewer) {
          const why = req.headers.authorization
            ? 'the token is not a reviewer\'s'
            : sessionIdOf(req.headers.cookie)
              ? 'the session has ended: log in again'
              : 'missing Authorization: Bearer <token>';
          throw new HttpError(401, why, { 'www-authenticate': 'Bearer' });
        }
      }
      await found.route.handler({ req, res, url, params: found.params, reviewer });
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message }, err.headers);
      if (err instanceof ApprovalError) return sendJson(res, err.status, { error: err.message });
      this.opts.log?.error({ err: (err as Error).message, method, path: url.pathname }, 'console request failed');
      sendJson(res, 500, { error: 'internal error' });
    }
  }
}

/** The console with its health check and JSON API. */
export function createConsoleServer(opts: ConsoleOptions): ConsoleServer {
  const c = new ConsoleServer(opts);
  const { broker, log } = opts;
  const maxBody = opts.maxBodyBytes ?? 16 * 1024;

  c.route('GET', '/healthz', ({ res }) => sendText(res, 200, 'ok'));

  c.route('POST', '/api/login', async ({ req, res }) => {
    const { token } = stringFields(await readJsonBody(req, maxBody), ['token'] as const);
    if (!token) throw new HttpError(400, 'token: expected the reviewer token');
    const reviewer = c.token(token, req.socket.remoteAddress ?? '');
    if (!reviewer) {
      log?.info({ client: req.socket.remoteAddress }, 'console login refused');
      throw new HttpError(401, "the token is not a reviewer's");
    }
    const old = sessionIdOf(req.headers.cookie);
    if (old) c.sessions.end(old);
    const id = c.sessions.create(reviewer);
    log?.info({ reviewer: reviewer.name, client: req.socket.remoteAddress }, 'console login');
    sendJson(res, 200, { reviewer: reviewerInfo(reviewer) }, { 'set-cookie': c.sessions.cookie(id) });
  });

  // No auth: ending a session that already ended is still a logout. The JSON Content-Type rule still holds,
  // so another site cannot log a reviewer out either.
  c.route('POST', '/api/logout', async ({ req, res }) => {
    await readJsonBody(req, maxBody);
    const id = sessionIdOf(req.headers.cookie);
    if (id) c.sessions.end(id);
    sendJson(res, 200, { ok: true }, { 'set-cookie': c.sessions.clearCookie() });
  });

  // Who the token or cookie is; `{reviewer: null}` rather than a 401, so the page asks without an error.
  c.route('GET', '/api/session', ({ req, res }) => {
    const reviewer = c.authenticate(req);
    sendJson(res, 200, { reviewer: reviewer ? reviewerInfo(reviewer) : null });
  });

  c.route(
    'GET',
    '/api/requests',
    ({ res, url }) => {
      const status = url.searchParams.get('status') ?? 'pending';
      if (status !== 'pending' && status !== 'all') throw new HttpError(400, `status: expected pending or all, got ${JSON.stringify(status)}`);
      sendJson(res, 200, broker.list(status));
    },
    { auth: true },
  );

  c.route(
    'GET',
    '/api/requests/:id',
    ({ res, params }) => {
      const view = broker.get(params.id!);
      if (!view) throw new HttpError(404, `no request ${params.id}`);
      sendJson(res, 200, view);
    },
    { auth: true },
  );

  c.route(
    'POST',
    '/api/requests/:id/approve',
    async ({ req, res, params, reviewer }) => {
      const body = stringFields(await readJsonBody(req, maxBody), ['reason', 'for'] as const);
      const view = await broker.approve(params.id!, reviewer!, body);
      log?.info({ request: view.id, reviewer: reviewer!.name, window: view.windowUntil }, 'request approved');
      sendJson(res, 200, view);
    },
    { auth: true },
  );

  c.route(
    'POST',
    '/api/requests/:id/deny',
    async ({ req, res, params, reviewer }) => {
      const body = stringFields(await readJsonBody(req, maxBody), ['reason'] as const);
      const view = await broker.deny(params.id!, reviewer!, body);
      log?.info({ request: view.id, reviewer: reviewer!.name }, 'request denied');
      sendJson(res, 200, view);
    },
    { auth: true },
  );

  return c;
}
