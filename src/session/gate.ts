// The gate: one call per statement, protocol-neutral (DESIGN.md "One query's path").
// classify (cached) -> policy -> allow | deny | hold -> broker -> verdict. It knows no protocol: sessions turn
// its verdicts into their own wire behaviour.
import { Classifier, SqlRefusedError, type ClassifyContext, type Statement } from '../classify/index.js';
import { ProxyError } from '../errors.js';
import type { Policy, PolicyDecision } from '../policy/policy.js';
import { describeRule } from '../policy/policy.js';
import type { Broker, Decision, RequestView } from '../approval/broker.js';
import { requesterOf } from '../approval/identity.js';
import { allow, type Gate, type Hold, type StatementRequest, type Verdict } from './hooks.js';

export class AllowAllGate implements Gate {
  check(_req: StatementRequest): Verdict {
    return allow;
  }
}

/** What the gate reports to the audit: every query it judged, and the request when it held it. */
export interface GateObserver {
  judged(req: StatementRequest, statements: readonly Statement[], decision: PolicyDecision, held?: RequestView): void;
}

export interface PolicyGateOptions {
  classifier: Classifier;
  /** The current policy (a reload swaps what this returns). */
  policy: () => Policy;
  broker: Broker;
  /** Where reviewers decide: named in the NOTICE a held client gets. */
  consoleUrl: string;
  observer?: GateObserver;
}

const defaultContexts: Record<'postgres' | 'mysql', ClassifyContext> = {
  postgres: { dialect: 'postgres' },
  // Unknown server: executable comments count as for a current MySQL, sql_mode read both ways.
  mysql: { dialect: 'mysql', serverVersion: 80036, mariadb: false },
};

export class PolicyGate implements Gate {
  constructor(private readonly opts: PolicyGateOptions) {}

  check(req: StatementRequest): Verdict | Hold {
    const statements = this.classify(req);
    if (statements === null) return { action: 'deny', error: new ProxyError('sqlRefused') };
    const decision = this.opts.policy().decide(statements, req.session);
    if (decision.action !== 'hold' || req.via === 'parse') this.opts.observer?.judged(req, statements, decision);
    switch (decision.action) {
      case 'allow':
        return allow;
      case 'deny':
        return {
          action: 'deny',
          error: new ProxyError('denied', undefined, `sqlwarden: denied by policy: ${describeRule(decision)}`),
        };
      case 'hold':
        // Preparing a statement runs nothing: each execution of it is what waits for a reviewer.
        if (req.via === 'parse') return allow;
        return this.hold(req, statements, decision);
    }
  }

  /** null: the text is refused outright (a NUL byte). Anything that cannot be read is `unknown`: fail closed. */
  private classify(req: StatementRequest): readonly Statement[] | null {
    if (req.via === 'function-call') return [unknownStatement('function call', 'PostgreSQL fast-path function call: no SQL to read')];
    try {
      return this.opts.classifier.classify(req.sql, req.context ?? defaultContexts[req.session.protocol]);
    } catch (err) {
      if (err instanceof SqlRefusedError) return null;
      return [unknownStatement(req.sql, `classifier failed: ${(err as Error).message}`)];
    }
  }

  private hold(req: StatementRequest, statements: readonly Statement[], decision: PolicyDecision): Verdict | Hold {
    const requester = requesterOf(req.session);
    const { broker } = this.opts;
    if (broker.coveredByWindow(statements.map((s) => s.fingerprint), requester)) {
      this.opts.observer?.judged(req, statements, { ...decision, action: 'allow' });
      return allow;
    }
    const held = broker.create({ requester, sql: req.sql, statements, rule: decision.rule, signal: req.session.signal });
    this.opts.observer?.judged(req, statements, decision, held.view);
    const id = held.id;
    return {
      action: 'hold',
      requestId: id,
      notice: `sqlwarden: ${decision.statement?.category ?? 'statement'} held for approval (request ${id}); decide at ${this.opts.consoleUrl}/#${id}`,
      verdict: held.verdict.then((d) => verdictOf(d, id)),
      cancel: (reason) => held.cancel(reason === 'client-cancel' ? 'cancelled by the client' : 'client disconnected'),
    };
  }
}

function verdictOf(d: Decision, id: string): Verdict {
  switch (d.status) {
    case 'approved':
      return allow;
    case 'denied':
      return { action: 'deny', error: new ProxyError('denied', undefined, `sqlwarden: denied by ${d.reviewer}: ${d.reason} (request ${id})`) };
    case 'expired':
      return { action: 'deny', error: new ProxyError('expired', undefined, `sqlwarden: no decision in time, request expired (request ${id})`) };
    case 'cancelled':
      return { action: 'deny', error: new ProxyError('cancelled', undefined, `sqlwarden: ${d.reason} (request ${id})`) };
  }
}

function unknownStatement(text: string, reason: string): Statement {
  return { category: 'unknown', kind: 'unknown', text, masked: text, fingerprint: '', objects: [], reason };
}
