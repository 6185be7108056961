// docker/: no Docker engine runs here, so the files are checked by reading them: compose.yaml parsed as
// YAML and held against the sqlwarden config it mounts (validated by the real buildConfig), the Dockerfile's
// instructions parsed line by line, and .dockerignore held against what the Dockerfile copies.
import { existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { buildConfig, type Config } from '../../src/config.js';
import { loadMaskingRules } from '../../src/masking/rules.js';
import { loadPolicy } from '../../src/policy/load.js';
import { databasesToStart, dockerEndpoint, dockerEngineAnswers, startContainersIfNeeded } from '../helpers/containers.js';

const root = path.resolve(import.meta.dirname, '../..');
const dockerDir = path.join(root, 'docker');

// ---- compose ----

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const compose = parseYaml(readFileSync(path.join(dockerDir, 'compose.yaml'), 'utf8')) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const sqlwarden = compose.services.sqlwarden!;

/** Compose's `${VAR:-default}` with VAR unset, as on a fresh machine. */
function composeValue(text: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (_, name: string, fallback?: string) => {
    if (fallback === undefined) throw new Error(`compose.yaml: \${${name}} has no default`);
    return fallback;
  });
}

/** "host:container:ro" volume entries of a service, source resolved against docker/ when a path. */
function mounts(service: Service): { source: string; target: string; readOnly: boolean }[] {
  return (service.volumes ?? []).map((v) => {
    const [source, target, mode] = v.split(':');
    return { source: source!.startsWith('.') ? path.resolve(dockerDir, source!) : source!, target: target!, readOnly: mode === 'ro' };
  });
}

/** "127.0.0.1:15432:15432" -> { host: 15432, container: 15432, bind: "127.0.0.1" } */
function published(service: Service): { bind?: string; host: number; container: number }[] {
  return (service.ports ?? []).map((p) => {
    const parts = p.split(':');
    const container = Number(parts.pop());
    const host = Number(parts.pop());
    return { bind: parts[0], host, container };
  });
}

const configMount = mounts(sqlwarden).find((m) => m.target.endsWith('.yaml'))!;
const serviceEnv = Object.fromEntries(Object.entries(sqlwarden.environment ?? {}).map(([k, v]) => [k, composeValue(String(v))]));

function demoConfig(env: NodeJS.ProcessEnv = serviceEnv): Config {
  return buildConfig(parseYaml(readFileSync(configMount.source, 'utf8')), { baseDir: path.dirname(configMount.target), source: 'docker/sqlwarden.yaml', env });
}

// ---- Dockerfile ----

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Instructions with continuation lines joined and comments dropped; `stage` counts FROMs (0-based). */
function dockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // comments inside a continued instruction
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const space = full.search(/\s/);
    const op = full.slice(0, space).toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ op, args: full.slice(space + 1).trim(), stage });
  }
  expect(pending, 'Dockerfile ends inside a continued line').toBe('');
  return out;
}

const instructions = dockerfile(readFileSync(path.join(dockerDir, 'Dockerfile'), 'utf8'));
const lastStage = Math.max(...instructions.map((i) => i.stage));
const final = instructions.filter((i) => i.stage === lastStage);
const one = (op: string) => {
  const found = final.filter((i) => i.op === op);
  expect(found, `final stage has one ${op}`).toHaveLength(1);
  return found[0]!;
};
/** ["a","b"] exec form, parsed as JSON: the shell form would put /bin/sh in front of node. */
const execForm = (args: string) => JSON.parse(args) as string[];

