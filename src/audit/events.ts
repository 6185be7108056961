// What the audit trail records (DESIGN.md "Audit (contract)"): six event types, and how one becomes the
// canonical JSON of its line.
//
// A line is `{"ts":…,"seq":…,"type":…,<fields in a fixed order>,"prev":…,"hash":…}`: the key order is fixed
// here (not the caller's), undefined fields are left out, nested objects have sorted keys. seq, prev and hash
// are assigned when the line is written (log.ts), so serializeEvent returns the text around seq.
import type { Category } from '../classify/types.js';
import type { Action, RuleRef } from '../policy/policy.js';

/** Who is asking, as the wire tells it (a Requester from approval/identity fits). */
export interface AuditIdentity {
  user?: string;
  database?: string;
  application?: string;
  /** Client address, host:port. */
  client: string;
  /** Common name of the client's TLS certificate. */
  tlsCommonName?: string;
}

interface SessionRef {
  /** Session id (`s12`): joins every line of one connection. */
  session: string;
  listener: string;
}

export interface SessionOpenEvent extends SessionRef {
  type: 'session.open';
  protocol: 'postgres' | 'mysql';
  identity: AuditIdentity;
  /** The client connected with TLS. */
  tls?: boolean;
}

/** One statement through the gate (a multi-statement query is one line per statement, same action). */
export interface StatementEvent extends SessionRef {
  type: 'statement';
  via?: 'query' | 'parse' | 'execute' | 'function-call';
  /** Prepared statement name (PostgreSQL) or id (MySQL). */
  statement?: string;
  fingerprint: string;
  category: Category;
  /** `select`, `drop table`, ... */
  kind?: string;
  /** The statement with its literals masked (Statement.masked); redacted again by `opts.redact`. */
  sql: string;
  /** Tables the statement names. */
  objects?: string[];
  action: Action;
  /** The policy rule that decided; null: the policy's default. */
  rule?: RuleRef | null;
  /** Set when action is hold. */
  requestId?: string;
  identity?: AuditIdentity;
}

/** A held query: a request for a reviewer. */
export interface HoldEvent extends SessionRef {
  type: 'hold';
  requestId: string;
  identity: AuditIdentity;
  /** The strictest category of the query's statements. */
  category: Category;
  /** Fingerprints of the query's statements, in order. */
  fingerprints: string[];
  /** The whole query, literals masked. */
  sql: string;
  rule?: RuleRef | null;
  /** ISO 8601: when the request expires unless decided. */
  expiresAt?: string;
}

/** How a request ended. Written and flushed (writeAndFlush) before an approved statement is sent. */
export interface DecisionEvent {
  type: 'decision';
  requestId: string;
  session?: string;
  listener?: string;
  status: 'approved' | 'denied' | 'expired' | 'cancelled';
  reviewer?: string;
  reason?: string;
  /** ISO 8601 end of the approval window the approval opened. */
  windowUntil?: string;
}

/** A statement ran: what came back. */
export interface ExecuteEvent extends SessionRef {
  type: 'execute';
  requestId?: string;
  fingerprint?: string;
  /** Rows returned or affected. */
  rows: number;
  /** Masked cells by masking rule (or detector kind): `{ "columns[0]": 12, "detect:email": 3 }`. */
  maskedCells?: Record<string, number>;
  durationMs: number;
  /** Command tag (PostgreSQL CommandComplete), e.g. `SELECT 5`. */
  command?: string;
  /** The statement failed: SQLSTATE or MySQL errno, and the message. */
  error?: string;
}

export interface SessionCloseEvent extends SessionRef {
  type: 'session.close';
  durationMs?: number;
  /** Statements the session sent. */
  statements?: number;
  /** `client closed`, `server closed`, `error: ...`, `shutdown`. */
  reason?: string;
}

export type AuditEvent = SessionOpenEvent | StatementEvent | HoldEvent | DecisionEvent | ExecuteEvent | SessionCloseEvent;
export type AuditEventType = AuditEvent['type'];

/**
 * Written by the log itself, never by callers: `count` events could not be kept while the disk failed
 * (each was logged in full at error level instead), between `since` and `until` (ISO 8601).
 */
export interface DroppedEvent {
  type: 'audit.dropped';
  count: number;
  since: string;
  until: string;
}

/** A line as verify and readers see it. */
export type AuditLine = (AuditEvent | DroppedEvent) & { ts: string; seq: number; prev: string; hash: string };

/** Top-level keys in line order; keys not listed follow in sorted order, then prev and hash. */
const keyOrder = [
  'session', 'listener', 'protocol', 'tls', 'identity', 'requestId', 'via', 'statement', 'status', 'reviewer',
  'fingerprint', 'fingerprints', 'category', 'kind', 'objects', 'action', 'rule', 'reason', 'expiresAt',
  'windowUntil', 'sql', 'rows', 'maskedCells', 'durationMs', 'statements', 'command', 'error', 'count', 'since', 'until',
] as const;
const known = new Set<string>([...keyOrder, 'type', 'ts', 'seq', 'prev', 'hash']);

