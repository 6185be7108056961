// One catalog of the errors sqlwarden itself reports to clients: code -> message, SQLSTATE, MySQL errno.
// Sessions never invent codes inline; they name an entry here.

export interface CatalogEntry {
  /** SQLSTATE sent in a PostgreSQL ErrorResponse and a MySQL ERR packet. */
  sqlstate: string;
  /** MySQL error number. */
  errno: number;
  /** SQLSTATE in a MySQL ERR packet (MySQL's own mapping differs from PostgreSQL's codes). */
  mysqlState: string;
  /** Message prefix; the session appends the details. */
  message: string;
}

export const errorCatalog = {
  upstreamUnreachable: { sqlstate: '08001', errno: 2003, mysqlState: 'HY000', message: 'sqlwarden: cannot connect to the database server' },
  upstreamLost: { sqlstate: '08006', errno: 2013, mysqlState: 'HY000', message: 'sqlwarden: lost the connection to the database server' },
  upstreamTlsRequired: { sqlstate: '08001', errno: 2026, mysqlState: 'HY000', message: 'sqlwarden: the database server does not offer TLS, but upstreamTls requires it' },
  protocolViolation: { sqlstate: '08P01', errno: 1043, mysqlState: '08S01', message: 'sqlwarden: protocol violation' },
  messageTooLarge: { sqlstate: '08P01', errno: 1153, mysqlState: '08S01', message: 'sqlwarden: message exceeds maxMessageBytes' },
  unsupportedCommand: { sqlstate: '0A000', errno: 1047, mysqlState: '08S01', message: 'sqlwarden: command not supported' },
  unsupportedProtocol: { sqlstate: '08P01', errno: 1043, mysqlState: '08S01', message: 'sqlwarden: unsupported protocol version' },
  tlsNotConfigured: { sqlstate: '08P01', errno: 1043, mysqlState: '08S01', message: 'sqlwarden: this listener does not accept TLS' },
  sqlRefused: { sqlstate: '22021', errno: 1300, mysqlState: 'HY000', message: 'sqlwarden: SQL text with a NUL byte is refused' },
  denied: { sqlstate: '42501', errno: 1227, mysqlState: '42000', message: 'sqlwarden: denied' },
  expired: { sqlstate: '57014', errno: 1317, mysqlState: '70100', message: 'sqlwarden: approval timed out' },
  cancelled: { sqlstate: '57014', errno: 1317, mysqlState: '70100', message: 'sqlwarden: cancelled while held for approval' },
  shuttingDown: { sqlstate: '57P01', errno: 1053, mysqlState: '08S01', message: 'sqlwarden: the proxy is shutting down' },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof errorCatalog;

/** An error a session turns into a protocol error for the client; `detail` is appended to the message. */
export class ProxyError extends Error {
  override name = 'ProxyError';
  constructor(
    readonly code: ErrorCode,
    readonly detail?: string,
    /** The whole message, where a contract fixes its wording (e.g. a reviewer's denial). */
    message?: string,
  ) {
    super(message ?? (detail ? `${errorCatalog[code].message}: ${detail}` : errorCatalog[code].message));
  }
  get entry(): CatalogEntry {
    return errorCatalog[this.code];
  }
}
