// The classifier's API: statement boundaries and texts, fingerprints, literal masking, objects, the
// cache, the session context helpers and the CLI form.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Classifier,
  SqlRefusedError,
  classify,
  classifyForCli,
  contextAfter,
  loadClassifier,
  maskLiterals,
  parseMysqlServerVersion,
  type MysqlContext,
  type PostgresContext,
} from '../../../src/classify/index.js';

const pg: PostgresContext = { dialect: 'postgres' };
const my: MysqlContext = { dialect: 'mysql', serverVersion: 101106, mariadb: true, noBackslashEscapes: false, ansiQuotes: false };
const fp = (sql: string, ctx: PostgresContext | MysqlContext = pg) => classify(sql, ctx).map((s) => s.fingerprint);

beforeAll(async () => {
  await loadClassifier();
});

describe('classify', () => {
  it('refuses a NUL byte in either dialect', () => {
    expect(() => classify('SELECT 1\0; DROP TABLE t', pg)).toThrow(SqlRefusedError);
    try {
      classify("SELECT '\0'", my);
      expect.unreachable();
    } catch (e) {
      expect((e as SqlRefusedError).code).toBe('nul-byte');
    }
  });

  it('finds no statement in blank or comment-only text', () => {
    expect(classify('  \n', pg)).toEqual([]);
    expect(classify('-- nothing\n/* here */', pg)).toEqual([]);
    expect(classify('# nothing\n/* here */ ;;', my)).toEqual([]);
  });

  it('cuts PostgreSQL statements at UTF-8 byte offsets, not string indexes', () => {
    const st = classify("SELECT 'é☕'; /* ü */ SELECT 'ü', 2 ;  ", pg);
    expect(st.map((s) => s.text)).toEqual(["SELECT 'é☕'", "/* ü */ SELECT 'ü', 2"]);
    expect(st.map((s) => s.masked)).toEqual(['SELECT ?', '/* ü */ SELECT ?, ?']);
  });

  it('keeps each MySQL statement text as sent, executable comment markers included', () => {
    const st = classify("/*!40101 SET NAMES utf8mb4 */; INSERT INTO t VALUES (1,'a') ;", my);
    expect(st.map((s) => [s.category, s.text])).toEqual([
      ['session', '/*!40101 SET NAMES utf8mb4 */'],
      ['write', "INSERT INTO t VALUES (1,'a')"],
    ]);
  });

  it('classifies a whole PostgreSQL text that does not parse as one unknown statement', () => {
    const st = classify('SELECT 1; DROP TABLE t; SELEC 2', pg);
    expect(st).toHaveLength(1);
    expect(st[0]).toMatchObject({ category: 'unknown', kind: 'unparsed' });
    expect(st[0]!.reason).toMatch(/^parse error: syntax error/);
  });

  it('fails closed on a backslash in a plain string when standard_conforming_strings is off', () => {
    const off: PostgresContext = { dialect: 'postgres', standardConformingStrings: false };
    expect(classify("SELECT 'a\\'; DROP TABLE t; --'", off).map((s) => s.category)).toEqual(['unknown']);
    expect(classify("SELECT E'a\\'' ", off).map((s) => s.category)).toEqual(['read']);
    expect(classify("SELECT 'a\\'; DROP TABLE t; --'", pg).map((s) => s.category)).toEqual(['read', 'ddl']);
  });

  it('names the tables a statement touches, schema-qualified when written so, without CTE names', () => {
    expect(classify('WITH x AS (SELECT * FROM public.users) SELECT * FROM x JOIN orders o ON true', pg)[0]!.objects.sort()).toEqual(['orders', 'public.users']);
    expect(classify('DROP TABLE a, s.b', pg)[0]!.objects).toEqual(['a', 's.b']);
    expect(classify('SELECT * FROM `db`.`users` u JOIN orders o ON o.uid = u.id', my)[0]!.objects).toEqual(['db.users', 'orders']);
    expect(classify('DROP TABLE IF EXISTS `a`, b', my)[0]!.objects).toEqual(['a', 'b']);
  });

  it('reads a MySQL text both ways when the sql_mode is not known, and accepts it when both agree', () => {
    const unknownMode: MysqlContext = { dialect: 'mysql', serverVersion: 101106, mariadb: true };
    expect(classify("SELECT 'C:\\dir', \"x\" FROM t", unknownMode).map((s) => s.category)).toEqual(['read']);
    // With NO_BACKSLASH_ESCAPES the server would read an unterminated string here: not knowable.
    expect(classify("SELECT 'O\\'Brien' FROM t", unknownMode).map((s) => s.category)).toEqual(['unknown']);
    const st = classify("SELECT 'a\\'; DROP TABLE t; -- '", unknownMode);
    expect(st.map((s) => s.category)).toEqual(['unknown']);
    expect(st[0]!.reason).toMatch(/sql_mode/);
  });

  it('follows SET sql_mode inside a multi-statement MySQL text, and the mysqldump save/restore of it', () => {
    const sql = "SET @OLD=@@SQL_MODE, SQL_MODE='ANSI_QUOTES'; SELECT \"a\\\"; DROP TABLE t; -- \"\nSET SQL_MODE=@OLD; SELECT \"a\\\"; DROP TABLE u; -- \"";
    expect(classify(sql, my).map((s) => `${s.category}:${s.kind}`)).toEqual([
      'session:set sql_mode', 'read:select', 'ddl:drop table', 'session:set sql_mode', 'read:select',
    ]);
  });
});

