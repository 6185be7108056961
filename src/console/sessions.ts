// Browser sessions of the reviewer console: a reviewer logs in once with their token and the browser holds a
// random session id in an HttpOnly, SameSite=Strict cookie. The id maps to the reviewer in memory only, so a
// restart logs everyone out (tokens stay the only long-lived secret).
//
// API:
//   const sessions = new Sessions({ ttlMs?, max?, secure? })
//   sessions.create(reviewer) -> id;  sessions.get(id) -> { id, reviewer } | undefined (expired ones are gone)
//   sessions.end(id);  sessions.onEnd(id => ...)         (the WebSocket closes that session's sockets)
//   sessions.cookie(id) / sessions.clearCookie()         Set-Cookie header values
//   sessionIdOf(cookieHeader)                            the id in a Cookie header, or undefined
import { randomBytes } from 'node:crypto';
import type { Reviewer } from '../approval/identity.js';

export const SESSION_COOKIE = 'sqlwarden_session';

export interface ConsoleSession {
  readonly id: string;
  readonly reviewer: Reviewer;
}

interface Entry extends ConsoleSession {
  expires: number;
}

export interface SessionsOptions {
  /** How long a login lasts (default 12 h): absolute, not sliding, so a stolen cookie dies on time. */
  ttlMs?: number;
  /** Most sessions kept; the oldest is ended beyond it (default 10 000). */
  max?: number;
  /** Adds `Secure` to the cookie: set when the console is reached over https. */
  secure?: boolean;
}

export class Sessions {
  private readonly entries = new Map<string, Entry>();
  private readonly endListeners = new Set<(id: string) => void>();
  readonly ttlMs: number;
  private readonly max: number;
  /** Adds `Secure` to the cookie (attach.ts sets it when the public URL is https). */
  secure: boolean;

  constructor(opts: SessionsOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 12 * 3_600_000;
    this.max = opts.max ?? 10_000;
    this.secure = opts.secure ?? false;
  }

  create(reviewer: Reviewer): string {
    this.sweep();
    // 256 random bits, base64url: nothing to guess, nothing to escape in a header.
    const id = randomBytes(32).toString('base64url');
    this.entries.set(id, { id, reviewer, expires: Date.now() + this.ttlMs });
    while (this.entries.size > this.max) this.end(this.entries.keys().next().value!);
    return id;
  }

  get(id: string | undefined): ConsoleSession | undefined {
    if (!id) return undefined;
    const e = this.entries.get(id);
    if (!e) return undefined;
    if (e.expires <= Date.now()) {
      this.end(id);
      return undefined;
    }
    return { id: e.id, reviewer: e.reviewer };
  }

  end(id: string): void {
    if (!this.entries.delete(id)) return;
    for (const l of this.endListeners) l(id);
  }

  onEnd(listener: (id: string) => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  get size(): number {
    return this.entries.size;
  }

  cookie(id: string): string {
    return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.ceil(this.ttlMs / 1000)}${this.secure ? '; Secure' : ''}`;
  }

  clearCookie(): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${this.secure ? '; Secure' : ''}`;
  }

  /** Drops expired sessions (Map order is creation order, and every session lives equally long). */
  private sweep(): void {
    const now = Date.now();
    for (const e of this.entries.values()) {
      if (e.expires > now) break;
      this.end(e.id);
    }
  }
}

/** The session id in a Cookie header (`a=1; sqlwarden_session=ID`), or undefined. */
export function sessionIdOf(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}
