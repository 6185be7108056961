// Constants of the MySQL/MariaDB client/server protocol (MySQL "Client/Server Protocol" documentation,
// MariaDB "Client/Server Protocol" pages). Names follow the protocol documents, minus their prefixes.

/** Largest payload of one physical packet; a payload this long continues in the next packet. */
export const maxPacketPayload = 0xffffff;

/** Command bytes: the first payload byte of a client packet in the command phase. */
export const enum Command {
  Sleep = 0x00,
  Quit = 0x01,
  InitDb = 0x02,
  Query = 0x03,
  FieldList = 0x04,
  CreateDb = 0x05,
  DropDb = 0x06,
  Refresh = 0x07,
  Shutdown = 0x08,
  Statistics = 0x09,
  ProcessInfo = 0x0a,
  Connect = 0x0b,
  ProcessKill = 0x0c,
  Debug = 0x0d,
  Ping = 0x0e,
  Time = 0x0f,
  DelayedInsert = 0x10,
  ChangeUser = 0x11,
  BinlogDump = 0x12,
  TableDump = 0x13,
  ConnectOut = 0x14,
  RegisterSlave = 0x15,
  StmtPrepare = 0x16,
  StmtExecute = 0x17,
  StmtSendLongData = 0x18,
  StmtClose = 0x19,
  StmtReset = 0x1a,
  SetOption = 0x1b,
  StmtFetch = 0x1c,
  Daemon = 0x1d,
  BinlogDumpGtid = 0x1e,
  ResetConnection = 0x1f,
  /** MariaDB: array binding (MARIADB_CLIENT_STMT_BULK_OPERATIONS). */
  StmtBulkExecute = 0xfa,
  /** MariaDB 10.2 to 10.5 (MARIADB_CLIENT_COM_MULTI). */
  Multi = 0xfe,
}

/** First payload byte of the generic server packets. */
export const enum Header {
  Ok = 0x00,
  /** AuthMoreData during authentication. */
  MoreData = 0x01,
  /** MySQL 8.0.27 AuthNextFactor during authentication. */
  NextFactor = 0x02,
  /** NULL in a text row; LOCAL INFILE request as the first packet of a COM_QUERY response. */
  LocalInfile = 0xfb,
  /** EOF, OK with 0xFE header (CLIENT_DEPRECATE_EOF), or auth switch during authentication. */
  Eof = 0xfe,
  Err = 0xff,
}

/** Capability flags, lower 32 bits (MySQL include/mysql_com.h). */
export const Cap = {
  /** CLIENT_LONG_PASSWORD; MariaDB servers clear it to say "MariaDB extended capabilities follow". */
  Mysql: 1 << 0,
  FoundRows: 1 << 1,
  LongFlag: 1 << 2,
  ConnectWithDb: 1 << 3,
  NoSchema: 1 << 4,
  Compress: 1 << 5,
  Odbc: 1 << 6,
  LocalFiles: 1 << 7,
  IgnoreSpace: 1 << 8,
  Protocol41: 1 << 9,
  Interactive: 1 << 10,
  Ssl: 1 << 11,
  IgnoreSigpipe: 1 << 12,
  Transactions: 1 << 13,
  Reserved: 1 << 14,
  SecureConnection: 1 << 15,
  MultiStatements: 1 << 16,
  MultiResults: 1 << 17,
  PsMultiResults: 1 << 18,
  PluginAuth: 1 << 19,
  ConnectAttrs: 1 << 20,
  PluginAuthLenencData: 1 << 21,
  CanHandleExpiredPasswords: 1 << 22,
  SessionTrack: 1 << 23,
  DeprecateEof: 1 << 24,
  OptionalResultsetMetadata: 1 << 25,
  ZstdCompression: 1 << 26,
  QueryAttributes: 1 << 27,
  MultiFactorAuthentication: 1 << 28,
  CapabilityExtension: 1 << 29,
  SslVerifyServerCert: 1 << 30,
  RememberOptions: 2 ** 31,
} as const;

/** MariaDB extended capabilities (the capability bits 32 and up, sent in otherwise reserved bytes). */
export const MariaCap = {
  Progress: 1 << 0,
  ComMulti: 1 << 1,
  StmtBulkOperations: 1 << 2,
  ExtendedMetadata: 1 << 3,
  CacheMetadata: 1 << 4,
  BulkUnitResults: 1 << 5,
} as const;

/** Server status flags (OK and EOF packets). */
export const Status = {
  InTrans: 0x0001,
  Autocommit: 0x0002,
  MoreResultsExist: 0x0008,
  NoGoodIndexUsed: 0x0010,
  NoIndexUsed: 0x0020,
  CursorExists: 0x0040,
  LastRowSent: 0x0080,
  DbDropped: 0x0100,
  NoBackslashEscapes: 0x0200,
  MetadataChanged: 0x0400,
  QueryWasSlow: 0x0800,
  PsOutParams: 0x1000,
  InTransReadonly: 0x2000,
  SessionStateChanged: 0x4000,
} as const;

