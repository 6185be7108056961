import { describe, expect, it } from 'vitest';
import { redactSql } from '../../../src/audit/sql-redact.js';

describe('redactSql', () => {
  it('replaces values the detectors find, and leaves text without them as it is', () => {
    expect(redactSql("INSERT INTO t VALUES ('jane.doe@example.com', '4111 1111 1111 1111')")).toBe("INSERT INTO t VALUES ('****', '****')");
    expect(redactSql('SELECT abalance FROM pgbench_accounts WHERE aid = $1')).toBe('SELECT abalance FROM pgbench_accounts WHERE aid = $1');
    expect(redactSql('SELECT * FROM "ünïcode" WHERE x = ?')).toBe('SELECT * FROM "ünïcode" WHERE x = ?');
  });

  it('answers the same for a text seen before, for long texts, and past the cache bound', () => {
    const sql = "UPDATE users SET email = 'a.b@example.org' WHERE id = 1";
    const first = redactSql(sql);
    expect(first).toBe("UPDATE users SET email = '****' WHERE id = 1");
    expect(redactSql(sql)).toBe(first);
    const long = `SELECT '${'x'.repeat(5000)}', 'jane@example.com'`;
    expect(redactSql(long)).toBe(`SELECT '${'x'.repeat(5000)}', '****'`);
    for (let i = 0; i < 3000; i++) {
      expect(redactSql(`SELECT ${i}, 'u${i}@example.com'`)).toBe(`SELECT ${i}, '****'`);
      expect(redactSql(`SELECT ${i}`)).toBe(`SELECT ${i}`);
    }
    expect(redactSql(sql)).toBe(first);
  });
});
