// The MySQL lexer decides where statements end and which text the server reads: every comment and
// quote form, executable-comment version gating, and the sql_mode switches. Expectations follow
// sql/sql_lex.cc and were checked against MariaDB 10.11 where the servers differ.
import { describe, expect, it } from 'vitest';
import { lexMysqlStatement, type MysqlLexMode } from '../../../src/classify/mysql-lexer.js';

const mariadb: MysqlLexMode = { noBackslashEscapes: false, ansiQuotes: false, serverVersion: 101106, mariadb: true };
const mysql8: MysqlLexMode = { noBackslashEscapes: false, ansiQuotes: false, serverVersion: 80036, mariadb: false };

/** Each statement as [token texts...], or 'error: why'. */
function lex(sql: string, mode: MysqlLexMode = mariadb): (string[] | string)[] {
  const out: (string[] | string)[] = [];
  for (let pos = 0; pos < sql.length; ) {
    const seg = lexMysqlStatement(sql, pos, mode);
    pos = seg.next;
    if (seg.error) out.push(`error: ${seg.error}`);
    else if (seg.tokens.length) out.push(seg.tokens.map((t) => sql.slice(t.start, t.end)));
  }
  return out;
}

function types(sql: string, mode: MysqlLexMode = mariadb): string[] {
  const seg = lexMysqlStatement(sql, 0, mode);
  return seg.tokens.map((t) => `${t.type}:${sql.slice(t.start, t.end)}`);
}

describe('MySQL lexer: comments', () => {
  it('ends a # comment at the newline, hiding a ; before it', () => {
    expect(lex('SELECT 1 # ; DROP TABLE t\n, 2; SELECT 3')).toEqual([['SELECT', '1', ',', '2'], ['SELECT', '3']]);
  });
  it('reads -- as a comment only when whitespace or a control character follows', () => {
    expect(lex('SELECT 1 -- ; DROP TABLE t\n+ 1')).toEqual([['SELECT', '1', '+', '1']]);
    expect(lex('SELECT 1 --\t; x\n+ 1')).toEqual([['SELECT', '1', '+', '1']]);
    expect(lex('SELECT 1 --\x01; x\n+ 1')).toEqual([['SELECT', '1', '+', '1']]);
    expect(lex('SELECT 1--1; DROP TABLE t')).toEqual([['SELECT', '1', '-', '-', '1'], ['DROP', 'TABLE', 't']]);
    expect(lex('SELECT 1 --; DROP TABLE t')).toEqual([['SELECT', '1', '-', '-'], ['DROP', 'TABLE', 't']]);
  });
  it('reads -- at the very end of the text as a comment', () => {
    expect(lex('SELECT 1 --')).toEqual([['SELECT', '1']]);
  });
  it('ends a /* */ comment at the first */ (no nesting)', () => {
    expect(lex('SELECT 1 /* /* */ + 1; SELECT 2')).toEqual([['SELECT', '1', '+', '1'], ['SELECT', '2']]);
  });
  it('fails an unclosed comment', () => {
    expect(lex('SELECT 1 /* ; DROP TABLE t')).toEqual(['error: unclosed comment']);
  });
  it('reads the MySQL 8 optimizer hint comment /*+ */ as a comment', () => {
    expect(lex('SELECT /*+ BKA(t) ; */ * FROM t')).toEqual([['SELECT', '*', 'FROM', 't']]);
  });
});