describe('docker/compose.yaml', () => {
  it('runs postgres 16, mysql 8 and sqlwarden built from docker/Dockerfile', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['mysql', 'postgres', 'sqlwarden']);
    expect(compose.services.postgres!.image).toBe('postgres:16');
    expect(compose.services.mysql!.image).toBe('mysql:8');
    const build = sqlwarden.build!;
    const context = path.resolve(dockerDir, build.context);
    expect(context).toBe(root);
    expect(statSync(path.join(context, build.dockerfile)).isFile()).toBe(true);
  });

  it('starts sqlwarden only once both databases report healthy', () => {
    for (const db of ['postgres', 'mysql']) {
      expect(sqlwarden.depends_on?.[db]?.condition).toBe('service_healthy');
      expect(compose.services[db]!.healthcheck?.test[0]).toBe('CMD');
    }
  });

  it('mounts the config and the example rules read-only where the Dockerfile looks for them', () => {
    const cmd = execForm(one('CMD').args);
    expect(configMount.target).toBe(cmd[cmd.indexOf('--config') + 1]);
    expect(configMount.readOnly).toBe(true);
    expect(statSync(configMount.source).isFile()).toBe(true);
    const rules = mounts(sqlwarden).find((m) => m.target === demoConfig().rules)!;
    expect(rules, 'a volume mounted at the config\'s rules folder').toBeDefined();
    expect(rules.readOnly).toBe(true);
    // The mounted rules are the repository's examples, and they compile.
    expect(() => loadPolicy(rules.source)).not.toThrow();
    expect(() => loadMaskingRules(rules.source, { hashKey: 'test' })).not.toThrow();
  });

  it('keeps the audit trail on a named volume at the config\'s audit folder', () => {
    const audit = mounts(sqlwarden).find((m) => m.target === path.dirname(demoConfig().audit.file))!;
    expect(audit).toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(audit.source);
  });

  it('has a sqlwarden config that validates, with every variable it reads given by the service', () => {
    const config = demoConfig();
    expect(config.listeners.map((l) => [l.protocol, l.listen.host, `${l.upstream.host}:${l.upstream.port}`])).toEqual([
      ['postgres', '0.0.0.0', 'postgres:5432'],
      ['mysql', '0.0.0.0', 'mysql:3306'],
    ]);
    expect(config.console.listen.host).toBe('0.0.0.0');
    expect(config.console.reviewers).toHaveLength(1);
    expect(config.masking.key).toBe(serviceEnv.SQLWARDEN_MASK_KEY);
    // Without the service's environment the config does not load: the defaults come from compose.yaml.
    expect(() => demoConfig({})).toThrow(/environment variable SQLWARDEN_\w+ is not set/);
  });

  it('publishes every listener and the console, on the host\'s loopback only, and nothing of the databases', () => {
    const config = demoConfig();
    const wanted = [...config.listeners.map((l) => l.listen.port), config.console.listen.port].sort();
    const ports = published(sqlwarden);
    expect(ports.map((p) => p.container).sort()).toEqual(wanted);
    for (const p of ports) expect(p.bind).toBe('127.0.0.1');
    expect(compose.services.postgres!.ports).toBeUndefined();
    expect(compose.services.mysql!.ports).toBeUndefined();
  });

  it('health-checks sqlwarden on the console\'s /healthz', () => {
    const test = sqlwarden.healthcheck!.test.join(' ');
    expect(test).toContain(`http://127.0.0.1:${demoConfig().console.listen.port}/healthz`);
  });

  it('seeds each database with the demo table from a file that exists', () => {
    for (const db of ['postgres', 'mysql']) {
      const init = mounts(compose.services[db]!).find((m) => m.target.startsWith('/docker-entrypoint-initdb.d/'))!;
      expect(readFileSync(init.source, 'utf8')).toMatch(/CREATE TABLE customers/);
    }
  });
});

