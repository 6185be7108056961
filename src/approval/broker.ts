// Held statements waiting for a reviewer: in memory, one process.
//
// API:
//   const broker = new Broker({ timeoutMs: config.approvals.timeout, beforeDecisionApplied?, log? })
//   const held = broker.create({ requester, sql, statements, rule, signal? })
//       -> { id, view, verdict: Promise<Decision>, cancel(reason) }
//       The verdict settles exactly once: approved, denied, expired (after timeoutMs) or cancelled (cancel(),
//       `signal` aborted when the session ends, broker.close()). It never rejects.
//   await broker.approve(id, reviewer, { reason?, for? })   `for: '15m'` also opens an approval window
//   await broker.deny(id, reviewer, { reason })             reason required
//       Both resolve with the decided RequestView once the decision is applied, and reject with
//       NotFoundError (404) | SelfApprovalError (403) | NotPendingError (409) | BadDecisionError (400) |
//       DecisionNotRecordedError (500, see below).
//   broker.coveredByWindow(fingerprints, requester) -> the open ApprovalWindow covering every fingerprint for
//       the same requester (db user + database + listener), or undefined.
//   broker.get(id), broker.list('pending' | 'all')  -> RequestView (the Console contract's shape)
//   broker.onChange(view => ...) -> unsubscribe     every change: created, then its one decision
//   broker.close(reason)                             cancels everything pending (shutdown)
//
// Order of a decision: the request leaves `pending` at once (a second decision gets 409, the timer stops);
// then `beforeDecisionApplied(view, decision)` is awaited (the audit writes and flushes the decision there);
// only then does the verdict settle and onChange fire. If the hook fails for an approval, nothing is
// approved: the request is cancelled ("decision not recorded ...") and approve() rejects.
import { randomBytes } from 'node:crypto';
import type { Category, Statement } from '../classify/types.js';
import { parseDuration } from '../config.js';
import type { RuleRef } from '../policy/policy.js';
import { mayDecide, sameRequester, type Requester, type Reviewer } from './identity.js';

export type RequestStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';

export interface ApprovalWindow {
  /** The request whose approval opened it. */
  requestId: string;
  reviewer: string;
  /** Epoch ms when it closes. */
  until: number;
}

export type Decision =
  | { status: 'approved'; reviewer: string; reason?: string; window?: ApprovalWindow }
  | { status: 'denied'; reviewer: string; reason: string }
  | { status: 'expired' }
  | { status: 'cancelled'; reason: string };

/** One request as the console, the CLI and the audit see it (DESIGN.md "Console (contract)"), plus a few extras. */
export interface RequestView {
  id: string;
  status: RequestStatus;
  /** ISO 8601. */
  createdAt: string;
  decidedAt: string | null;
  /** When a pending request expires. */
  expiresAt: string;
  session: string;
  listener: string;
  protocol: 'postgres' | 'mysql';
  user: string | null;
  database: string | null;
  application: string | null;
  client: string;
  tlsCommonName: string | null;
  sql: string;
  statements: { category: Category; kind: string; text: string }[];
  rule: RuleRef | null;
  reviewer: string | null;
  reason: string | null;
  /** ISO 8601 end of the approval window this approval opened. */
  windowUntil: string | null;
}

export interface CreateRequest {
  requester: Requester;
  sql: string;
  statements: readonly Statement[];
  /** The policy rule that held it (null: the default action). */
  rule: RuleRef | null;
  /** Aborted when the session ends: cancels the request ("client disconnected"). */
  signal?: AbortSignal;
}

export interface HeldRequest {
  readonly id: string;
  readonly view: RequestView;
  readonly verdict: Promise<Decision>;
  /** Cancels the request if it is still pending (client cancel, disconnect). */
  cancel(reason: string): void;
}

export interface BrokerOptions {
  /** config.approvals.timeout */
  timeoutMs: number;
  /** Longest approval window a reviewer may open (default 24 h). */
  maxWindowMs?: number;
  /** Decided requests kept for list('all') (default 1000). */
  historySize?: number;
  beforeDecisionApplied?: (request: RequestView, decision: Decision) => Promise<void>;
  /** pino fits. */
  log?: { error(obj: object, msg: string): void };
}

// ---- errors (the console maps them to HTTP statuses) ----

