// Runs once before the tests: finds the databases (PG_URL / MYSQL_URL, else the local services, else
// containers where a Docker engine runs), fails the whole run with the reason when one cannot be reached,
// and builds dist/ so tests can run the CLI as users do.
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { startContainersIfNeeded } from './containers.js';

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

export default async function setup(): Promise<(() => Promise<void>) | void> {
  // Sets PG_URL / MYSQL_URL when it starts containers; the test workers inherit them.
  const containers = await startContainersIfNeeded();
  if (containers) process.stderr.write(`databases from containers: ${containers.started.join(', ')}\n`);
  try {
    // Read after the containers: databases.ts takes the URLs when it is first imported.
    const { pg, mysql } = await import('./databases.js');
    const missing: string[] = [];
    if (!(await reachable(pg.host, pg.port))) missing.push(`PostgreSQL at ${pg.host}:${pg.port} (set PG_URL)`);
    if (!(await reachable(mysql.host, mysql.port))) missing.push(`MySQL/MariaDB at ${mysql.host}:${mysql.port} (set MYSQL_URL)`);
    if (missing.length) throw new Error(`integration tests need: ${missing.join('; ')}. Start them (see .ci/run) and run again.`);
  } catch (err) {
    await containers?.stop();
    throw err;
  }
  // Type errors do not stop the emit; test/unit/typecheck.test.ts reports them as a failing test.
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'pipe' });
  } catch {
    /* emitted anyway */
  }
  return containers ? () => containers.stop() : undefined;
}
