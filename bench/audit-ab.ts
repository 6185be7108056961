// Two builds' audit writers side by side, no sockets: what the audit costs a point select, in CPU µs per
// statement. Each statement is the two lines a prepared pgbench -S statement writes (`statement`, `execute`),
// made by the build's own AuditRecorder, one statement per event-loop turn as the proxy makes them (one client
// message a turn), the file in a temp dir. Every run is a child process of its own (a build's garbage must not
// land in the other's heap), A and B alternating; a third kind of run, `none`, has a recorder whose log drops
// every event, so `B - none` is the writer's own cost and `none` the loop's and the recorder's.
//
//   npm run bench:audit -- --a DIR --b DIR [--statements 200000] [--rounds 6]
//
// --a / --b name checkouts whose dist/ is built, as for bench:ab.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    statements: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '6' },
    run: { type: 'string' },
    none: { type: 'boolean', default: false },
  },
});
const statements = Number(values.statements);

if (values.run) {
  // One run: print the CPU µs per statement of this process.
  const dir = values.run;
  const from = async <T>(module: string): Promise<T> => (await import(pathToFileURL(path.resolve(dir, 'dist', module)).href)) as T;
  const { AuditLog } = await from<typeof import('../src/audit/log.js')>('audit/log.js');
  const { AuditRecorder } = await from<typeof import('../src/audit/recorder.js')>('audit/recorder.js');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-audit-ab-'));
  const quiet = { error() {}, warn() {}, info() {} };
  const audit = values.none ? null : await AuditLog.open(path.join(tmp, 'audit.jsonl'), { log: quiet, maxBytes: 2 ** 40 });
  const dropAll = { write() {} } as unknown as NonNullable<typeof audit>;
  const recorder = new AuditRecorder(audit ?? dropAll);
  const session = { id: 's3', listener: 'pg', protocol: 'postgres' as const, user: 'postgres', database: 'bench', application: 'pgbench', client: '127.0.0.1:41000' };
  const statement = {
    fingerprint: '840c57584d1220e94c7fa2fda9de23cc',
    category: 'read' as const,
    kind: 'select',
    masked: 'SELECT abalance FROM pgbench_accounts WHERE aid = $1',
    objects: ['pgbench_accounts'],
  };
  const request = { session, via: 'execute' as const, statement: '' };
  const decision = { action: 'allow' as const, rule: null, statement: null };
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
  const start = process.cpuUsage();
  for (let i = 0; i < statements; i++) {
    recorder.judged(request as never, [statement as never], decision);
    recorder.executed(session as never, { command: 'SELECT 1', rows: 1, durationMs: 0 });
    await turn();
  }
  await audit?.close();
  const used = process.cpuUsage(start);
  rmSync(tmp, { recursive: true, force: true });
  console.log(((used.user + used.system) / statements).toFixed(2));
} else {
  if (!values.a || !values.b) throw new Error('usage: npm run bench:audit -- --a DIR --b DIR [--statements N] [--rounds N]');
  const self = fileURLToPath(import.meta.url);
  const run = (dir: string, none = false) =>
    Number(execFileSync(process.execPath, [self, '--run', dir, '--statements', String(statements), ...(none ? ['--none'] : [])], { encoding: 'utf8' }).trim());
  const a: number[] = [];
  const b: number[] = [];
  const none: number[] = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    // Alternate which goes first, so neither always runs right after the other.
    if (round % 2 === 0) a.push(run(values.a)), b.push(run(values.b));
    else b.push(run(values.b)), a.push(run(values.a));
    none.push(run(values.b, true));
  }
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const show = (x: number[]) => `${x.map((v) => v.toFixed(1)).join(' ')}  mean ${mean(x).toFixed(2)}`;
  console.log(`audit writer, ${statements.toLocaleString('en-US')} statements a run (2 lines each); CPU µs per statement`);
  console.log(`A ${values.a}: ${show(a)}`);
  console.log(`B ${values.b}: ${show(b)}`);
  console.log(`none (B's recorder, events dropped): ${show(none)}`);
  console.log(`B/A per round: ${b.map((v, i) => (v / a[i]!).toFixed(3)).join(' ')}`);
  console.log(`the writer alone (minus none): A ${(mean(a) - mean(none)).toFixed(2)}, B ${(mean(b) - mean(none)).toFixed(2)} µs per statement`);
}