export class ApprovalError extends Error {
  override name = 'ApprovalError';
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 500,
    message: string,
  ) {
    super(message);
  }
}
export class NotFoundError extends ApprovalError {
  override name = 'NotFoundError';
  constructor(id: string) {
    super(404, `no request ${id}`);
  }
}
export class SelfApprovalError extends ApprovalError {
  override name = 'SelfApprovalError';
  constructor(reviewer: string, user: string) {
    super(403, `${reviewer} may not decide requests of database user ${user}`);
  }
}
export class NotPendingError extends ApprovalError {
  override name = 'NotPendingError';
  constructor(id: string, status: RequestStatus) {
    super(409, `request ${id} is no longer pending: ${status}`);
  }
}
export class BadDecisionError extends ApprovalError {
  override name = 'BadDecisionError';
  constructor(message: string) {
    super(400, message);
  }
}
export class DecisionNotRecordedError extends ApprovalError {
  override name = 'DecisionNotRecordedError';
  constructor(id: string, cause: string) {
    super(500, `request ${id}: the decision could not be recorded, so nothing was approved: ${cause}`);
  }
}

// ---- ids ----

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** `r_` + 10 base32 characters: 50 random bits, short enough to type, too many to guess. */
export function newRequestId(): string {
  const bytes = randomBytes(10);
  let id = 'r_';
  for (const b of bytes) id += BASE32[b & 31];
  return id;
}

// ---- broker ----

interface Entry {
  view: RequestView;
  requester: Requester;
  fingerprints: readonly string[];
  timer?: NodeJS.Timeout;
  resolve(d: Decision): void;
  detach?: () => void;
}

