// Which column types the detectors scan.
import { describe, expect, it } from 'vitest';
import { isMysqlTextType, isPostgresTextType, MysqlType, MYSQL_BINARY_CHARSET } from '../../../src/masking/types.js';

describe('text-like column types', () => {
  it.each([25, 1043, 1042, 19, 114, 3802, 142, 705])('scans PostgreSQL type %i', (oid) => {
    expect(isPostgresTextType(oid)).toBe(true);
  });
  it.each([23, 20, 1700, 16, 1082, 1184, 17, 2950])('does not scan PostgreSQL type %i', (oid) => {
    expect(isPostgresTextType(oid)).toBe(false);
  });
  it('scans MySQL strings and TEXT, not binary strings and BLOBs', () => {
    expect(isMysqlTextType(MysqlType.VAR_STRING, 255)).toBe(true);
    expect(isMysqlTextType(MysqlType.BLOB, 45)).toBe(true); // TEXT
    expect(isMysqlTextType(MysqlType.STRING)).toBe(true);
    expect(isMysqlTextType(MysqlType.VAR_STRING, MYSQL_BINARY_CHARSET)).toBe(false); // VARBINARY
    expect(isMysqlTextType(MysqlType.BLOB, MYSQL_BINARY_CHARSET)).toBe(false);
    expect(isMysqlTextType(MysqlType.JSON, MYSQL_BINARY_CHARSET)).toBe(true);
    expect(isMysqlTextType(3 /* LONG */, 63)).toBe(false);
    expect(isMysqlTextType(12 /* DATETIME */)).toBe(false);
  });
});
