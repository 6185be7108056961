// Webhooks (config `console.webhooks: [{url, secret}]`): a JSON POST for each created and decided request.
//
// API:
//   const hooks = new Webhooks({ hooks: config.console.webhooks, consoleUrl, log?, metrics?, retry? })
//   hooks.watchBroker(broker) -> unsubscribe
//   hooks.send(view)                 queues the event for every hook; returns at once
//   await hooks.idle()               every queued delivery done or given up (tests, shutdown)
//   await hooks.close(graceMs?)      a short grace for what is queued, then stops retrying and drops the rest
//
// Body: { event: "request.created" | "request.approved" | ..., text, request, console, sentAt }.
// `text` makes a Slack incoming webhook show the event as is. The request's SQL is run through the masking
// detectors first: a webhook goes to another system (a chat channel), unlike the console page which needs
// the statement verbatim to judge it.
// Header `X-Sqlwarden-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the secret>`.
// Delivery never blocks a session or the broker: each hook has its own queue, delivered in order (a
// receiver sees created before approved), bounded (the oldest event is dropped when full), each post
// retried on network errors, timeouts, 429 and 5xx with exponential back-off and jitter, a bounded number
// of times.
import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Broker, RequestView } from '../approval/broker.js';
import { redactSql } from '../audit/sql-redact.js';
import type { ConsoleLog } from './server.js';

export interface WebhookConfig {
  url: string;
  secret: string;
}

export interface RetryOptions {
  /** Posts per event, the first included (default 5). */
  attempts?: number;
  /** Wait before the first retry; doubles each time (default 1 s). */
  baseDelayMs?: number;
  /** Longest wait between two attempts (default 60 s). */
  maxDelayMs?: number;
  /** One post's time limit (default 10 s). */
  timeoutMs?: number;
}

export interface WebhooksOptions {
  hooks: readonly WebhookConfig[];
  /** Where reviewers reach the console; the link in `text` is `${consoleUrl}/#${id}`. */
  consoleUrl: string;
  log?: ConsoleLog & { warn?(obj: object, msg: string): void };
  metrics?: { webhook(outcome: 'delivered' | 'failed' | 'dropped'): void };
  retry?: RetryOptions;
  /** Events queued per hook before the oldest is dropped (default 1000). */
  maxQueue?: number;
}

export const SIGNATURE_HEADER = 'x-sqlwarden-signature';

