// The audit trail of a real session: identity, statements, the hold, the decision written before the held
// statement runs, its execution, the close; literals and detected values never reach the file; the chain verifies.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import pgLib from 'pg';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { pg } from '../helpers/databases.js';
import type { AuditLine } from '../../src/audit/events.js';
import type { RequestView } from '../../src/approval/broker.js';

const run = promisify(execFile);
const alice = { name: 'alice', token: 'alice-token-0123456789', databaseUsers: ['alice'] };
let proxy: StartedProxy;
let direct: pgLib.Client;

beforeAll(async () => {
  proxy = await startProxy({ policy: true, extra: { console: { listen: '127.0.0.1:0', reviewers: [alice] } } });
  direct = new pgLib.Client({ ...pg, host: '127.0.0.1' });
  await direct.connect();
  await direct.query('DROP TABLE IF EXISTS sw_audit_t; CREATE TABLE sw_audit_t (email text)');
});
afterAll(async () => {
  await direct.query('DROP TABLE IF EXISTS sw_audit_t');
  await direct.end();
  await proxy?.close();
});

async function pending(): Promise<RequestView> {
  for (let i = 0; i < 200; i++) {
    const res = await fetch(`${proxy.app.consoleUrl}/api/requests?status=pending`, { headers: { authorization: `Bearer ${alice.token}` } });
    const list = (await res.json()) as RequestView[];
    if (list.length) return list[0]!;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('nothing held');
}

it('writes who did what, the hold, the decision before the execution, and verifies', async () => {
  const c = new pgLib.Client({ host: '127.0.0.1', port: proxy.pg.port, user: pg.user, database: pg.database, application_name: 'audit-test' });
  await c.connect();
  await c.query("INSERT INTO sw_audit_t VALUES ('jane.doe@example.com')");
  await c.query("SELECT * FROM sw_audit_t WHERE email = 'card 4111 1111 1111 1111'");
  const dropping = c.query('DROP TABLE sw_audit_t');
  const req = await pending();
  // Held: the server has not seen it.
  expect((await direct.query("select to_regclass('sw_audit_t') as t")).rows[0].t).not.toBeNull();
  await fetch(`${proxy.app.consoleUrl}/api/requests/${req.id}/approve`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'audit test' }),
  });
  await dropping;
  await c.end();
  await new Promise((r) => setTimeout(r, 50));
  await proxy.app.audit.flush();

  const file = proxy.app.config.audit.file;
  const text = readFileSync(file, 'utf8');
  const lines = text.trim().split('\n').map((l) => JSON.parse(l) as AuditLine);
  const mine = lines.filter((l) => !('session' in l) || l.session === lines.find((x) => x.type === 'session.open')!.session || l.type === 'decision');
  const types = mine.map((l) => (l.type === 'statement' ? `statement:${l.action}` : l.type));
  expect(types).toEqual(['session.open', 'statement:allow', 'execute', 'statement:allow', 'execute', 'statement:hold', 'hold', 'decision', 'execute', 'session.close']);
  const open = mine[0]!;
  expect(open).toMatchObject({ type: 'session.open', protocol: 'postgres', identity: { user: pg.user, database: pg.database, application: 'audit-test' } });
  expect(mine.find((l) => l.type === 'decision')).toMatchObject({ requestId: req.id, status: 'approved', reviewer: 'alice', reason: 'audit test' });
  expect(mine.at(-2)).toMatchObject({ type: 'execute', command: 'DROP TABLE' });
  // Literals never reach the file.
  expect(text).not.toContain('jane.doe@example.com');
  // (Not '4111' alone: hashes and fingerprints are hex and may hold it by chance.)
  expect(text).not.toContain('4111 1111');
  const { stdout } = await run(process.execPath, ['dist/main.js', 'audit', 'verify', file]);
  expect(stdout).toMatch(/^ok: \d+ lines, chain intact/);

  // An edited, a dropped and two swapped lines are each found, at the right place.
  const raw = text.trim().split('\n');
  const tampered = {
    edited: text.replace('"rows":1', '"rows":0'),
    dropped: [...raw.slice(0, 3), ...raw.slice(4)].join('\n') + '\n',
    swapped: [...raw.slice(0, 3), raw[4], raw[3], ...raw.slice(5)].join('\n') + '\n',
  };
  for (const [name, content] of Object.entries(tampered)) {
    const copy = `${file}.${name}`;
    writeFileSync(copy, content);
    const failed = await run(process.execPath, ['dist/main.js', 'audit', 'verify', copy]).then(
      () => undefined,
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, output: err.stdout + err.stderr }),
    );
    expect(failed?.code, name).toBe(1);
    expect(failed?.output, name).toMatch(name === 'edited' ? /hash mismatch/ : name === 'dropped' ? /line dropped/ : /reordered/);
  }
});