describe('MySQL lexer: executable comments', () => {
  it('reads /*! ... */ without a version as SQL', () => {
    expect(lex('/*! DROP TABLE t */')).toEqual([['DROP', 'TABLE', 't']]);
    expect(lex('SELECT 1 /*!+1*/')).toEqual([['SELECT', '1', '+', '1']]);
  });
  it('reads /*!NNNNN ... */ as SQL when the server is at least that version', () => {
    expect(lex('/*!50000 DROP TABLE t */')).toEqual([['DROP', 'TABLE', 't']]);
    expect(lex('/*!80036 DROP TABLE t */', mysql8)).toEqual([['DROP', 'TABLE', 't']]);
    expect(lex('/*!80037 DROP TABLE t */', mysql8)).toEqual([]);
  });
  it('reads fewer than five digits as SQL, digits included', () => {
    expect(lex('SELECT 1 /*!5000 + 1 */')).toEqual([['SELECT', '1', '5000', '+', '1']]);
  });
  it('skips a comment for a newer version, ; and all', () => {
    expect(lex('SELECT 1 /*!99999 ; DROP TABLE t */; SELECT 2', mysql8)).toEqual([['SELECT', '1'], ['SELECT', '2']]);
  });
  it('allows one nested comment inside a skipped version comment', () => {
    expect(lex('SELECT 1 /*!99999 /* x */ ; DROP */ + 1', mysql8)).toEqual([['SELECT', '1', '+', '1']]);
  });
  it('on MariaDB reads six-digit versions and ignores MySQL 5.7+ versions (50700-99999)', () => {
    expect(lex('/*!101106 DROP TABLE t */')).toEqual([['DROP', 'TABLE', 't']]);
    expect(lex('/*!101107 DROP TABLE t */')).toEqual([]);
    expect(lex('/*!50699 DROP TABLE t */')).toEqual([['DROP', 'TABLE', 't']]);
    expect(lex('/*!50700 DROP TABLE t */')).toEqual([]);
    expect(lex('/*!80036 DROP TABLE t */')).toEqual([]);
  });
  it('on MariaDB reads /*M!NNNNN */ including MySQL 5.7+ versions', () => {
    expect(lex('/*M!50700 DROP TABLE t */')).toEqual([['DROP', 'TABLE', 't']]);
    expect(lex('/*M!100616 SET x=1 */')).toEqual([['SET', 'x', '=', '1']]);
    expect(lex('/*M!999999\\- enable the sandbox mode */')).toEqual([]);
    expect(lex('/*M! DROP TABLE t */')).toEqual([['DROP', 'TABLE', 't']]);
  });
  it('on MySQL reads /*M! as an ordinary comment', () => {
    expect(lex('SELECT 1 /*M!100000 ; DROP TABLE t */', mysql8)).toEqual([['SELECT', '1']]);
  });
  it('on MySQL fails a six-digit version, which MySQL 8.0 and 9.x read differently', () => {
    expect(lex('SELECT 1 /*!800001 + 1 */', mysql8)).toEqual(['error: six-digit version comment: MySQL versions read it differently']);
  });
  it('allows an ordinary comment inside an executed one', () => {
    expect(lex('SELECT 1 /*!50000 + 1 /* x */ + 1 */')).toEqual([['SELECT', '1', '+', '1', '+', '1']]);
  });
  it('fails an executable comment inside an executed one, and a ; inside one', () => {
    expect(lex('SELECT 1 /*!50000 /*!50000 + 1 */ + 1 */')[0]).toBe('error: executable comment inside an executable comment');
    expect(lex('SELECT 1 /*!50000 ; DROP TABLE t */')[0]).toBe('error: ; inside an executable comment');
  });
  it('fails an executed comment whose end a line comment swallowed', () => {
    expect(lex('SELECT 1 /*!50000 -- */ + 1')).toEqual(['error: unclosed executable comment']);
    expect(lex('SELECT 1 /*!50000 # */ + 1')).toEqual(['error: unclosed executable comment']);
  });
  it('lexes strings inside an executed comment (a */ inside one does not end it)', () => {
    expect(lex("SELECT 1 /*!50000 , '*/' */")).toEqual([['SELECT', '1', ',', "'*/'"]]);
  });
});