/**
 * The keys each event type has, in line order: serializeEvent looks up these rather than all of keyOrder (a
 * lookup by a variable key on events of many shapes is a slow, megamorphic one; a point select writes two lines).
 */
const typeKeys: Record<(AuditEvent | DroppedEvent)['type'], readonly (typeof keyOrder)[number][]> = {
  'session.open': ['session', 'listener', 'protocol', 'tls', 'identity'],
  statement: ['session', 'listener', 'identity', 'requestId', 'via', 'statement', 'fingerprint', 'category', 'kind', 'objects', 'action', 'rule', 'sql'],
  hold: ['session', 'listener', 'identity', 'requestId', 'fingerprints', 'category', 'rule', 'expiresAt', 'sql'],
  decision: ['session', 'listener', 'requestId', 'status', 'reviewer', 'reason', 'windowUntil'],
  execute: ['session', 'listener', 'requestId', 'fingerprint', 'rows', 'maskedCells', 'durationMs', 'command', 'error'],
  'session.close': ['session', 'listener', 'reason', 'durationMs', 'statements'],
  'audit.dropped': ['count', 'since', 'until'],
};
for (const [type, keys] of Object.entries(typeKeys)) {
  // Each list must follow keyOrder, or a line's key order would depend on which list wrote it.
  const ranks = keys.map((k) => keyOrder.indexOf(k));
  if (ranks.some((r, i) => r < 0 || (i > 0 && r <= ranks[i - 1]!))) throw new Error(`audit: typeKeys.${type} is not in keyOrder's order`);
}
const typeKnown = new Map(Object.entries(typeKeys).map(([t, keys]) => [t, new Set<string>([...keys, 'type', 'ts', 'seq', 'prev', 'hash'])]));

/**
 * JSON.stringify of a string, without its call for the strings an audit line is mostly made of (ids, names,
 * categories, SQL): a string with nothing to escape is its characters in quotes. Anything to escape (a quote,
 * a backslash, a control character, a surrogate, which JSON.stringify writes as \u escapes when lone) takes
 * JSON.stringify.
 */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return '"' + s + '"';
}

/** JSON.stringify of a number, without its call: the same digits (both are Number#toString), null when not finite. */
export function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/** JSON with object keys sorted at every depth; undefined members left out. */
function canonicalValue(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'string') return jsonString(value);
    if (typeof value === 'number') return jsonNumber(value);
    if (typeof value === 'bigint') return value.toString();
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalValue(value[i]);
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  let out = '{';
  for (const k of Object.keys(obj).sort()) {
    if (obj[k] === undefined) continue;
    out += (out.length > 1 ? ',' : '') + JSON.stringify(k) + ':' + canonicalValue(obj[k]);
  }
  return out + '}';
}

export interface SerializeOptions {
  redact?: (text: string) => string;
  /** Longer `sql` is cut, saying how much was cut. */
  maxSqlChars: number;
}

/** The text of a line before and after its seq number: `{"ts":"…","seq":` and `,"type":"…",…` (no prev, no `}`). */
export interface SerializedEvent {
  pre: string;
  post: string;
}

// One pre per timestamp: lines written in the same millisecond share it (and its flattening, once).
let lastTs = '';
let lastPre = '';

/** Throws only for values JSON cannot hold (cycles). */
export function serializeEvent(event: AuditEvent | DroppedEvent, ts: string, opts: SerializeOptions): SerializedEvent {
  const fields = event as unknown as Record<string, unknown>;
  let post = ',"type":' + jsonString(event.type);
  const keys = typeKeys[event.type] ?? keyOrder;
  const listed = typeKnown.get(event.type) ?? known;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    let v = fields[k];
    if (v === undefined) continue;
    if (k === 'sql') v = sqlText(String(v), opts);
    post += ',"' + k + '":' + canonicalValue(v);
  }
  // Keys the type does not have (a caller's mistake, or a field added without adding it above) still go in.
  let extra: string[] | undefined;
  for (const k in fields) if (!listed.has(k) && fields[k] !== undefined) (extra ??= []).push(k);
  if (extra) for (const k of extra.sort()) post += ',' + JSON.stringify(k) + ':' + canonicalValue(fields[k]);
  if (ts !== lastTs) {
    lastTs = ts;
    lastPre = '{"ts":"' + ts + '","seq":';
  }
  return { pre: lastPre, post };
}

function sqlText(sql: string, opts: SerializeOptions): string {
  let text = opts.redact ? opts.redact(sql) : sql;
  if (text.length > opts.maxSqlChars) text = text.slice(0, opts.maxSqlChars) + `…[${text.length - opts.maxSqlChars} more chars]`;
  return text;
}
