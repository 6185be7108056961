// Wires the rest of the console onto a ConsoleServer: the page, the WebSocket, /metrics and the webhooks.
//
// API (app.ts, after createConsoleServer and listen):
//   const attached = attachConsole({ server, broker, config: config.console, consoleUrl, log })
//   attached.metrics       sessionOpened/sessionClosed/bytes/maskedCells for the sessions and masking
//   await attached.close() stops the webhooks and closes the sockets (the console's close() does it too)
// Attaching twice to one server returns the first attachment (one WebSocket handler per 'upgrade').
import type { Broker } from '../approval/broker.js';
import type { Config } from '../config.js';
import { Metrics, METRICS_CONTENT_TYPE } from './metrics.js';
import { sendText, type ConsoleLog, type ConsoleServer } from './server.js';
import { servePage } from './static.js';
import { Webhooks, type RetryOptions } from './webhooks.js';
import { attachWebSocket, type LiveConsole } from './ws.js';

export interface AttachOptions {
  server: ConsoleServer;
  broker: Broker;
  config: Pick<Config['console'], 'publicUrl' | 'webhooks'>;
  /** Where reviewers reach the console (the public URL, or the bound address). */
  consoleUrl: string;
  log?: ConsoleLog;
  /** Shared with other parts when they exist already (tests). */
  metrics?: Metrics;
  ws?: { pingIntervalMs?: number; maxPayload?: number };
  webhookRetry?: RetryOptions;
}

export interface AttachedConsole {
  readonly metrics: Metrics;
  readonly live: LiveConsole;
  readonly webhooks: Webhooks;
  close(): Promise<void>;
}

const attachedTo = new WeakMap<ConsoleServer, AttachedConsole>();

export function attachConsole(opts: AttachOptions): AttachedConsole {
  const done = attachedTo.get(opts.server);
  if (done) return done;
  const { server, broker, log, consoleUrl } = opts;
  const metrics = opts.metrics ?? new Metrics();
  const stopMetrics = metrics.watchBroker(broker);

  if (consoleUrl.startsWith('https:')) server.sessions.secure = true;
  servePage(server);
  server.route('GET', '/metrics', ({ res }) => sendText(res, 200, metrics.render(), METRICS_CONTENT_TYPE));

  const origins = [consoleUrl, ...(opts.config.publicUrl ? [opts.config.publicUrl] : [])];
  const live = attachWebSocket({ console: server, broker, log, origins, metrics, ...opts.ws });

  const webhooks = new Webhooks({ hooks: opts.config.webhooks ?? [], consoleUrl, log, metrics, ...(opts.webhookRetry ? { retry: opts.webhookRetry } : {}) });
  const stopWebhooks = webhooks.watchBroker(broker);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      stopMetrics();
      stopWebhooks();
      await Promise.all([live.close(), webhooks.close()]);
    })());
  server.onClose(close);
  const attached = { metrics, live, webhooks, close };
  attachedTo.set(server, attached);
  return attached;
}
