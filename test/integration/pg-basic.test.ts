import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pgLib from 'pg';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { pg } from '../helpers/databases.js';

let proxy: StartedProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy?.close());

function client(port = proxy.pg.port): pgLib.Client {
  return new pgLib.Client({ host: '127.0.0.1', port, user: pg.user, password: pg.password, database: pg.database });
}

describe('postgres relay with node pg', () => {
  it('runs a simple query through the proxy', async () => {
    const c = client();
    await c.connect();
    const r = await c.query("select 1::int as one, 'x'::text as t");
    expect(r.rows).toEqual([{ one: 1, t: 'x' }]);
    await c.end();
  });
});
