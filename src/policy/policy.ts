// The compiled policy (rules/policy.yaml, DESIGN.md "Rules (contract)"): what happens to a query's statements.
//
// API:
//   policy.decide(statements, identity) -> PolicyDecision { action, rule, statement }
//       Each statement goes through the rules in order, first match wins, no match takes `default`. The query
//       takes the strictest action of its statements (deny > hold > allow); `rule` and `statement` are the ones
//       that made it (the first such statement). A query with no statement (blank, comments) runs nothing: allow.
//   describeRule(decision) -> one line for `sqlwarden classify`: "rules[1] (line 14: category: [ddl, export]) -> hold"
//   Policy instances come from load.ts (parsePolicy, loadPolicy); they are immutable, so a reload swaps the reference.
import type { Statement } from '../classify/types.js';
import { clientIp } from './cidr.js';

export type Action = 'allow' | 'hold' | 'deny';

export const actions: readonly Action[] = ['allow', 'hold', 'deny'];

const rank: Readonly<Record<Action, number>> = { allow: 0, hold: 1, deny: 2 };

/** Who asks, as far as rules look: SessionInfo fits. `client` is "host:port" or "[v6]:port". */
export interface PolicyIdentity {
  user?: string;
  database?: string;
  application?: string;
  listener?: string;
  client?: string;
}

/** The rule that decided: its 0-based position in `rules`, its line in the file, and what it says. */
export interface RuleRef {
  readonly index: number;
  readonly line: number;
  readonly description: string;
}

export interface PolicyDecision {
  action: Action;
  /** null: no rule matched, the file's `default` applied (or the query had no statement). */
  rule: RuleRef | null;
  /** The statement that made the action; null for a query with no statement. */
  statement: Statement | null;
}

/** What a rule's conditions see: the identity with the client address parsed once per decide(). */
export interface MatchInput {
  statement: Statement;
  identity: PolicyIdentity;
  readonly clientIp: Uint8Array | undefined;
}

export interface CompiledRule {
  readonly ref: RuleRef;
  readonly action: Action;
  /** Every condition of `when`; a rule with none matches every statement. */
  readonly conditions: ReadonlyArray<(input: MatchInput) => boolean>;
}

/**
 * A MatchInput whose client address is parsed only when a rule asks about it (most policies never do). A class,
 * not an object literal with a getter: defining an accessor on every decide() took ~1.5% of a point select.
 */
class Input implements MatchInput {
  private ip: Uint8Array | undefined | null = null;

  constructor(
    public statement: Statement,
    readonly identity: PolicyIdentity,
  ) {}

  get clientIp(): Uint8Array | undefined {
    if (this.ip === null) this.ip = this.identity.client ? clientIp(this.identity.client) : undefined;
    return this.ip;
  }
}

export class Policy {
  constructor(
    readonly rules: readonly CompiledRule[],
    readonly defaultAction: Action,
    /** Where the rules came from, for log lines and errors. */
    readonly source: string,
  ) {}

  decide(statements: readonly Statement[], identity: PolicyIdentity): PolicyDecision {
    if (statements.length === 0) return { action: 'allow', rule: null, statement: null };
    const input = new Input(statements[0]!, identity);
    let best: PolicyDecision | undefined;
    for (const statement of statements) {
      input.statement = statement;
      const rule = this.ruleFor(input);
      const action = rule ? rule.action : this.defaultAction;
      if (!best || rank[action] > rank[best.action]) {
        best = { action, rule: rule ? rule.ref : null, statement };
        if (action === 'deny') break;
      }
    }
    return best!;
  }

  private ruleFor(input: MatchInput): CompiledRule | undefined {
    for (const rule of this.rules) if (rule.conditions.every((c) => c(input))) return rule;
    return undefined;
  }
}

export function describeRule(decision: Pick<PolicyDecision, 'action' | 'rule'>): string {
  const r = decision.rule;
  if (!r) return `default -> ${decision.action}`;
  return `rules[${r.index}] (line ${r.line}: ${r.description}) -> ${decision.action}`;
}
