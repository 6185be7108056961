// Which result each server message belongs to (extended query), as masking needs it.
import { describe, expect, it } from 'vitest';
import { PgResults } from '../../../src/session/pg-results.js';
import type { FieldDescription } from '../../../src/wire/postgres/decode.js';

const field = (name: string): FieldDescription => ({ name, tableOid: 0, column: 0, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 });

describe('PgResults', () => {
  it('knows an Execute will have columns when the client described its portal first, and begins its rows with them', () => {
    const r = new PgResults();
    r.parse('s1', 'select a');
    r.bind('', 's1', [1]);
    expect(r.knowsColumns('')).toBe(false);
    r.describe('P', '');
    expect(r.knowsColumns('')).toBe(true);
    r.execute('');
    r.sync();
    r.complete(); // ParseComplete
    r.complete(); // BindComplete
    expect(r.rowDescription([field('a')])).toEqual({ kind: 'pass' });
    expect(r.dataRow()).toEqual({ kind: 'begin', fields: [{ ...field('a'), format: 1 }] });
    // A new Bind is a new portal: described again or not at all.
    r.bind('', 's1', []);
    expect(r.knowsColumns('')).toBe(false);
  });

  it('remembers the SQL each portal runs until its statement is closed', () => {
    const r = new PgResults();
    r.parse('s1', 'COPY t TO STDOUT');
    r.bind('p', 's1', []);
    expect(r.sqlOf('p')).toBe('COPY t TO STDOUT');
    expect(r.sqlOf('other')).toBe('');
    r.close('S', 's1');
    expect(r.sqlOf('p')).toBe('');
  });
});
