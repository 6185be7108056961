// Finding where a derived table or CTE alias is defined in SQL text (mysql-derived.ts): the select the catalog
// describes for it, its column list; strings, comments and names that only look like a definition are not one.
import { describe, expect, it } from 'vitest';
import { findDerivedDefinitions, type DerivedLexMode } from '../../../src/session/mysql-derived.js';
import { mayUse } from '../../../src/session/mysql-commands.js';

const maria: DerivedLexMode = { noBackslashEscapes: false, ansiQuotes: false, serverVersion: 101106, mariadb: true };
const find = (sql: string, alias: string, mode: DerivedLexMode = maria) => findDerivedDefinitions(sql, alias, mode);

describe('findDerivedDefinitions', () => {
  it('finds a derived table, with or without AS, and its column list', () => {
    expect(find('SELECT * FROM (SELECT ssn AS x FROM t) d', 'd')).toEqual([{ select: 'SELECT ssn AS x FROM t' }]);
    expect(find('select * from (select ssn as x from t) as D where x > 1', 'd')).toEqual([{ select: 'select ssn as x from t' }]);
    expect(find('SELECT * FROM (SELECT ssn, note FROM t) d (c1, `c 2`)', 'd')).toEqual([{ select: 'SELECT ssn, note FROM t', columns: ['c1', 'c 2'] }]);
    expect(find('SELECT * FROM (SELECT 1) `we``ird`', 'we`ird')).toEqual([{ select: 'SELECT 1' }]);
    // A parenthesized query inside, and a join partner.
    expect(find('SELECT * FROM ((SELECT a FROM t) UNION (SELECT b FROM u)) d JOIN t ON 1', 'd')).toEqual([{ select: '(SELECT a FROM t) UNION (SELECT b FROM u)' }]);
  });

  it('finds nested definitions in the text given: the outer select holds the inner one', () => {
    const sql = 'SELECT y FROM (SELECT x AS y FROM (SELECT ssn AS x FROM t) a) b';
    const [outer] = find(sql, 'b')!;
    expect(outer).toEqual({ select: 'SELECT x AS y FROM (SELECT ssn AS x FROM t) a' });
    expect(find(outer!.select, 'a')).toEqual([{ select: 'SELECT ssn AS x FROM t' }]);
  });

  it('finds a CTE, its column list, and brings the earlier definitions of its WITH clause along', () => {
    expect(find('WITH d AS (SELECT ssn AS x FROM t) SELECT * FROM d', 'd')).toEqual([{ select: 'SELECT ssn AS x FROM t' }]);
    expect(find('WITH RECURSIVE d (c1, c2) AS (SELECT ssn, note FROM t) SELECT * FROM d', 'd')).toEqual([{ select: 'SELECT ssn, note FROM t', columns: ['c1', 'c2'] }]);
    const sql = 'WITH RECURSIVE a AS (SELECT ssn AS x FROM t), b AS (SELECT x AS y FROM a) SELECT y FROM b';
    expect(find(sql, 'b')).toEqual([{ select: 'WITH RECURSIVE a AS (SELECT ssn AS x FROM t) SELECT x AS y FROM a' }]);
    expect(find(find(sql, 'b')![0]!.select, 'a')).toEqual([{ select: 'SELECT ssn AS x FROM t' }]);
    // WITH that starts no CTE.
    expect(find('SELECT a, COUNT(*) FROM t GROUP BY a WITH ROLLUP', 'rollup')).toEqual([]);
  });

  it('is not fooled by strings, comments, quoted names and parentheses in them', () => {
    const sql =
      "SELECT x, '(SELECT note AS x FROM t) d' AS s, \"(SELECT 1) d\" FROM /* (SELECT note AS x FROM t) d */ (SELECT ssn AS x FROM t WHERE note <> ')' -- ) d\n) d # (SELECT 2) d\n";
    expect(find(sql, 'd')).toEqual([{ select: "SELECT ssn AS x FROM t WHERE note <> ')'" }]);
    // Under ANSI_QUOTES "..." is a name, so the alias may be written that way.
    expect(find('SELECT * FROM (SELECT ssn FROM t) "d"', 'd', { ...maria, ansiQuotes: true })).toEqual([{ select: 'SELECT ssn FROM t' }]);
    expect(find('SELECT * FROM (SELECT ssn FROM t) "d"', 'd')).toEqual([]);
    // A backslash-escaped quote: the string does not end there (unless NO_BACKSLASH_ESCAPES).
    expect(find("SELECT * FROM (SELECT 'it\\'s (' AS x FROM t) d", 'd')).toEqual([{ select: "SELECT 'it\\'s (' AS x FROM t" }]);
  });

  it('keeps the text of executed comments, drops the others', () => {
    expect(find('SELECT * FROM (SELECT /*!ssn*/ /* note, */ AS x FROM t) d', 'd')).toEqual([{ select: 'SELECT ssn AS x FROM t' }]);
  });

  it('reports every definition (the caller leaves an alias defined twice alone), and none for a function or column alias', () => {
    const sql = 'SELECT * FROM (SELECT a FROM t) d UNION ALL SELECT * FROM (SELECT b FROM u) AS d';
    expect(find(sql, 'd')).toHaveLength(2);
    expect(find('SELECT COUNT(x) d, (1 + 2) d FROM t', 'd')).toEqual([]);
    expect(find('SELECT 1; SELECT * FROM (SELECT a FROM t) d', 'd')).toEqual([{ select: 'SELECT a FROM t' }]);
  });

  it('gives null when the text cannot be read with certainty', () => {
    expect(find("SELECT * FROM (SELECT 'a FROM t) d", 'd')).toBeNull();
    expect(find('SELECT * FROM (SELECT a FROM t d', 'd')).toBeNull();
    // Backslash escapes not known: the two readings differ.
    const sql = "SELECT * FROM (SELECT 'x\\' AS a, ') d' FROM t) d";
    expect(find(sql, 'd', { ...maria, noBackslashEscapes: undefined })).toBeNull();
    expect(find('SELECT * FROM (SELECT ssn FROM t) d', 'd', { serverVersion: 101106, mariadb: true })).toEqual([{ select: 'SELECT ssn FROM t' }]);
  });
});

describe('mayUse', () => {
  it('sees a USE word anywhere, not inside other words', () => {
    expect(mayUse('USE app')).toBe(true);
    expect(mayUse('select 1; use `x`')).toBe(true);
    expect(mayUse('SELECT user, used, reuse, _use FROM t')).toBe(false);
  });
});
