// The PostgreSQL lexer only masks literals and spots backslashes; libpg-query parses. It must still
// agree with scan.l on where every literal, comment and quoted name starts and ends.
import { describe, expect, it } from 'vitest';
import { lexPostgres } from '../../../src/classify/pg-lexer.js';

const toks = (sql: string, scs = true) => lexPostgres(sql, scs).tokens.map((t) => `${t.type}:${sql.slice(t.start, t.end)}`);

describe('PostgreSQL lexer', () => {
  it('skips -- comments to the end of the line and nested /* */ comments', () => {
    expect(toks('SELECT 1 -- x; y\n, 2 /* a /* b */ c; */ , 3')).toEqual(['word:SELECT', 'number:1', 'op:,', 'number:2', 'op:,', 'number:3']);
  });
  it('reads plain strings with doubled quotes and backslashes as ordinary characters', () => {
    expect(toks("SELECT 'it''s', 'a\\' , 'b'")).toEqual(['word:SELECT', "string:'it''s'", 'op:,', "string:'a\\'", 'op:,', "string:'b'"]);
  });
  it('reads backslash escapes in E strings, and in plain strings when standard_conforming_strings is off', () => {
    expect(toks("SELECT E'a\\'b', e'\\\\'")).toEqual(['word:SELECT', "string:E'a\\'b'", 'op:,', "string:e'\\\\'"]);
    expect(toks("SELECT 'a\\'b'", false)).toEqual(['word:SELECT', "string:'a\\'b'"]);
  });
  it('flags a backslash inside a plain string, not inside E strings or comments', () => {
    expect(lexPostgres("SELECT 'a\\b'").backslashInPlainString).toBe(true);
    expect(lexPostgres("SELECT E'a\\b' -- '\\'").backslashInPlainString).toBe(false);
    expect(lexPostgres("SELECT '\\' /* 'x' */").backslashInPlainString).toBe(true);
  });
  it('reads dollar quotes with and without a tag, and $n parameters', () => {
    expect(toks("SELECT $$a'b$$, $fn$ $$ ; $fn$, $1, a$b$")).toEqual([
      'word:SELECT', "string:$$a'b$$", 'op:,', 'string:$fn$ $$ ; $fn$', 'op:,', 'param:$1', 'op:,', 'word:a$b$',
    ]);
  });
  it('reads B, X, N and U& strings, and quoted and U& names', () => {
    expect(toks(`SELECT B'01', X'1f', N'n', U&'\\0041', "a""b", U&"\\0041"`)).toEqual([
      'word:SELECT', "string:B'01'", 'op:,', "string:X'1f'", 'op:,', "string:N'n'", 'op:,', "string:U&'\\0041'", 'op:,',
      'qident:"a""b"', 'op:,', 'qident:U&"\\0041"',
    ]);
  });
  it('reads numbers: integers, decimals, exponents, hex', () => {
    expect(toks('SELECT 1, 1.5, .5, 1e10, 2.5E-3, 0x1F, 1_000')).toEqual([
      'word:SELECT', 'number:1', 'op:,', 'number:1.5', 'op:,', 'number:.5', 'op:,', 'number:1e10', 'op:,', 'number:2.5E-3', 'op:,',
      'number:0x1F', 'op:,', 'number:1_000',
    ]);
  });
  it('ends an operator where a comment starts', () => {
    expect(toks('SELECT 1 +-- c\n2, 3 */* c */4')).toEqual(['word:SELECT', 'number:1', 'op:+', 'number:2', 'op:,', 'number:3', 'op:*', 'number:4']);
  });
  it('reads :: casts as one operator', () => {
    expect(toks("SELECT '1'::int")).toEqual(['word:SELECT', "string:'1'", 'op:::', 'word:int']);
  });
  it('flags non-ASCII text', () => {
    expect(lexPostgres("SELECT 'é'").nonAscii).toBe(true);
    expect(lexPostgres('SELECT 1').nonAscii).toBe(false);
  });
});