describe('docker/Dockerfile', () => {
  it('builds in a stage named build and runs from a slim node 20 image', () => {
    const froms = instructions.filter((i) => i.op === 'FROM').map((i) => i.args);
    expect(froms.some((f) => /\bAS build$/i.test(f))).toBe(true);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(froms[lastStage]).toMatch(/^node:20-(slim|alpine)\b/);
    const buildStage = froms.findIndex((f) => /\bAS build$/i.test(f));
    const built = instructions.filter((i) => i.stage === buildStage && i.op === 'RUN').map((i) => i.args);
    expect(built.some((r) => r.includes('npm ci'))).toBe(true);
    expect(built.some((r) => r.includes('tsc -p tsconfig.build.json'))).toBe(true);
  });

  it('runs without the compiler or dev dependencies: node_modules from an --omit=dev install', () => {
    const copies = final.filter((i) => i.op === 'COPY').map((i) => i.args);
    const modules = copies.find((c) => c.endsWith('./node_modules'))!;
    const from = /--from=(\S+)/.exec(modules)![1]!;
    const stage = instructions.findIndex((i) => i.op === 'FROM' && new RegExp(`\\bAS ${from}$`, 'i').test(i.args));
    const runs = instructions.filter((i) => i.stage === instructions[stage]!.stage && i.op === 'RUN').map((i) => i.args);
    expect(runs.some((r) => r.includes('npm ci') && r.includes('--omit=dev'))).toBe(true);
    expect(copies.some((c) => /--from=build\s+\/app\/dist\s/.test(c))).toBe(true);
    for (const needed of ['rules', 'src/console/public']) expect(copies.some((c) => c.startsWith(`${needed} `))).toBe(true);
  });

  it('runs as a non-root user', () => {
    const user = one('USER').args;
    expect(['root', '0', '0:0']).not.toContain(user);
    // USER comes before the entrypoint runs anything: nothing after it switches back.
    expect(final.findIndex((i) => i.op === 'USER')).toBeLessThan(final.findIndex((i) => i.op === 'ENTRYPOINT'));
  });

  it('has a HEALTHCHECK on the console\'s /healthz', () => {
    const health = one('HEALTHCHECK').args;
    expect(health).toMatch(/\bCMD\b/);
    const env = final.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
    const url = /SQLWARDEN_HEALTHZ=(\S+)/.exec(env)?.[1];
    expect(health).toContain('process.env.SQLWARDEN_HEALTHZ');
    expect(url).toBe(`http://127.0.0.1:${demoConfig().console.listen.port}/healthz`);
  });

  it('exposes the ports of the demo config and starts the CLI with that config path', () => {
    const config = demoConfig();
    const exposed = one('EXPOSE').args.split(/\s+/).map(Number).sort();
    expect(exposed).toEqual([...config.listeners.map((l) => l.listen.port), config.console.listen.port].sort());
    expect(execForm(one('ENTRYPOINT').args)).toEqual(['node', 'dist/main.js']);
    expect(execForm(one('CMD').args)).toEqual(['start', '--config', '/etc/sqlwarden/sqlwarden.yaml']);
    // dist/main.js is what the build stage's tsc emits for src/main.ts.
    const build = JSON.parse(readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { rootDir: string; outDir: string } };
    expect(build.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    expect(existsSync(path.join(root, 'src/main.ts'))).toBe(true);
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const ignored = readFileSync(path.join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const sources = instructions
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const src of sources) {
      expect(existsSync(path.join(root, src)), `${src} exists`).toBe(true);
      const top = src.split('/')[0]!;
      expect(ignored.filter((pattern) => pattern === top || pattern === src), `${src} is not ignored`).toEqual([]);
    }
    // What must never reach the image.
    for (const secret of ['.git', 'node_modules', '.env', 'audit.jsonl']) expect(ignored).toContain(secret);
  });
});

describe('test/helpers/containers.ts', () => {
  /** A port nothing listens on: bound, then closed. */
  async function closedPort(): Promise<number> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  it('finds the engine where DOCKER_HOST says, unix or tcp', () => {
    expect(dockerEndpoint({ DOCKER_HOST: 'unix:///tmp/d.sock' })).toEqual({ socketPath: '/tmp/d.sock' });
    expect(dockerEndpoint({ DOCKER_HOST: 'tcp://10.0.0.5:2376' })).toEqual({ host: '10.0.0.5', port: 2376 });
  });

  it('sees no engine when nothing answers at DOCKER_HOST', async () => {
    expect(await dockerEngineAnswers({ DOCKER_HOST: `tcp://127.0.0.1:${await closedPort()}` })).toBe(false);
  });

  it('sees an engine that answers /_ping with OK, and not a server that answers otherwise', async () => {
    let reply = 'OK';
    const server = http.createServer((req, res) => res.end(req.url === '/_ping' ? reply : 'no'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const env = { DOCKER_HOST: `tcp://127.0.0.1:${(server.address() as AddressInfo).port}` };
    try {
      expect(await dockerEngineAnswers(env)).toBe(true);
      reply = 'not docker';
      expect(await dockerEngineAnswers(env)).toBe(false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('wants a container for each database with no URL and nothing listening on its local port', async () => {
    const closed = { postgres: await closedPort(), mysql: await closedPort() };
    expect(await databasesToStart({}, closed)).toEqual(['postgres', 'mysql']);
    expect(await databasesToStart({ MYSQL_URL: 'mysql://u@db/x' }, closed)).toEqual(['postgres']);
    const listening = http.createServer();
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    try {
      expect(await databasesToStart({}, { ...closed, postgres: (listening.address() as AddressInfo).port })).toEqual(['mysql']);
    } finally {
      await new Promise((resolve) => listening.close(resolve));
    }
  });

  it('starts nothing and sets no URL when both databases are missing but no engine answers', async () => {
    const env: NodeJS.ProcessEnv = { DOCKER_HOST: `tcp://127.0.0.1:${await closedPort()}` };
    expect(await startContainersIfNeeded(env, { postgres: await closedPort(), mysql: await closedPort() })).toBeUndefined();
    expect(env.PG_URL).toBeUndefined();
    expect(env.MYSQL_URL).toBeUndefined();
  });

  it('starts nothing when PG_URL and MYSQL_URL are set, whatever the engine', async () => {
    const env: NodeJS.ProcessEnv = { PG_URL: 'postgres://u@db:5432/x', MYSQL_URL: 'mysql://u@db:3306/x' };
    expect(await startContainersIfNeeded(env)).toBeUndefined();
    expect(env).toEqual({ PG_URL: 'postgres://u@db:5432/x', MYSQL_URL: 'mysql://u@db:3306/x' });
  });
});
