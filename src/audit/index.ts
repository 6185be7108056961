// The audit trail (DESIGN.md "Audit (contract)"): log.ts writes it, verify.ts checks it, events.ts says what a
// line holds, chain.ts how lines are chained and where rotated files live.
export { AuditLog, AuditWriteError, type AuditLogOptions, type AuditLogger, type AuditStatus } from './log.js';
export { verifyAudit, runAuditVerify, formatVerify, auditFiles, type VerifyResult, type VerifyProblem } from './verify.js';
export type {
  AuditEvent,
  AuditEventType,
  AuditIdentity,
  AuditLine,
  SessionOpenEvent,
  StatementEvent,
  HoldEvent,
  DecisionEvent,
  ExecuteEvent,
  SessionCloseEvent,
  DroppedEvent,
} from './events.js';