/** Column types (enum_field_types). */
export const enum ColumnType {
  Decimal = 0x00,
  Tiny = 0x01,
  Short = 0x02,
  Long = 0x03,
  Float = 0x04,
  Double = 0x05,
  Null = 0x06,
  Timestamp = 0x07,
  LongLong = 0x08,
  Int24 = 0x09,
  Date = 0x0a,
  Time = 0x0b,
  DateTime = 0x0c,
  Year = 0x0d,
  NewDate = 0x0e,
  VarChar = 0x0f,
  Bit = 0x10,
  Timestamp2 = 0x11,
  DateTime2 = 0x12,
  Time2 = 0x13,
  Json = 0xf5,
  NewDecimal = 0xf6,
  Enum = 0xf7,
  Set = 0xf8,
  TinyBlob = 0xf9,
  MediumBlob = 0xfa,
  LongBlob = 0xfb,
  Blob = 0xfc,
  VarString = 0xfd,
  String = 0xfe,
  Geometry = 0xff,
}

/** Column definition flags. */
export const ColumnFlag = {
  NotNull: 0x0001,
  PrimaryKey: 0x0002,
  UniqueKey: 0x0004,
  MultipleKey: 0x0008,
  Blob: 0x0010,
  Unsigned: 0x0020,
  Zerofill: 0x0040,
  Binary: 0x0080,
  Enum: 0x0100,
  AutoIncrement: 0x0200,
  Timestamp: 0x0400,
  Set: 0x0800,
} as const;

/** COM_STMT_EXECUTE flags: any cursor type makes the server answer with metadata only, rows come by COM_STMT_FETCH. */
export const cursorTypeMask = 0x07;

/** The ERR packet error code of a MariaDB progress report: not an error, more of the response follows. */
export const progressReportCode = 0xffff;

/** caching_sha2_password AuthMoreData bodies and the client's public-key request. */
export const Sha2 = {
  requestPublicKey: 0x02,
  fastAuthSuccess: 0x03,
  performFullAuthentication: 0x04,
} as const;

/** Charset number of utf8mb4_general_ci, used for packets sqlwarden builds itself. */
export const utf8mb4GeneralCi = 45;

const commandNames: Record<number, string> = {
  0x00: 'COM_SLEEP', 0x01: 'COM_QUIT', 0x02: 'COM_INIT_DB', 0x03: 'COM_QUERY', 0x04: 'COM_FIELD_LIST', 0x05: 'COM_CREATE_DB',
  0x06: 'COM_DROP_DB', 0x07: 'COM_REFRESH', 0x08: 'COM_SHUTDOWN', 0x09: 'COM_STATISTICS', 0x0a: 'COM_PROCESS_INFO', 0x0b: 'COM_CONNECT',
  0x0c: 'COM_PROCESS_KILL', 0x0d: 'COM_DEBUG', 0x0e: 'COM_PING', 0x0f: 'COM_TIME', 0x10: 'COM_DELAYED_INSERT', 0x11: 'COM_CHANGE_USER',
  0x12: 'COM_BINLOG_DUMP', 0x13: 'COM_TABLE_DUMP', 0x14: 'COM_CONNECT_OUT', 0x15: 'COM_REGISTER_SLAVE', 0x16: 'COM_STMT_PREPARE',
  0x17: 'COM_STMT_EXECUTE', 0x18: 'COM_STMT_SEND_LONG_DATA', 0x19: 'COM_STMT_CLOSE', 0x1a: 'COM_STMT_RESET', 0x1b: 'COM_SET_OPTION',
  0x1c: 'COM_STMT_FETCH', 0x1d: 'COM_DAEMON', 0x1e: 'COM_BINLOG_DUMP_GTID', 0x1f: 'COM_RESET_CONNECTION', 0xfa: 'COM_STMT_BULK_EXECUTE',
  0xfe: 'COM_MULTI',
};

export function commandName(code: number): string {
  return commandNames[code] ?? `command 0x${code.toString(16).padStart(2, '0')}`;
}

/** Kinds of session state change in an OK packet (SESSION_TRACK). */
export const SessionTrack = {
  systemVariables: 0x00,
  schema: 0x01,
  stateChange: 0x02,
  gtids: 0x03,
  transactionCharacteristics: 0x04,
  transactionState: 0x05,
} as const;

/**
 * Character set of a collation id as sent in the handshake (MySQL and MariaDB share ids below 256; MySQL 8's
 * utf8mb4_0900 family fills 255 and up, MariaDB 11's UCA 14 collations start at 2048). Null for the rest:
 * unknown is not guessed, because multibyte charsets such as gbk can hide a quote from a UTF-8 reading.
 */
export function charsetOfCollation(id: number): string | null {
  if (id === 45 || id === 46 || (id >= 224 && id <= 247) || (id >= 255 && id <= 323)) return 'utf8mb4';
  if (id === 33 || id === 83 || (id >= 192 && id <= 215) || id === 76) return 'utf8mb3';
  if ([5, 8, 15, 31, 47, 48, 49, 94].includes(id)) return 'latin1';
  if (id === 11 || id === 65) return 'ascii';
  if (id === 63) return 'binary';
  if (id === 28 || id === 87) return 'gbk';
  if (id === 1 || id === 84) return 'big5';
  if (id === 13 || id === 88) return 'sjis';
  if (id === 95 || id === 96) return 'cp932';
  if (id >= 248 && id <= 250) return 'gb18030';
  return null;
}

/** Server version as executable comments count it: "8.0.36" -> 80036, "5.5.5-10.11.6-MariaDB" -> 101106. */
export function versionNumber(serverVersion: string): number {
  const v = serverVersion.startsWith('5.5.5-') ? serverVersion.slice(6) : serverVersion;
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
  return m ? Number(m[1]) * 10000 + Number(m[2]) * 100 + Number(m[3]) : 0;
}
