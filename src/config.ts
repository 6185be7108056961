// The config file of DESIGN.md ("Config file (contract)"): YAML, validated with zod, `${VAR}` from the
// environment, relative paths resolved against the file's folder. Errors name the key that is wrong.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { keyPath } from './yaml-errors.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface HostPort {
  host: string;
  port: number;
}

/** Folder holding the rules the package ships (policy.yaml, masking.yaml). */
export const packageRulesDir = fileURLToPath(new URL('../rules', import.meta.url));

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "10m" -> 600000; "1h30m" is not accepted: one number, one unit. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(text.trim());
  return m ? Math.round(Number(m[1]) * durationUnits[m[2]!]!) : undefined;
}

/** host:port, [v6]:port. Port 0 (pick a free one) only where `allowAnyPort`, i.e. for listen addresses. */
export function parseHostPort(text: string, allowAnyPort = false): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:\[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535 || (port === 0 && !allowAnyPort)) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

const hostPortOf = (allowAnyPort: boolean) =>
  z.string().transform((text, ctx) => {
    const hp = parseHostPort(text, allowAnyPort);
    if (!hp) {
      ctx.addIssue({ code: 'custom', message: `expected host:port, got ${JSON.stringify(text)}` });
      return z.NEVER;
    }
    return hp;
  });
const hostPort = hostPortOf(false);
const listenAddress = hostPortOf(true);

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = typeof value === 'number' ? value * 1000 : parseDuration(value);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like 30s, 10m or 2h, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return ms;
});

const tlsFiles = z.strictObject({ cert: z.string().min(1), key: z.string().min(1), ca: z.string().min(1).optional() });

export const upstreamTlsModes = ['disable', 'prefer', 'require', 'verify-full'] as const;

const listener = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a name of letters, digits, _ . -'),
  protocol: z.enum(['postgres', 'mysql']),
  listen: listenAddress,
  upstream: hostPort,
  tls: tlsFiles.optional(),
  upstreamTls: z.enum(upstreamTlsModes).default('prefer'),
  /** CA file to verify the upstream's certificate with, for verify-full (default: the system's). */
  upstreamCa: z.string().min(1).optional(),
  catalog: z.string().min(1).optional(),
  /** Largest protocol message accepted in either direction; larger ones end the session (08P01). */
  maxMessageBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(256 * 1024 * 1024),
});

const reviewer = z.strictObject({
  name: z.string().min(1),
  token: z.string().min(16, 'expected a token of at least 16 characters'),
  databaseUsers: z.array(z.string().min(1)).default([]),
});

const schema = z.strictObject({
  listeners: z.array(listener).min(1),
  console: z
    .strictObject({
      listen: listenAddress.default({ host: '127.0.0.1', port: 8080 }),
      publicUrl: z.string().url().optional(),
      reviewers: z.array(reviewer).default([]),
      webhooks: z.array(z.strictObject({ url: z.string().url(), secret: z.string().min(1) })).default([]),
    })
    .default({ listen: { host: '127.0.0.1', port: 8080 }, reviewers: [], webhooks: [] }),
  rules: z.string().min(1).optional(),
  approvals: z.strictObject({ timeout: duration.default(600_000) }).default({ timeout: 600_000 }),
  audit: z
    .strictObject({
      file: z.string().min(1).default('./audit.jsonl'),
      /** Rotate past this size; the hash chain continues in the next file. */
      maxBytes: z.number().int().min(4096).default(64 * 1024 * 1024),
      /** Longer SQL text is cut in the audit (and says so). */
      maxSqlChars: z.number().int().min(256).default(65536),
    })
    .default({ file: './audit.jsonl', maxBytes: 64 * 1024 * 1024, maxSqlChars: 65536 }),
  masking: z
    .strictObject({
      key: z.string().min(1).optional(),
      workers: z.number().int().min(0).max(64).default(2),
      /** auto: batches go to the workers only while the machine has cores to spare (masking/headroom.ts). */
      offload: z.enum(['auto', 'always']).default('auto'),
    })
    .default({ workers: 2, offload: 'auto' }),
  log: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .default({ level: 'info' }),
});

export type Config = z.output<typeof schema> & { rules: string; source: string };
export type ListenerConfig = Config['listeners'][number];

export const defaultConfigInput = {
  listeners: [
    { name: 'pg', protocol: 'postgres', listen: '127.0.0.1:15432', upstream: '127.0.0.1:5432' },
    { name: 'my', protocol: 'mysql', listen: '127.0.0.1:13306', upstream: '127.0.0.1:3306' },
  ],
};


/** Replaces `${VAR}` in every string of the parsed document; an unset variable is an error naming the key. */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, at: PropertyKey[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) throw new ConfigError(`${keyPath(at)}: environment variable ${name} is not set`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...at, i]));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, [...at, k])]));
  }
  return value;
}

/** Validates an already parsed document. `baseDir` anchors relative file paths. */
export function buildConfig(input: unknown, opts: { baseDir: string; source: string; env?: NodeJS.ProcessEnv }): Config {
  const doc = interpolate(input ?? {}, opts.env ?? process.env, []);
  const result = schema.safeParse(doc);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${keyPath(i.path)}: ${i.message}`);
    throw new ConfigError(`${opts.source}: ${lines.join('; ')}`);
  }
  const cfg = result.data;
  const names = new Set<string>();
  cfg.listeners.forEach((l, i) => {
    if (names.has(l.name)) throw new ConfigError(`${opts.source}: listeners[${i}].name: duplicate name ${JSON.stringify(l.name)}`);
    names.add(l.name);
  });
  const abs = (p: string) => path.resolve(opts.baseDir, p);
  for (const l of cfg.listeners) {
    if (l.tls) l.tls = { cert: abs(l.tls.cert), key: abs(l.tls.key), ...(l.tls.ca ? { ca: abs(l.tls.ca) } : {}) };
    if (l.upstreamCa) l.upstreamCa = abs(l.upstreamCa);
  }
  cfg.audit.file = abs(cfg.audit.file);
  const rules = cfg.rules ? abs(cfg.rules) : packageRulesDir;
  return deepFreeze({ ...cfg, rules, source: opts.source });
}

/** Reads FILE, or ./sqlwarden.yaml when present, or the built-in defaults. */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): Config {
  const chosen = file ?? (existsSync('sqlwarden.yaml') ? 'sqlwarden.yaml' : undefined);
  if (!chosen) return buildConfig(defaultConfigInput, { baseDir: process.cwd(), source: 'built-in defaults', env });
  let text: string;
  try {
    text = readFileSync(chosen, 'utf8');
  } catch (err) {
    throw new ConfigError(`${chosen}: cannot read: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${chosen}: not valid YAML: ${(err as Error).message}`);
  }
  return buildConfig(doc, { baseDir: path.dirname(path.resolve(chosen)), source: chosen, env });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