export function signature(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Slack reads `&`, `<` and `>` as markup: escaped, the text shows as written. */
const slackEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** `10.0.0.5:51234` -> `10.0.0.5`, `[::1]:5000` -> `::1`. */
function hostOf(client: string): string {
  const m = /^\[(.*)\]:\d+$/.exec(client) ?? /^([^:]*):\d+$/.exec(client);
  return m ? m[1]! : client;
}

/** The first statement, shortened for one line: `DROP TABLE users`, `COPY t TO STDOUT ...`. */
function headline(view: RequestView): string {
  const first = redactSql(view.statements[0]?.text ?? view.sql).replace(/\s+/g, ' ').trim();
  const short = first.length > 80 ? `${first.slice(0, 77)}...` : first;
  return view.statements.length > 1 ? `${short} (+${view.statements.length - 1} more)` : short;
}

/** The Slack-compatible line for an event. */
export function eventText(view: RequestView, consoleUrl: string): string {
  const who = `${view.user ?? '?'}@${view.database ?? '?'}`;
  const link = `${consoleUrl.replace(/\/+$/, '')}/#${view.id}`;
  const what = headline(view);
  let text: string;
  switch (view.status) {
    case 'pending':
      text = `${what} held for approval: ${view.id} by ${who} from ${hostOf(view.client)} — ${link}`;
      break;
    case 'approved':
    case 'denied':
      text = `${what} ${view.status} by ${view.reviewer}${view.reason ? `: ${view.reason}` : ''} (${view.id}, ${who}) — ${link}`;
      break;
    case 'expired':
      text = `${what} expired without a decision (${view.id}, ${who}) — ${link}`;
      break;
    case 'cancelled':
      text = `${what} cancelled: ${view.reason ?? 'no reason'} (${view.id}, ${who}) — ${link}`;
      break;
  }
  return slackEscape(text);
}

export function eventBody(view: RequestView, consoleUrl: string, sentAt = new Date()): string {
  const request = { ...view, sql: redactSql(view.sql), statements: view.statements.map((s) => ({ ...s, text: redactSql(s.text) })) };
  const event = view.status === 'pending' ? 'request.created' : `request.${view.status}`;
  return JSON.stringify({ event, text: eventText(view, consoleUrl), request, console: `${consoleUrl.replace(/\/+$/, '')}/#${view.id}`, sentAt: sentAt.toISOString() });
}

interface Delivery {
  body: string;
  event: string;
  id: string;
  request: string;
}

class HookQueue {
  private readonly queue: Delivery[] = [];
  private running: Promise<void> | undefined;

  constructor(
    readonly hook: WebhookConfig,
    private readonly owner: Webhooks,
  ) {}

  push(d: Delivery): void {
    this.queue.push(d);
    if (this.queue.length > this.owner.maxQueue) {
      const dropped = this.queue.shift()!;
      this.owner.dropped(this.hook, dropped);
    }
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  clear(): void {
    this.queue.length = 0;
  }

  private async drain(): Promise<void> {
    for (let d = this.queue.shift(); d; d = this.queue.shift()) await this.owner.deliver(this.hook, d);
  }
}

export class Webhooks {
  readonly maxQueue: number;
  private readonly queues: HookQueue[];
  private readonly retry: Required<RetryOptions>;
  private readonly stop = new AbortController();

  constructor(private readonly opts: WebhooksOptions) {
    this.maxQueue = opts.maxQueue ?? 1000;
    this.retry = { attempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000, timeoutMs: 10_000, ...opts.retry };
    this.queues = opts.hooks.map((h) => new HookQueue(h, this));
  }

  watchBroker(broker: Broker): () => void {
    return broker.onChange((view) => this.send(view));
  }

  send(view: RequestView): void {
    if (this.queues.length === 0 || this.stop.signal.aborted) return;
    const body = eventBody(view, this.opts.consoleUrl);
    const event = view.status === 'pending' ? 'request.created' : `request.${view.status}`;
    for (const q of this.queues) q.push({ body, event, id: randomUUID(), request: view.id });
  }

  async idle(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.idle()));
  }

  /** Gives queued events `graceMs` to go out (a shutdown's cancellations), then stops retrying and drops the rest. */
  async close(graceMs = 2000): Promise<void> {
    if (graceMs > 0) {
      const timer = new AbortController();
      await Promise.race([this.idle(), sleep(graceMs, undefined, { signal: timer.signal, ref: false }).catch(() => undefined)]);
      timer.abort();
    }
    this.stop.abort();
    for (const q of this.queues) q.clear();
    await this.idle();
  }

  /** @internal one event to one hook, with retries. */
  async deliver(hook: WebhookConfig, d: Delivery): Promise<void> {
    const signal = this.stop.signal;
    const where = { url: redactUrl(hook.url), event: d.event, request: d.request, delivery: d.id };
    let last = '';
    for (let attempt = 1; attempt <= this.retry.attempts && !signal.aborted; attempt++) {
      if (attempt > 1) {
        const backoff = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 2));
        // Full jitter over the upper half: hooks that failed together do not retry together.
        try {
          await sleep(backoff / 2 + Math.random() * (backoff / 2), undefined, { signal });
        } catch {
          break;
        }
      }
      try {
        const res = await fetch(hook.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'sqlwarden-webhook',
            'x-sqlwarden-event': d.event,
            'x-sqlwarden-delivery': d.id,
            [SIGNATURE_HEADER]: signature(d.body, hook.secret),
          },
          body: d.body,
          redirect: 'error',
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.retry.timeoutMs)]),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.opts.metrics?.webhook('delivered');
          return;
        }
        last = `HTTP ${res.status}`;
        // Other 4xx answers will not change on a retry: the receiver refuses this post.
        if (res.status < 500 && res.status !== 429 && res.status !== 408) break;
      } catch (err) {
        last = (err as Error).name === 'TimeoutError' ? `no answer within ${this.retry.timeoutMs} ms` : ((err as Error & { cause?: Error }).cause?.message ?? (err as Error).message);
      }
      (this.opts.log?.warn ?? this.opts.log?.info)?.call(this.opts.log, { ...where, attempt, err: last }, 'webhook post failed');
    }
    this.opts.metrics?.webhook('failed');
    this.opts.log?.error({ ...where, err: last }, 'webhook event not delivered');
  }

  /** @internal */
  dropped(hook: WebhookConfig, d: Delivery): void {
    this.opts.metrics?.webhook('dropped');
    this.opts.log?.error({ url: redactUrl(hook.url), event: d.event, request: d.request }, `webhook queue full (${this.maxQueue}): oldest event dropped`);
  }
}

/** Webhook URLs often carry their secret in the path (Slack): the log gets the origin only. */
function redactUrl(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(bad url)';
  }
}