describe('fingerprint and masking', () => {
  it('gives the same fingerprint for the same statement with other values', () => {
    expect(fp("SELECT * FROM t WHERE a = 1 AND b = 'x'")).toEqual(fp("select *  from T where A = 42 and B = 'other'"));
    expect(fp('SELECT * FROM t WHERE a = -1')).toEqual(fp('SELECT * FROM t WHERE a = 7'));
    expect(fp("SELECT $x$a$x$, E'b', 1.5e3")).toEqual(fp("SELECT 'z', 'y', 2"));
  });
  it('gives another fingerprint for another statement', () => {
    expect(fp('SELECT a FROM t')).not.toEqual(fp('SELECT b FROM t'));
    expect(fp('SELECT a - 1 FROM t')).not.toEqual(fp('SELECT a FROM t'));
    expect(fp('DELETE FROM t WHERE id = 1')).not.toEqual(fp('DELETE FROM t WHERE id = 1', my));
    expect(fp('SELECT "a" FROM t')).not.toEqual(fp('SELECT "A" FROM t'));
  });
  it('collapses IN lists and repeated VALUES rows', () => {
    expect(fp('SELECT * FROM t WHERE id IN (1)')).toEqual(fp('SELECT * FROM t WHERE id IN (1, 2, 3)'));
    expect(fp("INSERT INTO t VALUES (1, 'a')", my)).toEqual(fp("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')", my));
    expect(fp('INSERT INTO t VALUES (1, 2)', my)).not.toEqual(fp('INSERT INTO t VALUES (1, 2), (3, now())', my));
  });
  it('reads MySQL executable comments as the server does', () => {
    expect(fp('/*!50000 DROP TABLE t */', my)).toEqual(fp('DROP TABLE t', my));
    expect(fp('SELECT 1 /*!99999 + 1 */', my)).toEqual(fp('SELECT 1', my));
  });
  it('masks every literal and nothing else', () => {
    expect(classify("SELECT id, 'x''y', E'\\'', $$b$$, -1.5, B'01', X'ff' FROM t WHERE n = $1", pg)[0]!.masked).toBe(
      'SELECT id, ?, ?, ?, -?, ?, ? FROM t WHERE n = $1',
    );
    expect(classify("SELECT `id`, 'a\\'b', \"c\", 0x41, x'41', @v, ? FROM t # 'comment'", my)[0]!.masked).toBe(
      "SELECT `id`, ?, ?, ?, ?, @v, ? FROM t # 'comment'",
    );
  });
  it('masks a whole text with maskLiterals', () => {
    expect(maskLiterals("SELECT 1; SELECT 'a' -- 'c'", pg)).toBe("SELECT ?; SELECT ? -- 'c'");
    expect(maskLiterals("SELECT 1; /*!50000 SELECT 'a' */", my)).toBe('SELECT ?; /*!50000 SELECT ? */');
  });
});

