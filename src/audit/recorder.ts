// Turns what the gate, the broker and the sessions report into audit events. One place decides what an
// audit line of each kind carries, so the parts that report stay free of audit details.
import type { Statement } from '../classify/types.js';
import type { PolicyDecision } from '../policy/policy.js';
import type { Decision, RequestView } from '../approval/broker.js';
import type { SessionEvents, SessionInfo, StatementRequest } from '../session/hooks.js';
import type { GateObserver } from '../session/gate.js';
import { strictness } from '../classify/types.js';
import type { AuditIdentity } from './events.js';
import type { AuditLog } from './log.js';

function identityOf(s: SessionInfo): AuditIdentity {
  return { user: s.user, database: s.database, application: s.application, client: s.client, tlsCommonName: s.tlsCommonName };
}

export class AuditRecorder implements GateObserver, SessionEvents {
  private readonly opened = new Map<string, number>();

  constructor(
    private readonly audit: AuditLog,
    /** Masked cells by rule, for the metrics. */
    private readonly onMasked: (rule: string, cells: number) => void = () => undefined,
  ) {}

  // ---- gate ----

  judged(req: StatementRequest, statements: readonly Statement[], decision: PolicyDecision, held?: RequestView): void {
    const s = req.session;
    for (const st of statements) {
      this.audit.write({
        type: 'statement',
        session: s.id,
        listener: s.listener,
        via: req.via,
        statement: req.statement || undefined,
        fingerprint: st.fingerprint,
        category: st.category,
        kind: st.kind,
        sql: st.masked,
        objects: st.objects.length ? st.objects : undefined,
        action: decision.action,
        rule: decision.rule,
        requestId: held?.id,
      });
    }
    if (!held) return;
    const strictest = statements.reduce((a, st) => (strictness[st.category] > strictness[a] ? st.category : a), statements[0]?.category ?? 'unknown');
    this.audit.write({
      type: 'hold',
      session: s.id,
      listener: s.listener,
      requestId: held.id,
      identity: identityOf(s),
      category: strictest,
      fingerprints: statements.map((st) => st.fingerprint),
      sql: statements.map((st) => st.masked).join('; '),
      rule: decision.rule,
      expiresAt: held.expiresAt,
    });
  }

  // ---- broker: awaited before a held statement is sent ----

  decided = (view: RequestView, d: Decision): Promise<void> =>
    this.audit.writeAndFlush({
      type: 'decision',
      requestId: view.id,
      session: view.session,
      listener: view.listener,
      status: d.status,
      reviewer: 'reviewer' in d ? d.reviewer : undefined,
      reason: 'reason' in d ? d.reason : undefined,
      windowUntil: d.status === 'approved' && d.window ? new Date(d.window.until).toISOString() : undefined,
    });

  // ---- sessions ----

  sessionOpened(s: SessionInfo, tls: boolean): void {
    this.opened.set(s.id, Date.now());
    this.audit.write({ type: 'session.open', session: s.id, listener: s.listener, protocol: s.protocol, identity: identityOf(s), tls: tls || undefined });
  }

  executed(s: SessionInfo, e: { command?: string; rows: number; durationMs: number; error?: string; maskedCells?: Record<string, number> }): void {
    const cells = e.maskedCells && Object.keys(e.maskedCells).length > 0 ? e.maskedCells : undefined;
    if (cells) for (const [rule, n] of Object.entries(cells)) this.onMasked(rule, n);
    this.audit.write({ type: 'execute', session: s.id, listener: s.listener, rows: e.rows, durationMs: e.durationMs, command: e.command, error: e.error, maskedCells: cells });
  }

  sessionClosed(s: SessionInfo, reason: string): void {
    const since = this.opened.get(s.id);
    if (since === undefined) return;
    this.opened.delete(s.id);
    this.audit.write({ type: 'session.close', session: s.id, listener: s.listener, durationMs: Date.now() - since, reason });
  }
}
