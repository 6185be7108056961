// Slows down token guessing against the console: a client address that presents `limit` wrong reviewer
// tokens within `windowMs` (POST /api/login, a Bearer header, the WebSocket subprotocol) is refused with 429
// for `blockMs`, doubled at each block that follows within the hour, up to `maxBlockMs`. Tokens are long and
// random, so guessing was never practical; this keeps a guesser from trying at line rate and from filling
// the log. A console reached through a reverse proxy sees the proxy's address for every client: then one
// guesser also blocks the others for a while, which is the safe side to err on.

export interface LoginGuardOptions {
  limit?: number;
  windowMs?: number;
  blockMs?: number;
  maxBlockMs?: number;
  /** For tests. */
  now?: () => number;
}

interface AddressRecord {
  failures: number;
  since: number;
  blockedUntil: number;
  /** How long the next block lasts. */
  nextBlockMs: number;
  lastBlockAt: number;
}

const hourMs = 60 * 60 * 1000;
/** Addresses remembered at most; the oldest are forgotten first (a flood of addresses cannot grow memory). */
const maxRecords = 10_000;

export class LoginGuard {
  private readonly records = new Map<string, AddressRecord>();
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly blockMs: number;
  private readonly maxBlockMs: number;
  private readonly now: () => number;

  constructor(opts: LoginGuardOptions = {}) {
    this.limit = opts.limit ?? 10;
    this.windowMs = opts.windowMs ?? 60_000;
    this.blockMs = opts.blockMs ?? 60_000;
    this.maxBlockMs = opts.maxBlockMs ?? 15 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** Seconds the address must wait before presenting a token again (0: it may now). */
  retryAfter(address: string): number {
    const r = this.records.get(address);
    if (!r) return 0;
    const left = r.blockedUntil - this.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** A wrong token from `address`. */
  failed(address: string): void {
    const now = this.now();
    let r = this.records.get(address);
    if (!r) {
      if (this.records.size >= maxRecords) this.records.delete(this.records.keys().next().value!);
      r = { failures: 0, since: now, blockedUntil: 0, nextBlockMs: this.blockMs, lastBlockAt: 0 };
      this.records.set(address, r);
    }
    if (now - r.since > this.windowMs) {
      r.failures = 0;
      r.since = now;
    }
    if (++r.failures < this.limit) return;
    if (now - r.lastBlockAt > hourMs) r.nextBlockMs = this.blockMs;
    r.blockedUntil = now + r.nextBlockMs;
    r.lastBlockAt = now;
    r.nextBlockMs = Math.min(r.nextBlockMs * 2, this.maxBlockMs);
    r.failures = 0;
    r.since = now;
  }

  /** A right token from `address`: its failures are forgotten. */
  succeeded(address: string): void {
    this.records.delete(address);
  }
}