interface OpenWindow extends ApprovalWindow {
  requester: Requester;
  fingerprints: ReadonlySet<string>;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class Broker {
  private readonly pending = new Map<string, Entry>();
  /** Decided requests, oldest first (Map keeps insertion order). */
  private readonly history = new Map<string, RequestView>();
  private windows: OpenWindow[] = [];
  private readonly listeners = new Set<(view: RequestView) => void>();
  private readonly maxWindowMs: number;
  private readonly historySize: number;

  constructor(private readonly opts: BrokerOptions) {
    this.maxWindowMs = opts.maxWindowMs ?? 86_400_000;
    this.historySize = opts.historySize ?? 1000;
  }

  create(req: CreateRequest): HeldRequest {
    let id = newRequestId();
    while (this.pending.has(id) || this.history.has(id)) id = newRequestId();
    const now = Date.now();
    const r = req.requester;
    const view: RequestView = {
      id,
      status: 'pending',
      createdAt: iso(now),
      decidedAt: null,
      expiresAt: iso(now + this.opts.timeoutMs),
      session: r.session,
      listener: r.listener,
      protocol: r.protocol,
      user: r.user ?? null,
      database: r.database ?? null,
      application: r.application ?? null,
      client: r.client,
      tlsCommonName: r.tlsCommonName ?? null,
      sql: req.sql,
      statements: req.statements.map((s) => ({ category: s.category, kind: s.kind, text: s.text })),
      rule: req.rule,
      reviewer: null,
      reason: null,
      windowUntil: null,
    };
    let resolve!: (d: Decision) => void;
    const verdict = new Promise<Decision>((res) => (resolve = res));
    const entry: Entry = { view, requester: r, fingerprints: req.statements.map((s) => s.fingerprint), resolve };
    this.pending.set(id, entry);
    entry.timer = setTimeout(() => void this.settle(entry, { status: 'expired' }), this.opts.timeoutMs);
    entry.timer.unref();
    const cancel = (reason: string) => {
      if (entry.view.status === 'pending') void this.settle(entry, { status: 'cancelled', reason });
    };
    if (req.signal) {
      const onAbort = () => cancel('client disconnected');
      if (req.signal.aborted) queueMicrotask(onAbort);
      else {
        req.signal.addEventListener('abort', onAbort, { once: true });
        entry.detach = () => req.signal!.removeEventListener('abort', onAbort);
      }
    }
    this.emit(view);
    return { id, view: { ...view }, verdict, cancel };
  }

  async approve(id: string, reviewer: Reviewer, opts: { reason?: string; for?: string } = {}): Promise<RequestView> {
    const entry = this.decidable(id, reviewer);
    let windowMs: number | undefined;
    if (opts.for !== undefined) {
      windowMs = parseDuration(opts.for);
      if (windowMs === undefined || windowMs <= 0) throw new BadDecisionError(`for: expected a duration like 15m or 2h, got ${JSON.stringify(opts.for)}`);
      if (windowMs > this.maxWindowMs) throw new BadDecisionError(`for: ${opts.for} is longer than the longest window allowed (${this.maxWindowMs / 60_000}m)`);
    }
    const reason = opts.reason?.trim() || undefined;
    const decision: Decision = { status: 'approved', reviewer: reviewer.name, ...(reason ? { reason } : {}) };
    if (windowMs !== undefined) decision.window = { requestId: id, reviewer: reviewer.name, until: Date.now() + windowMs };
    await this.settle(entry, decision);
    return { ...entry.view };
  }

  async deny(id: string, reviewer: Reviewer, opts: { reason?: string }): Promise<RequestView> {
    const entry = this.decidable(id, reviewer);
    const reason = opts.reason?.trim();
    if (!reason) throw new BadDecisionError('reason: a denial needs a reason (the client sees it)');
    await this.settle(entry, { status: 'denied', reviewer: reviewer.name, reason });
    return { ...entry.view };
  }

  coveredByWindow(fingerprints: readonly string[], requester: Pick<Requester, 'user' | 'database' | 'listener'>): ApprovalWindow | undefined {
    if (fingerprints.length === 0 || this.windows.length === 0) return undefined;
    const now = Date.now();
    this.windows = this.windows.filter((w) => w.until > now);
    const w = this.windows.find((w) => sameRequester(w.requester, requester) && fingerprints.every((f) => w.fingerprints.has(f)));
    return w ? { requestId: w.requestId, reviewer: w.reviewer, until: w.until } : undefined;
  }

  get(id: string): RequestView | undefined {
    const v = this.pending.get(id)?.view ?? this.history.get(id);
    return v ? { ...v } : undefined;
  }

  /** Oldest first. 'all' is the pending requests and the last `historySize` decided ones. */
  list(status: 'pending' | 'all' = 'pending'): RequestView[] {
    const out: RequestView[] = [];
    // A request whose decision is being recorded is no longer pending, and not yet in the history.
    for (const e of this.pending.values()) if (status === 'all' || e.view.status === 'pending') out.push({ ...e.view });
    if (status === 'all') for (const v of this.history.values()) out.push({ ...v });
    if (status === 'all') out.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
    return out;
  }

  onChange(listener: (view: RequestView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Cancels every pending request (shutdown) and waits until their verdicts are settled. */
  async close(reason = 'the proxy is shutting down'): Promise<void> {
    await Promise.all([...this.pending.values()].map((e) => this.settle(e, { status: 'cancelled', reason })));
    this.windows = [];
  }

  private decidable(id: string, reviewer: Reviewer): Entry {
    const entry = this.pending.get(id);
    if (!entry) {
      const done = this.history.get(id);
      throw done ? new NotPendingError(id, done.status) : new NotFoundError(id);
    }
    if (!mayDecide(reviewer, entry.requester)) throw new SelfApprovalError(reviewer.name, entry.requester.user!);
    if (entry.view.status !== 'pending') throw new NotPendingError(id, entry.view.status);
    return entry;
  }

  /** Applies a decision: see the header for the order. Only the first call for an entry does anything. */
  private async settle(entry: Entry, decision: Decision): Promise<void> {
    const v = entry.view;
    if (v.status !== 'pending') return;
    clearTimeout(entry.timer);
    entry.detach?.();
    v.status = decision.status;
    v.decidedAt = iso(Date.now());
    v.reviewer = 'reviewer' in decision ? decision.reviewer : null;
    v.reason = 'reason' in decision ? (decision.reason ?? null) : null;
    let applied = decision;
    if (this.opts.beforeDecisionApplied) {
      try {
        await this.opts.beforeDecisionApplied({ ...v }, decision);
      } catch (err) {
        const cause = (err as Error).message;
        this.opts.log?.error({ err: cause, request: v.id, status: decision.status }, 'decision hook failed');
        if (decision.status === 'approved') {
          const failure = new DecisionNotRecordedError(v.id, cause);
          applied = { status: 'cancelled', reason: failure.message };
          Object.assign(v, { status: 'cancelled', reviewer: null, reason: applied.reason });
          this.finish(entry, applied);
          throw failure;
        }
      }
    }
    if (applied.status === 'approved' && applied.window) {
      v.windowUntil = iso(applied.window.until);
      this.windows.push({ ...applied.window, requester: entry.requester, fingerprints: new Set(entry.fingerprints) });
    }
    this.finish(entry, applied);
  }

  private finish(entry: Entry, decision: Decision): void {
    this.pending.delete(entry.view.id);
    this.history.set(entry.view.id, entry.view);
    while (this.history.size > this.historySize) this.history.delete(this.history.keys().next().value!);
    entry.resolve(decision);
    this.emit(entry.view);
  }

  private emit(view: RequestView): void {
    for (const l of this.listeners) {
      try {
        l({ ...view });
      } catch (err) {
        this.opts.log?.error({ err: (err as Error).message, request: view.id }, 'request listener failed');
      }
    }
  }
}
