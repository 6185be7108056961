// Prometheus metrics: a tiny registry (counters, gauges, histograms, text format 0.0.4) and sqlwarden's own
// metrics. `/metrics` needs no login: it holds counts and the names of listeners and masking rules only (no
// SQL, no users, no addresses), the way Prometheus scrapes expect; the console listens on loopback by default.
//
// API:
//   const metrics = new Metrics()
//   metrics.watchBroker(broker) -> unsubscribe     held, decided{outcome}, decision latency, pending
//   metrics.sessionOpened(listener) / sessionClosed(listener)
//   metrics.bytes(listener, 'client_to_server' | 'server_to_client', n)
//   metrics.bytesCounter(listener, direction).inc(n)     the same, bound once, for per-chunk paths
//   metrics.maskedCells(rule, n)
//   metrics.render() -> the text a scrape gets;  METRICS_CONTENT_TYPE
import type { Broker, RequestView } from '../approval/broker.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Label values as the text format wants them: backslash, double quote and newline escaped. */
function escapeLabel(value: string): string {
  let out = '';
  for (const ch of value) out += ch === '\\' ? '\\\\' : ch === '"' ? '\\"' : ch === '\n' ? '\\n' : ch;
  return out;
}

function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

function labelText(names: readonly string[], values: readonly string[], extra = ''): string {
  if (names.length === 0 && !extra) return '';
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i]!)}"`);
  if (extra) parts.push(extra);
  return `{${parts.join(',')}}`;
}

interface Metric {
  readonly name: string;
  render(): string;
}

/** A bound series: what a hot path keeps so an increment is one addition. */
export interface CounterChild {
  inc(n?: number): void;
}

abstract class Family<Child> implements Metric {
  /** Children by their label values joined with NUL (a byte no label value holds in practice). */
  protected readonly children = new Map<string, { values: string[]; child: Child }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    readonly labelNames: readonly string[],
  ) {}

  protected abstract create(): Child;

  labels(...values: string[]): Child {
    if (values.length !== this.labelNames.length) throw new Error(`${this.name}: expected labels ${this.labelNames.join(', ')}, got ${values.length} values`);
    const key = values.join('\0');
    let entry = this.children.get(key);
    if (!entry) {
      entry = { values, child: this.create() };
      this.children.set(key, entry);
    }
    return entry.child;
  }

  protected header(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
  }

  abstract render(): string;
}

class CounterValue implements CounterChild {
  value = 0;
  inc(n = 1): void {
    if (n < 0) throw new Error('a counter only goes up');
    this.value += n;
  }
}

export class Counter extends Family<CounterValue> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, 'counter', labelNames);
  }
  protected create(): CounterValue {
    return new CounterValue();
  }
  inc(n = 1): void {
    this.labels().inc(n);
  }
  render(): string {
    let out = this.header();
    for (const { values, child } of this.children.values()) out += `${this.name}${labelText(this.labelNames, values)} ${formatValue(child.value)}\n`;
    return out;
  }
}

class GaugeValue {
  value = 0;
  set(n: number): void {
    this.value = n;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

export class Gauge extends Family<GaugeValue> {
  /** `collect` sets the value at scrape time (for what is cheaper to count than to track). */
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    private readonly collect?: (g: Gauge) => void,
  ) {
    super(name, help, 'gauge', labelNames);
  }
  protected create(): GaugeValue {
    return new GaugeValue();
  }
  set(n: number): void {
    this.labels().set(n);
  }
  render(): string {
    this.collect?.(this);
    let out = this.header();
    for (const { values, child } of this.children.values()) out += `${this.name}${labelText(this.labelNames, values)} ${formatValue(child.value)}\n`;
    return out;
  }
}

class HistogramValue {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }
  observe(v: number): void {
    // Stored per bucket, made cumulative when rendered.
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]!) i++;
    if (i < this.bounds.length) this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

