// Message type bytes and startup codes of the PostgreSQL protocol, version 3
// (PostgreSQL documentation, "Message Formats").

export const enum Front {
  Bind = 0x42, // B
  Close = 0x43, // C
  CopyData = 0x64, // d
  CopyDone = 0x63, // c
  CopyFail = 0x66, // f
  Describe = 0x44, // D
  Execute = 0x45, // E
  Flush = 0x48, // H
  FunctionCall = 0x46, // F
  Parse = 0x50, // P
  Password = 0x70, // p: PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse
  Query = 0x51, // Q
  Sync = 0x53, // S
  Terminate = 0x58, // X
}

export const enum Back {
  Authentication = 0x52, // R
  BackendKeyData = 0x4b, // K
  BindComplete = 0x32, // 2
  CloseComplete = 0x33, // 3
  CommandComplete = 0x43, // C
  CopyData = 0x64, // d
  CopyDone = 0x63, // c
  CopyInResponse = 0x47, // G
  CopyOutResponse = 0x48, // H
  CopyBothResponse = 0x57, // W
  DataRow = 0x44, // D
  EmptyQueryResponse = 0x49, // I
  ErrorResponse = 0x45, // E
  NegotiateProtocolVersion = 0x76, // v
  NoData = 0x6e, // n
  NoticeResponse = 0x4e, // N
  NotificationResponse = 0x41, // A
  ParameterDescription = 0x74, // t
  ParameterStatus = 0x53, // S
  ParseComplete = 0x31, // 1
  PortalSuspended = 0x73, // s
  ReadyForQuery = 0x5a, // Z
  RowDescription = 0x54, // T
}

/** Codes in the first int32 of an untyped startup-phase message. */
export const StartupCode = {
  /** Protocol 3.0: major 3 in the high 16 bits, minor in the low 16. */
  protocol3: 196608,
  sslRequest: 80877103,
  gssencRequest: 80877104,
  cancelRequest: 80877102,
} as const;

/** Authentication request codes (the int32 after an 'R'). */
export const AuthCode = {
  ok: 0,
  kerberosV5: 2,
  cleartextPassword: 3,
  md5Password: 5,
  gss: 7,
  gssContinue: 8,
  sspi: 9,
  sasl: 10,
  saslContinue: 11,
  saslFinal: 12,
} as const;

/** Largest startup packet the server accepts (src/include/libpq/pqcomm.h, MAX_STARTUP_PACKET_LENGTH). */
export const maxStartupPacket = 10000;
