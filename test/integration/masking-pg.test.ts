// Masking through the PostgreSQL proxy with the shipped rules: column rules by name, detectors for what has
// no column (aliases without a catalog, casts, concatenations), text and binary formats, simple and extended
// protocol, prepared statements, NULLs and multi-byte values; nothing to mask passes through unchanged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pgLib from 'pg';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { to as copyTo } from 'pg-copy-streams';
import net from 'node:net';
import { serialize } from 'pg-protocol';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { pg } from '../helpers/databases.js';

const run = promisify(execFile);

/** Feeds a child's stdout to `onLine` line by line; resolves when it exits 0. */
function streamLines(child: ChildProcess, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let rest = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      const parts = (rest + d).split('\n');
      rest = parts.pop()!;
      for (const p of parts) if (p) onLine(p);
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
  });
}
let proxy: StartedProxy;
let c: pgLib.Client;
let direct: pgLib.Client;

beforeAll(async () => {
  proxy = await startProxy({ masking: true, extra: { masking: { key: 'test-mask-key-0123456789', workers: 2, offload: 'always' } } });
  direct = new pgLib.Client({ ...pg, host: '127.0.0.1' });
  await direct.connect();
  await direct.query(`DROP TABLE IF EXISTS sw_mask_t;
    CREATE TABLE sw_mask_t (id int primary key, email text, full_name text, ssn text, card text, note text, amount numeric);
    INSERT INTO sw_mask_t VALUES
      (1, 'jane.doe@example.com', 'Jane Doe', '123-45-6789', '4111 1111 1111 1111', 'call me', 10.5),
      (2, NULL, '', NULL, NULL, 'contact: bob@corp.io', 20),
      (3, 'zoé@example.com', 'Zoë Ünïcødé', '987-65-4321', '5500-0000-0000-0004', 'nothing here', 30)`);
  c = new pgLib.Client({ host: '127.0.0.1', port: proxy.pg.port, user: pg.user, database: pg.database });
  await c.connect();
});
afterAll(async () => {
  await c?.end();
  await direct.query('DROP TABLE IF EXISTS sw_mask_t');
  await direct.end();
  await proxy?.close();
});

const all = 'SELECT id, email, full_name, ssn, card, note, amount FROM sw_mask_t ORDER BY id';

function expectMasked(rows: Record<string, unknown>[]): void {
  expect(rows[0]).toEqual({ id: 1, email: 'j***@example.com', full_name: 'J*******', ssn: '*******6789', card: '***************1111', note: 'call me', amount: '10.5' });
  // NULL stays NULL; an empty string stays empty; a value found inside text is masked in place.
  expect(rows[1]).toMatchObject({ email: null, full_name: '', ssn: null, card: null });
  expect(rows[1]!.note).toBe('contact: b***@corp.io');
  // Multi-byte characters are kept whole.
  expect(rows[2]!.full_name).toBe('Z**********');
  expect(rows[2]!.ssn).toBe('*******4321');
}

