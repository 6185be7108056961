// Who asks for a held statement, and who may decide it.
//
// API:
//   requesterOf(session)             -> Requester: the identity a hold, a decision and an audit line carry
//   sameRequester(a, b)              -> same db user, database and listener (what an approval window is bound to)
//   new Reviewers(config.console.reviewers).authenticate(token) -> Reviewer | undefined (constant time)
//   mayDecide(reviewer, requester)   -> false when the request's db user is one of the reviewer's databaseUsers:
//                                       nobody approves their own statements.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { SessionInfo } from '../session/hooks.js';

export interface Requester {
  /** Session id, for the audit. */
  session: string;
  listener: string;
  protocol: 'postgres' | 'mysql';
  /** Client address, host:port. */
  client: string;
  user?: string;
  database?: string;
  application?: string;
  tlsCommonName?: string;
}

export function requesterOf(s: SessionInfo): Requester {
  return {
    session: s.id,
    listener: s.listener,
    protocol: s.protocol,
    client: s.client,
    ...(s.user !== undefined ? { user: s.user } : {}),
    ...(s.database !== undefined ? { database: s.database } : {}),
    ...(s.application !== undefined ? { application: s.application } : {}),
    ...(s.tlsCommonName !== undefined ? { tlsCommonName: s.tlsCommonName } : {}),
  };
}

export function sameRequester(a: Pick<Requester, 'user' | 'database' | 'listener'>, b: Pick<Requester, 'user' | 'database' | 'listener'>): boolean {
  return a.user === b.user && a.database === b.database && a.listener === b.listener;
}

export interface Reviewer {
  readonly name: string;
  /** The database users this reviewer is: they never decide requests of these users. */
  readonly databaseUsers: readonly string[];
}

/** A reviewer as config.console.reviewers lists them. */
export interface ReviewerConfig {
  name: string;
  token: string;
  databaseUsers: readonly string[];
}

const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest();

export class Reviewers {
  private readonly entries: ReadonlyArray<{ reviewer: Reviewer; digest: Buffer }>;

  constructor(configs: readonly ReviewerConfig[]) {
    const seen = new Set<string>();
    this.entries = configs.map((c) => {
      const d = digest(c.token);
      const key = d.toString('hex');
      // Two reviewers with one token would make the token say nothing about who decided.
      if (seen.has(key)) throw new Error(`console.reviewers: ${c.name} has the same token as another reviewer`);
      seen.add(key);
      return { reviewer: Object.freeze({ name: c.name, databaseUsers: Object.freeze([...c.databaseUsers]) }), digest: d };
    });
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * The reviewer whose token this is. Compares SHA-256 digests (equal length) with timingSafeEqual, against
   * every reviewer without stopping early, so the time taken says nothing about the token or who matched.
   */
  authenticate(token: string | undefined): Reviewer | undefined {
    if (!token) return undefined;
    const d = digest(token);
    let found: Reviewer | undefined;
    for (const e of this.entries) if (timingSafeEqual(d, e.digest) && !found) found = e.reviewer;
    return found;
  }
}

export function mayDecide(reviewer: Reviewer, requester: Pick<Requester, 'user'>): boolean {
  return requester.user === undefined || !reviewer.databaseUsers.includes(requester.user);
}