describe('Classifier (cached)', () => {
  it('returns the same frozen statements for the same text and settings', () => {
    const c = new Classifier({ maxEntries: 10 });
    const a = c.classify('SELECT 1', pg);
    expect(c.classify('SELECT 1', pg)).toBe(a);
    expect(Object.isFrozen(a) && Object.isFrozen(a[0]) && Object.isFrozen(a[0]!.objects)).toBe(true);
    expect(c.cache.hits).toBe(1);
  });
  it('keys on the settings too', () => {
    const c = new Classifier();
    const sql = "SELECT 'a\\'; DROP TABLE t; -- '";
    expect(c.classify(sql, my).map((s) => s.category)).toEqual(['read']);
    expect(c.classify(sql, { ...my, noBackslashEscapes: true }).map((s) => s.category)).toEqual(['read', 'ddl']);
    expect(c.classify(sql, pg).map((s) => s.category)).toEqual(['read', 'ddl']);
    expect(c.cache.size).toBe(3);
  });
  it('parses PostgreSQL texts that differ only in simple literals once, each keeping its own text', () => {
    const c = new Classifier();
    const texts = [
      "  /* report */ SELECT name FROM users WHERE id = 17 AND team = 'red';  SELECT -1.5e3 ; -- done",
      "  /* report */ SELECT name FROM users WHERE id = 123456 AND team = 'a much longer team';  SELECT -2 ; -- done",
      "  /* report */ SELECT name FROM users WHERE id = 0 AND team = '';  SELECT -0.25 ; -- done",
    ];
    for (const sql of texts) expect(c.classify(sql, pg)).toEqual(classify(sql, pg));
    expect(c.shapes.size).toBe(1);
    expect(c.shapes.hits).toBe(2);
    expect(c.classify(texts[1]!, pg).map((s) => s.text)).toEqual(["/* report */ SELECT name FROM users WHERE id = 123456 AND team = 'a much longer team'", 'SELECT -2']);
  });
  it('does not reuse a result a literal value decided, nor one for a literal the lexer could misread', () => {
    const c = new Classifier();
    // set_config's first argument decides: the same shape is grant, then session.
    expect(c.classify("SELECT set_config('role', 'admin', false)", pg)[0]!.category).toBe('grant');
    expect(c.classify("SELECT set_config('work_mem', '64MB', false)", pg)[0]!.category).toBe('session');
    expect(c.classify("SELECT set_config('session_authorization', 'admin', false)", pg)[0]!.category).toBe('grant');
    expect(c.shapes.size).toBe(0);
    // Escapes, doubled quotes and dollar quotes go to the parser every time.
    for (const sql of ["SELECT E'a\\'' ; DROP TABLE t; --'", "SELECT 'it''s'", 'SELECT $$x$$', "SELECT 'a\\'; DROP TABLE t; -- '"]) {
      expect(c.classify(sql, pg)).toEqual(classify(sql, pg));
    }
    expect(c.shapes.size).toBe(0);
    // A text that does not parse is not kept by shape: the next one with other values is parsed too.
    expect(c.classify('SELEC 1', pg)[0]!.category).toBe('unknown');
    expect(c.shapes.size).toBe(0);
  });
  it('keeps texts its shapes answered out of the exact cache unless one comes twice in a row', () => {
    const c = new Classifier();
    // A client that inlines its values: a new text each call. Only the first, which was parsed, is kept whole.
    for (let i = 1; i <= 50; i++) expect(c.classify(`SELECT abalance FROM pgbench_accounts WHERE aid = ${i}`, pg)[0]!.text).toBe(`SELECT abalance FROM pgbench_accounts WHERE aid = ${i}`);
    expect(c.cache.size).toBe(1);
    expect(c.shapes.hits).toBe(49);
    // The same text again right after: now worth an exact entry, and the next one is a hit.
    c.classify('SELECT abalance FROM pgbench_accounts WHERE aid = 50', pg);
    expect(c.cache.size).toBe(2);
    const hits = c.cache.hits;
    c.classify('SELECT abalance FROM pgbench_accounts WHERE aid = 50', pg);
    expect(c.cache.hits).toBe(hits + 1);
    // A text without literals is its own shape, parsed and kept at once.
    c.classify('SELECT abalance FROM pgbench_accounts WHERE aid = $1', pg);
    expect(c.cache.size).toBe(3);
    c.classify('SELECT abalance FROM pgbench_accounts WHERE aid = $1', pg);
    expect(c.cache.hits).toBe(hits + 2);
  });
  it('keeps shapes apart by settings', () => {
    const c = new Classifier();
    c.classify("SELECT 'a'", pg);
    const off = c.classify("SELECT 'b'", { ...pg, standardConformingStrings: false });
    expect(off).toEqual(classify("SELECT 'b'", { ...pg, standardConformingStrings: false }));
    expect(c.shapes.hits).toBe(0);
    expect(c.shapes.size).toBe(2);
  });
  it('stays within its byte bound', () => {
    const c = new Classifier({ maxBytes: 20_000 });
    for (let i = 0; i < 200; i++) c.classify(`SELECT ${i}, '${'x'.repeat(100)}'`, pg);
    expect(c.cache.bytes).toBeLessThanOrEqual(20_000);
    expect(c.cache.size).toBeGreaterThan(0);
  });
});

