// Runs once before the tests: fails the whole run, with the reason, when a database the tests need is not
// reachable; builds dist/ so tests can run the CLI as users do.
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { pg, mysql } from './databases.js';

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(3000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export default async function setup(): Promise<void> {
  const missing: string[] = [];
  if (!(await reachable(pg.host, pg.port))) missing.push(`PostgreSQL at ${pg.host}:${pg.port} (set PG_URL)`);
  if (!(await reachable(mysql.host, mysql.port))) missing.push(`MySQL/MariaDB at ${mysql.host}:${mysql.port} (set MYSQL_URL)`);
  if (missing.length) throw new Error(`integration tests need: ${missing.join('; ')}. Start them (see .ci/run) and run again.`);
  // Type errors do not stop the emit; test/unit/typecheck.test.ts reports them as a failing test.
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'pipe' });
  } catch {
    /* emitted anyway */
  }
}
