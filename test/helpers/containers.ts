// Databases from containers, for machines with a Docker engine and no local PostgreSQL/MariaDB: when PG_URL
// (or MYSQL_URL) is unset AND nothing listens on the local default port AND a Docker engine answers, starts
// postgres:16 (trust auth, db `test`) or mariadb:10.11 (root without password, db `test`) with testcontainers
// and sets PG_URL / MYSQL_URL, which test/helpers/databases.ts reads. Anything else (URLs set, local
// services up, no engine) does nothing: global-setup then reports what is missing, as before.
//
// Called from global-setup.ts before it reads databases.ts; test workers inherit the environment it sets.
import http from 'node:http';
import net from 'node:net';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Containers {
  /** What was started, e.g. ["postgres:16 at 127.0.0.1:32768"]. */
  started: string[];
  stop(): Promise<void>;
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(2000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Where the Docker API is, as the docker CLI looks: DOCKER_HOST, else the usual sockets. */
export function dockerEndpoint(env: NodeJS.ProcessEnv = process.env): { socketPath: string } | { host: string; port: number } | undefined {
  const dockerHost = env.DOCKER_HOST;
  if (dockerHost) {
    if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
    const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
    return { host: url.hostname, port: Number(url.port || 2375) };
  }
  const candidates = ['/var/run/docker.sock', path.join(os.homedir(), '.docker/run/docker.sock'), `/run/user/${process.getuid?.() ?? 0}/docker.sock`];
  const socketPath = candidates.find((p) => existsSync(p));
  return socketPath ? { socketPath } : undefined;
}

/** True when a Docker engine answers GET /_ping with OK within `timeoutMs`. */
export function dockerEngineAnswers(env: NodeJS.ProcessEnv = process.env, timeoutMs = 2000): Promise<boolean> {
  const endpoint = dockerEndpoint(env);
  if (!endpoint) return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = http.get({ ...endpoint, path: '/_ping', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 && body.trim() === 'OK'));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** The local services' ports, as databases.ts defaults to them. */
export const localPorts = { postgres: 5432, mysql: 3306 };

/** Which databases would come from containers: those with no URL and nothing on the local port. */
export async function databasesToStart(env: NodeJS.ProcessEnv = process.env, local = localPorts): Promise<('postgres' | 'mysql')[]> {
  const wanted: ('postgres' | 'mysql')[] = [];
  if (!env.PG_URL && !(await portOpen('127.0.0.1', local.postgres))) wanted.push('postgres');
  if (!env.MYSQL_URL && !(await portOpen('127.0.0.1', local.mysql))) wanted.push('mysql');
  return wanted;
}

/** Starts what is missing (see the header); undefined when nothing was started. */
export async function startContainersIfNeeded(env: NodeJS.ProcessEnv = process.env, local = localPorts): Promise<Containers | undefined> {
  const wanted = await databasesToStart(env, local);
  if (wanted.length === 0 || !(await dockerEngineAnswers(env))) return undefined;
  // Loaded only here: most runs never need it.
  const { GenericContainer, Wait } = await import('testcontainers');
  const running: { stop(): Promise<unknown> }[] = [];
  const started: string[] = [];
  const stop = async () => {
    await Promise.all(running.map((c) => c.stop()));
  };
  try {
    if (wanted.includes('postgres')) {
      const c = await new GenericContainer('postgres:16')
        .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust', POSTGRES_DB: 'test' })
        .withExposedPorts(5432)
        // The entrypoint starts the server twice (init scripts, then for real).
        .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
        .withStartupTimeout(120_000)
        .start();
      running.push(c);
      env.PG_URL = `postgres://postgres@${c.getHost()}:${c.getMappedPort(5432)}/test`;
      started.push(`postgres:16 at ${c.getHost()}:${c.getMappedPort(5432)}`);
    }
    if (wanted.includes('mysql')) {
      const c = await new GenericContainer('mariadb:10.11')
        .withEnvironment({ MARIADB_ALLOW_EMPTY_ROOT_PASSWORD: '1', MARIADB_DATABASE: 'test' })
        .withExposedPorts(3306)
        .withWaitStrategy(Wait.forLogMessage(/ready for connections/, 2))
        .withStartupTimeout(120_000)
        .start();
      running.push(c);
      env.MYSQL_URL = `mysql://root@${c.getHost()}:${c.getMappedPort(3306)}/test`;
      started.push(`mariadb:10.11 at ${c.getHost()}:${c.getMappedPort(3306)}`);
    }
  } catch (err) {
    await stop();
    throw new Error(`starting database containers failed: ${(err as Error).message}`);
  }
  return { started, stop };
}