describe('MySQL lexer: quotes', () => {
  it('reads backslash escapes in strings by default', () => {
    expect(lex("SELECT 'a\\'; DROP TABLE t; -- '")).toEqual([['SELECT', "'a\\'; DROP TABLE t; -- '"]]);
    expect(lex('SELECT "a\\"; DROP TABLE t; -- "')).toEqual([['SELECT', '"a\\"; DROP TABLE t; -- "']]);
  });
  it('with NO_BACKSLASH_ESCAPES a backslash is an ordinary character', () => {
    const nbe = { ...mariadb, noBackslashEscapes: true };
    expect(lex("SELECT 'a\\'; DROP TABLE t; -- '", nbe)).toEqual([['SELECT', "'a\\'"], ['DROP', 'TABLE', 't']]);
  });
  it('reads doubled quotes as one quote', () => {
    expect(lex("SELECT 'it''s; here'; SELECT 2")).toEqual([['SELECT', "'it''s; here'"], ['SELECT', '2']]);
    expect(lex('SELECT "say ""hi""; x"')).toEqual([['SELECT', '"say ""hi""; x"']]);
  });
  it('reads "..." as a string, or as a name under ANSI_QUOTES (no backslash escapes then)', () => {
    expect(types('SELECT "a" FROM t')).toEqual(['word:SELECT', 'string:"a"', 'word:FROM', 'word:t']);
    const ansi = { ...mariadb, ansiQuotes: true };
    expect(types('SELECT "a" FROM t', ansi)).toEqual(['word:SELECT', 'qident:"a"', 'word:FROM', 'word:t']);
    expect(lex('SELECT "a\\"; DROP TABLE t; -- "', ansi)).toEqual([['SELECT', '"a\\"'], ['DROP', 'TABLE', 't']]);
  });
  it('reads backtick names with doubled backticks and no backslash escapes', () => {
    expect(types('SELECT `a``b;c` FROM `t\\`')).toEqual(['word:SELECT', 'qident:`a``b;c`', 'word:FROM', 'qident:`t\\`']);
  });
  it('fails an unterminated string', () => {
    expect(lex("SELECT 'abc; DROP TABLE t")).toEqual(['error: unterminated string']);
  });
  it('reads hex, bit and national literals as one literal each', () => {
    expect(types("SELECT X'41', b'01', N'x\\'y', 0x41, 0b01, 1e3, .5, 12abc")).toEqual([
      'word:SELECT', "string:X'41'", 'op:,', "string:b'01'", 'op:,', "string:N'x\\'y'", 'op:,', 'number:0x41', 'op:,',
      'number:0b01', 'op:,', 'number:1e3', 'op:,', 'number:.5', 'op:,', 'word:12abc',
    ]);
  });
  it('reads quoted user variables whole, ; inside included', () => {
    expect(types("SET @'a;b' = 1, @@session.sql_mode = ''")).toEqual([
      'word:SET', "var:@'a;b'", 'op:=', 'number:1', 'op:,', 'var:@@session.sql_mode', 'op:=', "string:''",
    ]);
  });
  it("on MySQL fails a name starting with $ (MySQL 9 reads $tag$...$tag$ as a string)", () => {
    expect(lex('SELECT $x$ ; DROP TABLE t; $x$', mysql8)[0]).toBe('error: identifier starting with $: MySQL versions read it differently');
    expect(lex('SELECT $x FROM t')).toEqual([['SELECT', '$x', 'FROM', 't']]);
  });
});

describe('MySQL lexer: statements', () => {
  it('splits on ; outside strings, names and comments, and drops empty statements', () => {
    expect(lex("SELECT ';'; ; SELECT `;`;\n")).toEqual([['SELECT', "';'"], ['SELECT', '`;`']]);
  });
  it('does not treat DELIMITER as anything but a word', () => {
    expect(lex('DELIMITER //\nSELECT 1 //')).toEqual([['DELIMITER', '/', '/', 'SELECT', '1', '/', '/']]);
  });
  it('reports the statement text trimmed, without the ;', () => {
    const sql = '  /* c */ SELECT 1 ;  SELECT 2  ';
    const first = lexMysqlStatement(sql, 0, mariadb);
    expect(sql.slice(first.start, first.end)).toBe('/* c */ SELECT 1');
    const second = lexMysqlStatement(sql, first.next, mariadb);
    expect(sql.slice(second.start, second.end)).toBe('SELECT 2');
  });
  it('flags non-ASCII text anywhere in the statement', () => {
    expect(lexMysqlStatement("SELECT 'é'", 0, mariadb).nonAscii).toBe(true);
    expect(lexMysqlStatement('SELECT 1 /* é */', 0, mariadb).nonAscii).toBe(true);
    expect(lexMysqlStatement('SELECT 1', 0, mariadb).nonAscii).toBe(false);
  });
});
