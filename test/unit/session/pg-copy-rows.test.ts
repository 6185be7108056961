// Which query's rows a COPY ... TO STDOUT sends, so the server can describe them before the COPY runs.
import { describe, expect, it } from 'vitest';
import { copyRowsQuery } from '../../../src/session/pg-copy-rows.js';

describe('copyRowsQuery', () => {
  it('takes the query out of COPY (query) TO STDOUT, nested parentheses, strings and comments included', () => {
    expect(copyRowsQuery('COPY (SELECT a, (b) FROM t) TO STDOUT')).toBe('SELECT a, (b) FROM t');
    expect(copyRowsQuery("copy ( select ')' AS p, f(x) from t /* ) */ ) to stdout with (format csv);")).toBe(" select ')' AS p, f(x) from t /* ) */ ");
  });

  it('turns COPY table [(columns)] TO STDOUT into the SELECT whose rows it copies', () => {
    expect(copyRowsQuery('COPY public.customers TO STDOUT')).toBe('SELECT * FROM public.customers');
    expect(copyRowsQuery('COPY "My Table" (id, "E-mail") TO STDOUT (FORMAT csv, HEADER)')).toBe('SELECT id, "E-mail" FROM "My Table"');
  });

  it('leaves everything else alone: other destinations, COPY FROM, several statements, broken text', () => {
    for (const sql of [
      'COPY t TO \'/tmp/x\'',
      'COPY t FROM STDIN',
      'COPY (SELECT 1) TO STDOUT; DROP TABLE t',
      'COPY (SELECT 1 TO STDOUT',
      'COPY t () TO STDOUT',
      'COPY TO STDOUT',
      'SELECT 1',
      'WITH x AS (SELECT 1) COPY x TO STDOUT',
    ]) {
      expect(copyRowsQuery(sql), sql).toBeUndefined();
    }
  });
});
