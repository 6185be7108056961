// Which column types hold text, so detectors scan them (masking/rules.ts `MaskColumn.textLike`). Values of
// other types (numbers, dates, binary) cannot hold an e-mail or a key in a form worth scanning.

/** PostgreSQL built-in type OIDs whose text form is free text (pg_type.dat). citext has no fixed OID. */
export const postgresTextTypes: ReadonlySet<number> = new Set([
  25, // text
  1043, // varchar
  1042, // bpchar
  19, // name
  18, // "char"
  114, // json
  3802, // jsonb
  142, // xml
  705, // unknown (string literals)
  1009, // text[]
  1015, // varchar[]
  199, // json[]
  3807, // jsonb[]
]);

export function isPostgresTextType(oid: number): boolean {
  return postgresTextTypes.has(oid);
}

/** MySQL column types (include/field_types.h) that carry strings; BLOB types also carry TEXT columns. */
export const MysqlType = {
  VARCHAR: 15,
  JSON: 245,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  VAR_STRING: 253,
  STRING: 254,
} as const;

const mysqlStringTypes: ReadonlySet<number> = new Set(Object.values(MysqlType));

/** The `binary` character set: VARBINARY, BINARY and BLOB columns carry it and hold bytes, not text. */
export const MYSQL_BINARY_CHARSET = 63;

/**
 * A MySQL column holds text: a string type whose character set (when known) is not `binary`. JSON is text
 * even though MySQL describes it with the binary character set.
 */
export function isMysqlTextType(type: number, characterSet?: number): boolean {
  return type === MysqlType.JSON || (mysqlStringTypes.has(type) && characterSet !== MYSQL_BINARY_CHARSET);
}