export class Histogram extends Family<HistogramValue> {
  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
    labelNames: readonly string[] = [],
  ) {
    super(name, help, 'histogram', labelNames);
    for (let i = 1; i < buckets.length; i++) if (!(buckets[i]! > buckets[i - 1]!)) throw new Error(`${name}: buckets must increase`);
  }
  protected create(): HistogramValue {
    return new HistogramValue(this.buckets);
  }
  observe(v: number): void {
    this.labels().observe(v);
  }
  render(): string {
    let out = this.header();
    for (const { values, child } of this.children.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += child.counts[i]!;
        out += `${this.name}_bucket${labelText(this.labelNames, values, `le="${formatValue(this.buckets[i]!)}"`)} ${cumulative}\n`;
      }
      out += `${this.name}_bucket${labelText(this.labelNames, values, 'le="+Inf"')} ${child.count}\n`;
      out += `${this.name}_sum${labelText(this.labelNames, values)} ${formatValue(child.sum)}\n`;
      out += `${this.name}_count${labelText(this.labelNames, values)} ${child.count}\n`;
    }
    return out;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];

  register<M extends Metric>(m: M): M {
    if (this.metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} is registered twice`);
    this.metrics.push(m);
    return m;
  }

  render(): string {
    return this.metrics.map((m) => m.render()).join('');
  }
}

export type ByteDirection = 'client_to_server' | 'server_to_client';

const OUTCOMES = ['approved', 'denied', 'expired', 'cancelled'] as const;

/** A reviewer takes seconds to hours: buckets from 1 s to 1 h. */
const LATENCY_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600];

export class Metrics {
  readonly registry = new Registry();
  private readonly held = this.registry.register(new Counter('sqlwarden_requests_held_total', 'Statements held for a reviewer.'));
  private readonly decided = this.registry.register(
    new Counter('sqlwarden_requests_decided_total', 'Held requests that left pending, by outcome (approved, denied, expired, cancelled).', ['outcome']),
  );
  private readonly latency = this.registry.register(
    new Histogram('sqlwarden_decision_latency_seconds', 'Time from hold to a reviewer decision (approved or denied).', LATENCY_BUCKETS),
  );
  private readonly pendingGauge = this.registry.register(
    new Gauge('sqlwarden_requests_pending', 'Requests waiting for a reviewer now.', [], (g) => g.set(this.pendingCount())),
  );
  private readonly sessions = this.registry.register(new Gauge('sqlwarden_sessions', 'Open client sessions, by listener.', ['listener']));
  private readonly bytesTotal = this.registry.register(
    new Counter('sqlwarden_bytes_total', 'Bytes relayed, by listener and direction (client_to_server, server_to_client).', ['listener', 'direction']),
  );
  private readonly masked = this.registry.register(new Counter('sqlwarden_masked_cells_total', 'Result values masked, by masking rule.', ['rule']));
  private readonly wsClients = this.registry.register(new Gauge('sqlwarden_console_clients', 'Reviewer pages connected over WebSocket.'));
  private readonly webhookDeliveries = this.registry.register(
    new Counter('sqlwarden_webhook_deliveries_total', 'Webhook posts, by outcome (delivered, failed, dropped).', ['outcome']),
  );
  private pendingCount: () => number = () => 0;

  constructor() {
    // Zero series exist from the start, so rate() and alerts see them before the first event.
    this.held.inc(0);
    for (const o of OUTCOMES) this.decided.labels(o).inc(0);
    this.latency.labels();
    this.wsClients.set(0);
    for (const o of ['delivered', 'failed', 'dropped']) this.webhookDeliveries.labels(o).inc(0);
  }

  /** Counts holds and decisions from the broker's change events; the pending gauge asks the broker. */
  watchBroker(broker: Broker): () => void {
    this.pendingCount = () => broker.list('pending').length;
    return broker.onChange((view: RequestView) => {
      if (view.status === 'pending') return this.held.inc();
      this.decided.labels(view.status).inc();
      if ((view.status === 'approved' || view.status === 'denied') && view.decidedAt) {
        this.latency.observe(Math.max(0, Date.parse(view.decidedAt) - Date.parse(view.createdAt)) / 1000);
      }
    });
  }

  sessionOpened(listener: string): void {
    this.sessions.labels(listener).inc();
  }

  sessionClosed(listener: string): void {
    this.sessions.labels(listener).dec();
  }

  bytes(listener: string, direction: ByteDirection, n: number): void {
    this.bytesTotal.labels(listener, direction).inc(n);
  }

  bytesCounter(listener: string, direction: ByteDirection): CounterChild {
    return this.bytesTotal.labels(listener, direction);
  }

  maskedCells(rule: string, n = 1): void {
    if (n > 0) this.masked.labels(rule).inc(n);
  }

  consoleClients(n: number): void {
    this.wsClients.set(n);
  }

  webhook(outcome: 'delivered' | 'failed' | 'dropped'): void {
    this.webhookDeliveries.labels(outcome).inc();
  }

  render(): string {
    return this.registry.render();
  }
}
