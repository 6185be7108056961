// The gate: one call per statement, protocol-neutral. Classification, policy and holds plug in here
// (classify -> policy -> hold -> broker); until then every statement is allowed.
import { allow, type Gate, type StatementRequest, type Verdict } from './hooks.js';

export class AllowAllGate implements Gate {
  check(_req: StatementRequest): Verdict {
    return allow;
  }
}