describe('masking on PostgreSQL', () => {
  it('masks by column name in a simple query', async () => {
    expectMasked((await c.query(all)).rows);
  });

  it('masks the extended protocol, named prepared statements reused, and binary results', async () => {
    expectMasked((await c.query(`${all.replace('ORDER BY', 'WHERE id > $1 ORDER BY')}`, [0])).rows);
    for (let i = 0; i < 3; i++) expectMasked((await c.query({ name: 'sw-mask-all', text: all })).rows);
    const binary = await c.query({ text: 'SELECT id, ssn, email FROM sw_mask_t WHERE id = 1', binary: true } as pgLib.QueryConfig);
    expect(binary.rows[0]).toEqual({ id: 1, ssn: '*******6789', email: 'j***@example.com' });
  });

  it('catches values that lost their column name: aliases, casts and concatenations, by their content', async () => {
    const r = await c.query("SELECT ssn AS x, email || '' AS y, card::varchar AS z, upper(email) AS w FROM sw_mask_t WHERE id = 1");
    const row = r.rows[0];
    expect(row.x).not.toContain('123-45');
    expect(row.y).not.toContain('jane.doe');
    expect(row.z).not.toContain('4111 1111 1111');
    expect(String(row.w)).not.toContain('JANE.DOE');
  });

  it('keeps a renamed column masked by its origin when the listener has a catalog', async () => {
    const withCatalog = await startProxy({
      masking: true,
      pg: { catalog: `postgres://${pg.user}@${pg.host}:${pg.port}/${pg.database}` },
      extra: { masking: { key: 'test-mask-key-0123456789', workers: 0 } },
    });
    try {
      const cc = new pgLib.Client({ host: '127.0.0.1', port: withCatalog.pg.port, user: pg.user, database: pg.database });
      await cc.connect();
      // A name no rule knows and a value no detector flags: only the origin (sw_mask_t.full_name) tells.
      const q = 'SELECT full_name AS who, t.email AS contact FROM sw_mask_t t WHERE id = 1';
      expect((await cc.query(q)).rows).toEqual([{ who: 'J*******', contact: 'j***@example.com' }]);
      expect((await cc.query(q + ' AND id = $1', [1])).rows).toEqual([{ who: 'J*******', contact: 'j***@example.com' }]);
      await cc.end();
      // Without a catalog the alias hides the origin: the name is all the proxy sees.
      expect((await c.query(q)).rows[0].who).toBe('Jane Doe');
    } finally {
      await withCatalog.close();
    }
  });

  it('applies table.column rules through the catalog, through views (to their base tables), SELECT * and joins', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-rules-'));
    writeFileSync(path.join(dir, 'policy.yaml'), 'rules: []\ndefault: allow\n');
    writeFileSync(
      path.join(dir, 'masking.yaml'),
      [
        'columns:',
        '  - match: { table: public.sw_mask_t, column: note }',
        '    mask: { fixed: "[hidden]" }',
        '  - match: { column: email }',
        '    mask: email',
        '  - match: { table: public.sw_mask_v2, column: ident }',
        '    mask: redact',
        '',
      ].join('\n'),
    );
    await direct.query(`CREATE OR REPLACE VIEW sw_mask_v AS SELECT id, email, note FROM sw_mask_t;
      CREATE OR REPLACE VIEW sw_mask_v2 AS SELECT id AS ident, note AS remark, upper(note) AS shout FROM sw_mask_v`);
    const p = await startProxy({
      masking: true,
      pg: { catalog: `postgres://${pg.user}@${pg.host}:${pg.port}/${pg.database}` },
      extra: { rules: dir, masking: { key: 'test-mask-key-0123456789', workers: 0 } },
    });
    try {
      const pc = new pgLib.Client({ host: '127.0.0.1', port: p.pg.port, user: pg.user, database: pg.database });
      await pc.connect();
      expect((await pc.query('SELECT note AS n FROM sw_mask_t WHERE id = 1')).rows).toEqual([{ n: '[hidden]' }]);
      // A column of another table with that name is not that table's column...
      await direct.query('CREATE TABLE IF NOT EXISTS sw_mask_other (note text); TRUNCATE sw_mask_other; INSERT INTO sw_mask_other VALUES (\'plain\')');
      expect((await pc.query('SELECT note FROM sw_mask_other')).rows).toEqual([{ note: 'plain' }]);
      // ...but a computed column of that name has no known table: when in doubt, it is masked.
      expect((await pc.query("SELECT 'call me'::text AS note")).rows).toEqual([{ note: '[hidden]' }]);
      // A view's columns are its base table's: the note rule of sw_mask_t applies through sw_mask_v, and through
      // sw_mask_v2 (a view of that view, renaming it); a rule naming the view's own column applies too; a
      // computed column (upper(note)) has no base column (detectors are what would see it).
      expect((await pc.query('SELECT * FROM sw_mask_v WHERE id = 1')).rows).toEqual([{ id: 1, email: 'j***@example.com', note: '[hidden]' }]);
      expect((await pc.query('SELECT * FROM sw_mask_v2 WHERE ident = 1')).rows).toEqual([{ ident: '****', remark: '[hidden]', shout: 'CALL ME' }]);
      expect((await pc.query('SELECT id FROM sw_mask_t WHERE id = 1')).rows).toEqual([{ id: 1 }]);
      const joined = await pc.query('SELECT a.email AS first, b.note FROM sw_mask_t a JOIN sw_mask_t b USING (id) WHERE id = 1');
      expect(joined.rows).toEqual([{ first: 'j***@example.com', note: '[hidden]' }]);
      // COPY of a whole table: the catalog names its columns, so column rules apply to its rows too.
      const chunks: Buffer[] = [];
      await pipeline(pc.query(copyTo('COPY public.sw_mask_t TO STDOUT')), new Writable({ write: (chunk: Buffer, _e, cb) => (chunks.push(chunk), cb()) }));
      const first = Buffer.concat(chunks).toString().split('\n')[0]!.split('\t');
      expect([first[0], first[1], first[5]]).toEqual(['1', 'j***@example.com', '[hidden]']);
      // COPY (query): the server describes the query's rows on the client's connection first, so an alias or
      // a view does not dodge a table.column rule; the client sees nothing of that exchange.
      const copied = async (sql: string, client = pc) => {
        const out: Buffer[] = [];
        await pipeline(client.query(copyTo(sql)), new Writable({ write: (chunk: Buffer, _e, cb) => (out.push(chunk), cb()) }));
        return Buffer.concat(out).toString();
      };
      expect(await copied('COPY (SELECT id, note AS x, email AS y FROM sw_mask_t WHERE id = 1) TO STDOUT')).toBe('1\t[hidden]\tj***@example.com\n');
      expect(await copied('COPY (SELECT remark, ident FROM sw_mask_v2 WHERE ident = 1) TO STDOUT (FORMAT csv)')).toBe('[hidden],****\n');
      expect(await copied('COPY public.sw_mask_t (note, id) TO STDOUT')).toMatch(/^\[hidden\]\t1\n/);
      // Inside a transaction, a failing COPY fails with its own error (our Describe met it first), and the
      // transaction is aborted as it would be.
      await pc.query('BEGIN');
      await expect(copied('COPY (SELECT no_such_column FROM sw_mask_t) TO STDOUT')).rejects.toMatchObject({ code: '42703' });
      await expect(pc.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
      await pc.query('ROLLBACK');
      // Nothing of the exchange reaches the client or the audit as a statement of its own.
      expect((await pc.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
      await pc.end();
      // A binary COPY that needs masking ends that session, also when its columns are looked up first.
      await direct.query('CREATE TABLE IF NOT EXISTS sw_mask_other2 (email text)');
      const bin = new pgLib.Client({ host: '127.0.0.1', port: p.pg.port, user: pg.user, database: pg.database });
      await bin.connect();
      bin.on('error', () => undefined);
      const ended = pipeline(bin.query(copyTo('COPY (SELECT email FROM sw_mask_other2) TO STDOUT (FORMAT binary)')), new Writable({ write: (_c, _e, cb) => cb() }));
      await expect(ended).rejects.toMatchObject({ code: '0A000' });
      const after = new pgLib.Client({ host: '127.0.0.1', port: p.pg.port, user: pg.user, database: pg.database });
      await after.connect();
      expect((await after.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
      await after.end();
    } finally {
      await p.close();
      await direct.query('DROP VIEW IF EXISTS sw_mask_v2; DROP VIEW IF EXISTS sw_mask_v; DROP TABLE IF EXISTS sw_mask_other, sw_mask_other2');
    }
  });

  it('masks what psql shows', async () => {
    const { stdout } = await run('psql', ['-h', '127.0.0.1', '-p', String(proxy.pg.port), '-U', pg.user, '-d', pg.database, '-X', '-A', '-t', '-c', all]);
    expect(stdout).not.toContain('jane.doe@example.com');
    expect(stdout).not.toContain('123-45-6789');
    expect(stdout.split('\n')[0]).toBe('1|j***@example.com|J*******|*******6789|***************1111|call me|10.5');
  });

  it('passes results with nothing to mask unchanged', async () => {
    const q = 'SELECT id, amount, note FROM sw_mask_t WHERE id IN (1, 3) ORDER BY id';
    expect((await c.query(q)).rows).toEqual((await direct.query(q)).rows);
  });

  it('masks many rows through the workers, in order', async () => {
    const q = "SELECT g AS id, 'user' || g || '@example.com' AS email, 'Name ' || g AS full_name FROM generate_series(1, 20000) g";
    const rows = (await c.query(q)).rows;
    expect(rows).toHaveLength(20000);
    for (const i of [0, 1, 999, 1000, 1024, 5000, 19999]) {
      expect(rows[i]).toEqual({ id: i + 1, email: 'u***@example.com', full_name: 'N' + '*'.repeat(`Name ${i + 1}`.length - 1) });
    }
  });

  it('streams 1,000,000 rows with 3 of 7 columns masked, complete and correct', async () => {
    const query =
      "SELECT g AS id, 'user' || g || '@example.com' AS email, 'Name ' || g AS full_name, lpad(g::text, 9, '0') AS ssn, " +
      "date '2024-01-01' + g % 365 AS created_at, g * 0.5 AS amount, 'row ' || g AS note FROM generate_series(1, 1000000) g";
    const args = (port: number) => ['-h', '127.0.0.1', '-p', String(port), '-U', pg.user, '-d', pg.database, '-X', '-A', '-t', '-c', query];
    // What the masked output must be, computed from the direct output line by line.
    const expected = createHash('sha256');
    let lines = 0;
    await streamLines(spawn('psql', args(pg.port)), (line) => {
      const [id, email, name, ssn, ...rest] = line.split('|');
      expected.update(`${id}|${email![0]}***${email!.slice(email!.indexOf('@'))}|${name![0]}${'*'.repeat(name!.length - 1)}|*****${ssn!.slice(5)}|${rest.join('|')}\n`);
      lines++;
    });
    const got = createHash('sha256');
    let gotLines = 0;
    await streamLines(spawn('psql', args(proxy.pg.port)), (line) => {
      got.update(line + '\n');
      gotLines++;
    });
    expect(lines).toBe(1_000_000);
    expect(gotLines).toBe(1_000_000);
    expect(got.digest('hex')).toBe(expected.digest('hex'));
  });

  it('streams 1,000,000 rows with 3 of 7 columns masked through node pg, text and binary, complete and correct', async () => {
    const text =
      "SELECT g AS id, 'user' || g || '@example.com' AS email, 'Name ' || g AS full_name, lpad(g::text, 9, '0') AS ssn, " +
      "date '2024-01-01' + g % 365 AS created_at, g * 0.5 AS amount, 'row ' || g AS note FROM generate_series(1, 1000000) g";
    for (const binary of [false, true]) {
      let rows = 0;
      let wrong = 0;
      const query = new pgLib.Query({ text, rowMode: 'array', binary } as pgLib.QueryConfig);
      // Rows are counted as they arrive: with a 'row' listener and no callback, pg keeps none in memory.
      query.on('row', (row: unknown[]) => {
        rows++;
        const id = Number(row[0]);
        const name = `Name ${id}`;
        if (row[1] !== 'u***@example.com' || row[2] !== 'N' + '*'.repeat(name.length - 1) || row[3] !== '*****' + String(id).padStart(9, '0').slice(5) || row[6] !== `row ${id}`) wrong++;
      });
      await new Promise<void>((resolve, reject) => {
        query.on('end', () => resolve());
        query.on('error', reject);
        c.query(query);
      });
      expect(rows).toBe(1_000_000);
      expect(wrong).toBe(0);
    }
  });

  it('hashes deterministically, so values still join across queries', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-rules-'));
    writeFileSync(path.join(dir, 'policy.yaml'), 'rules: []\ndefault: allow\n');
    writeFileSync(path.join(dir, 'masking.yaml'), 'columns:\n  - match: { column: email }\n    mask: hash\n');
    const hashing = await startProxy({ masking: true, extra: { rules: dir, masking: { key: 'join-key-0123456789', workers: 2, offload: 'always' } } });
    try {
      const hc = new pgLib.Client({ host: '127.0.0.1', port: hashing.pg.port, user: pg.user, database: pg.database });
      await hc.connect();
      const a = (await hc.query('SELECT email FROM sw_mask_t WHERE id = 1')).rows[0].email as string;
      const b = (await hc.query("SELECT 'jane.doe@example.com'::text AS email")).rows[0].email as string;
      const many = (await hc.query("SELECT 'jane.doe@example.com' AS email FROM generate_series(1, 3000)")).rows.map((r) => r.email);
      expect(a).toMatch(/^[0-9a-f]{16}$/);
      expect(b).toBe(a);
      expect(new Set(many)).toEqual(new Set([a]));
      expect((await hc.query("SELECT 'someone.else@example.com'::text AS email")).rows[0].email).not.toBe(a);
      await hc.end();
    } finally {
      await hashing.close();
    }
  });

  it('masks COPY TO STDOUT rows in text and CSV: by column name when the statement lists them, else by content', async () => {
    const copyOut = async (sql: string) => {
      const chunks: Buffer[] = [];
      await pipeline(c.query(copyTo(sql)), new Writable({ write: (chunk: Buffer, _e, cb) => (chunks.push(chunk), cb()) }));
      return Buffer.concat(chunks).toString();
    };
    // Nothing to mask (an integer column): the rows stream raw, and the next COPY is masked again.
    expect(await copyOut('COPY (SELECT id FROM sw_mask_t ORDER BY id) TO STDOUT')).toBe('1\n2\n3\n');
    const listed = await copyOut('COPY sw_mask_t (id, full_name, ssn) TO STDOUT');
    expect(listed.split('\n')[0]).toBe('1\tJ*******\t*******6789');
    const csv = await copyOut('COPY (SELECT id, email, note FROM sw_mask_t ORDER BY id) TO STDOUT WITH (FORMAT csv)');
    expect(csv).toBe('1,j***@example.com,call me\n2,,contact: b***@corp.io\n3,z***@example.com,nothing here\n');
    expect(csv).not.toContain('jane.doe');
    expect(csv).not.toContain('bob@corp.io');
    // Detectors scan the columns of text types, as in a SELECT's result: a number's text is left as it is.
    const typed = 'SELECT 4111111111111111::bigint AS n, now()::date AS d, $$card 4111111111111111$$::text AS t';
    const selected = (await c.query({ text: typed, rowMode: 'array' })).rows[0] as unknown[];
    expect(selected[0]).toBe('4111111111111111');
    expect(selected[2]).toBe('card ************1111');
    expect(await copyOut(`COPY (${typed}) TO STDOUT`)).toMatch(/^4111111111111111\t\d{4}-\d\d-\d\d\tcard \*{12}1111\n$/);
  });

  it('masks a COPY run through the extended protocol by its own text, not the last simple query', async () => {
    // The last simple query lists other columns in another order: the Execute's COPY must not be read by it.
    const socket = net.connect({ host: '127.0.0.1', port: proxy.pg.port });
    let received = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
    await new Promise((r) => socket.once('connect', r));
    const readyCount = () => received.toString('latin1').split('Z\0\0\0\x05').length - 1;
    const until = async (n: number) => {
      for (const deadline = Date.now() + 5000; readyCount() < n; await new Promise((r) => setTimeout(r, 10))) {
        if (Date.now() > deadline || socket.destroyed) throw new Error(`no ReadyForQuery #${n}: ${received.toString('latin1').slice(-200)}`);
      }
    };
    socket.write(serialize.startup({ user: pg.user, database: pg.database }));
    await until(1);
    socket.write(serialize.query('COPY (SELECT ssn, id FROM sw_mask_t WHERE id = 3) TO STDOUT'));
    await until(2);
    socket.write(Buffer.concat([serialize.parse({ text: 'COPY sw_mask_t (id, ssn) TO STDOUT WITH (FORMAT csv)' }), serialize.bind({}), serialize.execute({}), serialize.sync()]));
    await until(3);
    socket.destroy();
    const text = received.toString('utf8');
    expect(text).toContain('*******4321\t3\n');
    expect(text).toContain('1,*******6789\n');
    expect(text).not.toContain('123-45-6789');
  });

  it('masks values quoted in errors', async () => {
    await direct.query('CREATE UNIQUE INDEX IF NOT EXISTS sw_mask_email ON sw_mask_t (email)');
    const err = await c.query("INSERT INTO sw_mask_t (id, email) VALUES (9, 'jane.doe@example.com')").catch((e: Error & { detail?: string }) => e);
    expect((err as { code?: string }).code).toBe('23505');
    expect((err as { detail?: string }).detail ?? '').not.toContain('jane.doe@example.com');
  });
});
