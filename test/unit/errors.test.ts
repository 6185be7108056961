import { describe, expect, it } from 'vitest';
import { errorCatalog, ProxyError, type ErrorCode } from '../../src/errors.js';

describe('the error catalog', () => {
  for (const [code, entry] of Object.entries(errorCatalog)) {
    it(`${code} has a PostgreSQL SQLSTATE, a MySQL errno and SQLSTATE, and a message that names sqlwarden`, () => {
      expect(entry.sqlstate).toMatch(/^[0-9A-Z]{5}$/);
      expect(entry.mysqlState).toMatch(/^[0-9A-Z]{5}$/);
      expect(Number.isInteger(entry.errno) && entry.errno > 0 && entry.errno < 65536).toBe(true);
      expect(entry.message).toMatch(/^sqlwarden: /);
    });
  }

  it('appends the detail to the message, or takes a whole message where a contract fixes it', () => {
    expect(new ProxyError('upstreamLost', 'reset').message).toBe('sqlwarden: lost the connection to the database server: reset');
    expect(new ProxyError('denied' as ErrorCode, undefined, 'sqlwarden: denied by a: b (request r_1)').message).toBe('sqlwarden: denied by a: b (request r_1)');
    expect(new ProxyError('expired').entry).toEqual(errorCatalog.expired);
  });
});
