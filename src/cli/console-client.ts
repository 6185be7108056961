// The console's JSON API seen from the CLI (`sqlwarden requests|approve|deny`), and how its answers print.
//
// API:
//   const client = new ConsoleClient(baseUrl, token)
//   await client.list('pending' | 'all') -> RequestView[];  client.approve(id, {reason?, for?});  client.deny(id, reason)
//       Failures throw ConsoleClientError with the server's own `error` message (or why it was not reached).
//   formatRequests(views, now) -> a table, one line per request;  formatDecision(view) -> one line
import type { RequestView } from '../approval/broker.js';

export class ConsoleClientError extends Error {
  override name = 'ConsoleClientError';
  constructor(
    message: string,
    /** HTTP status, when the console answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export class ConsoleClient {
  private readonly base: URL;

  constructor(
    baseUrl: string,
    private readonly token: string,
  ) {
    try {
      this.base = new URL(baseUrl);
    } catch {
      throw new ConsoleClientError(`console URL: expected http(s)://host:port, got ${JSON.stringify(baseUrl)}`);
    }
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new ConsoleClientError(`console URL: expected http(s)://host:port, got ${JSON.stringify(baseUrl)}`);
    }
  }

  list(status: 'pending' | 'all'): Promise<RequestView[]> {
    return this.call('GET', `api/requests?status=${status}`);
  }

  approve(id: string, opts: { reason?: string; for?: string }): Promise<RequestView> {
    return this.call('POST', `api/requests/${encodeURIComponent(id)}/approve`, opts);
  }

  deny(id: string, reason: string): Promise<RequestView> {
    return this.call('POST', `api/requests/${encodeURIComponent(id)}/deny`, { reason });
  }

  private async call<T>(method: string, path: string, body?: object): Promise<T> {
    const url = new URL(path, this.base.href.endsWith('/') ? this.base : `${this.base.href}/`);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ConsoleClientError(`cannot reach the console at ${this.base.origin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (!res.ok) {
      const message = (data as { error?: unknown } | undefined)?.error;
      throw new ConsoleClientError(`console answered ${res.status}: ${typeof message === 'string' ? message : text.slice(0, 200) || res.statusText}`, res.status);
    }
    if (data === undefined) throw new ConsoleClientError(`console answered ${res.status} without JSON`, res.status);
    return data as T;
  }
}

// ---- printing ----

/** 3725000 -> "1h02m"; 65000 -> "1m05s"; 4000 -> "4s" */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d`;
}

const oneLine = (text: string, max: number) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // The last column (the SQL) is not padded: nothing follows it.
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** One line per request: id, status, age, who, from where, categories, reviewer, SQL. */
export function formatRequests(views: readonly RequestView[], now = Date.now()): string {
  if (views.length === 0) return 'no requests';
  const rows = views.map((v) => [
    v.id,
    v.status,
    formatAge(now - Date.parse(v.createdAt)),
    `${v.user ?? '?'}@${v.database ?? '?'}`,
    `${v.listener} ${v.client}`,
    [...new Set(v.statements.map((s) => s.category))].join(',') || '-',
    v.reviewer ?? '-',
    oneLine(v.sql, 80),
  ]);
  return table(['ID', 'STATUS', 'AGE', 'USER@DATABASE', 'FROM', 'CATEGORY', 'REVIEWER', 'SQL'], rows);
}

export function formatDecision(v: RequestView): string {
  let out = `${v.id} ${v.status}`;
  if (v.reviewer) out += ` by ${v.reviewer}`;
  if (v.reason) out += `: ${v.reason}`;
  if (v.windowUntil) out += ` (same statements of ${v.user ?? '?'}@${v.database ?? '?'} approved until ${v.windowUntil})`;
  return out;
}