describe('session context helpers', () => {
  it('follows SET sql_mode and SET NAMES into the next context', () => {
    let ctx = contextAfter(my, classify("SET sql_mode='ANSI_QUOTES,NO_BACKSLASH_ESCAPES'", my));
    expect([ctx.ansiQuotes, ctx.noBackslashEscapes]).toEqual([true, true]);
    ctx = contextAfter(ctx, classify("SET sql_mode=CONCAT(@@sql_mode, ',ANSI')", ctx));
    expect([ctx.ansiQuotes, ctx.noBackslashEscapes]).toEqual([undefined, undefined]);
    ctx = contextAfter(ctx, classify('SET NAMES gbk', ctx));
    expect(ctx.charset).toBe('gbk');
    expect(classify("SELECT '縗'", ctx).map((s) => s.category)).toEqual(['unknown']);
  });
  it('reads server versions from the handshake', () => {
    expect(parseMysqlServerVersion('5.5.5-10.11.6-MariaDB-0+deb12u1')).toEqual({ serverVersion: 101106, mariadb: true });
    expect(parseMysqlServerVersion('8.0.36')).toEqual({ serverVersion: 80036, mariadb: false });
    expect(parseMysqlServerVersion('10.5.19-MariaDB')).toEqual({ serverVersion: 100519, mariadb: true });
    expect(() => parseMysqlServerVersion('garbage')).toThrow(/garbage/);
  });
});

describe('classifyForCli', () => {
  it('prints ddl for a DROP hidden in an executable comment', async () => {
    const lines = await classifyForCli('mysql', '/*!50000 DROP TABLE t */');
    expect(lines).toEqual(['ddl\tdrop table\t/*!50000 DROP TABLE t */']);
  });
  it('prints one line per statement with the reason', async () => {
    expect(await classifyForCli('postgres', "SELECT 1;\nSELECT pg_read_file('x')")).toEqual([
      'read\tselect\tSELECT 1',
      "export\tselect\tSELECT pg_read_file('x') -- calls pg_read_file",
    ]);
  });
});
