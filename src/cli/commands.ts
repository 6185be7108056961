// The CLI's commands other than `start` (DESIGN.md "CLI (contract)"):
//   requests [--status pending|all]
//   approve ID [--reason R] [--for DURATION]
//   deny ID --reason R
//       talk to the console: --console URL (env SQLWARDEN_CONSOLE, default http://127.0.0.1:8080),
//       --token T (env SQLWARDEN_TOKEN)
//   classify --dialect postgres|mysql [--server-version V] [--rules DIR] [--user U --database D
//            --application A --listener L --client HOST:PORT] "SQL"
//       each statement's category, kind and the policy rule that would apply
//   rules check [DIR]
//       validates DIR/policy.yaml and DIR/masking.yaml
// DIR defaults to the `rules` of --config FILE (or ./sqlwarden.yaml, or the rules the package ships).
//
// API: runCommand(argv, io?) -> exit code: 0 done, 1 failed (the reason is on stderr), 2 wrong usage.
//      argv starts with the command: ['approve', 'r_abc', '--reason', 'ok']. `io` replaces stdout, stderr
//      and the environment (tests).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { classify, loadClassifier, parseMysqlServerVersion, type ClassifyContext } from '../classify/index.js';
import { loadConfig } from '../config.js';
import { checkRules } from '../policy/check.js';
import { loadPolicy } from '../policy/load.js';
import { describeRule, type PolicyIdentity } from '../policy/policy.js';
import { ConsoleClient, formatDecision, formatRequests } from './console-client.js';

export const commandsUsage = `  requests [--status pending|all]          list held statements (default: pending)
  approve ID [--reason R] [--for DURATION] approve; --for 15m also approves the same statements of the
                                           same user and database until the window closes
  deny ID --reason R                       deny; the client sees the reason
      --console URL   console address (env SQLWARDEN_CONSOLE, default http://127.0.0.1:8080)
      --token T       reviewer token (env SQLWARDEN_TOKEN)
  classify --dialect postgres|mysql "SQL"  print each statement's category, kind and the rule that applies
      [--server-version V] [--rules DIR] [--user U] [--database D] [--application A] [--listener L]
      [--client HOST:PORT]
  rules check [DIR]                        validate DIR/policy.yaml and DIR/masking.yaml`;

export interface CommandIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
}

const defaultIo: CommandIo = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  env: process.env,
};

/** Wrong usage: exit 2 with the message and the usage. */
class UsageError extends Error {}

const consoleOptions = {
  console: { type: 'string' },
  token: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function client(values: { console?: string; token?: string }, env: NodeJS.ProcessEnv): ConsoleClient {
  const token = values.token ?? env.SQLWARDEN_TOKEN;
  if (!token) throw new UsageError('no reviewer token: pass --token T or set SQLWARDEN_TOKEN');
  return new ConsoleClient(values.console ?? env.SQLWARDEN_CONSOLE ?? 'http://127.0.0.1:8080', token);
}

/** The rules folder: --rules/DIR, else the config's (which falls back to the package's). */
function rulesDir(explicit: string | undefined, configFile: string | undefined, env: NodeJS.ProcessEnv): string {
  return explicit ?? loadConfig(configFile, env).rules;
}

function onlyOne(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected ${what}${positionals.length > 1 ? `, got ${positionals.length} arguments` : ''}`);
  return positionals[0]!;
}

async function requests(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(args, { ...consoleOptions, status: { type: 'string', default: 'pending' } });
  if (positionals.length) throw new UsageError(`requests takes no arguments, got ${JSON.stringify(positionals[0])}`);
  if (values.status !== 'pending' && values.status !== 'all') throw new UsageError(`--status: expected pending or all, got ${JSON.stringify(values.status)}`);
  const views = await client(values, io.env).list(values.status);
  io.stdout(`${views.length === 0 ? (values.status === 'pending' ? 'no pending requests' : 'no requests') : formatRequests(views)}\n`);
  return 0;
}

async function approve(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(args, { ...consoleOptions, reason: { type: 'string' }, for: { type: 'string' } });
  const id = onlyOne(positionals, 'a request id: sqlwarden approve ID [--reason R] [--for DURATION]');
  const view = await client(values, io.env).approve(id, { reason: values.reason, for: values.for });
  io.stdout(`${formatDecision(view)}\n`);
  return 0;
}

async function deny(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(args, { ...consoleOptions, reason: { type: 'string' } });
  const id = onlyOne(positionals, 'a request id: sqlwarden deny ID --reason R');
  if (!values.reason?.trim()) throw new UsageError('deny needs --reason R: the client sees it');
  const view = await client(values, io.env).deny(id, values.reason);
  io.stdout(`${formatDecision(view)}\n`);
  return 0;
}

async function classifyCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(args, {
    dialect: { type: 'string' },
    'server-version': { type: 'string' },
    rules: { type: 'string' },
    config: { type: 'string', short: 'c' },
    user: { type: 'string' },
    database: { type: 'string' },
    application: { type: 'string' },
    listener: { type: 'string' },
    client: { type: 'string' },
  });
  const sql = onlyOne(positionals, 'one SQL text: sqlwarden classify --dialect postgres|mysql "SQL"');
  let ctx: ClassifyContext;
  if (values.dialect === 'postgres') {
    await loadClassifier();
    ctx = { dialect: 'postgres' };
  } else if (values.dialect === 'mysql') {
    ctx = { dialect: 'mysql', ...parseMysqlServerVersion(values['server-version'] ?? '8.0.36') };
  } else {
    throw new UsageError(`--dialect: expected postgres or mysql, got ${values.dialect === undefined ? 'nothing' : JSON.stringify(values.dialect)}`);
  }
  const policy = loadPolicy(rulesDir(values.rules, values.config, io.env));
  const identity: PolicyIdentity = { user: values.user, database: values.database, application: values.application, listener: values.listener, client: values.client };
  const statements = classify(sql, ctx);
  if (statements.length === 0) {
    io.stdout('no statement\n');
    return 0;
  }
  const lines = statements.map((st) => {
    const rule = describeRule(policy.decide([st], identity));
    return `${st.category}\t${st.kind}\t${rule}\t${st.text.replace(/\s+/g, ' ')}${st.reason ? ` -- ${st.reason}` : ''}`;
  });
  if (statements.length > 1) lines.push(`query\t${describeRule(policy.decide(statements, identity))}`);
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}

async function rules(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string', short: 'c' } });
  if (positionals[0] !== 'check' || positionals.length > 2) throw new UsageError('expected: sqlwarden rules check [DIR]');
  const result = checkRules(rulesDir(positionals[1], values.config, io.env));
  (result.ok ? io.stdout : io.stderr)(`${result.lines.join('\n')}\n`);
  return result.ok ? 0 : 1;
}

const commands: Record<string, (args: string[], io: CommandIo) => Promise<number>> = {
  requests,
  approve,
  deny,
  classify: classifyCommand,
  rules,
};

export async function runCommand(argv: string[], io: Partial<CommandIo> = {}): Promise<number> {
  const out: CommandIo = { ...defaultIo, ...io };
  const [name, ...args] = argv;
  const command = name === undefined ? undefined : commands[name];
  if (!command) {
    out.stderr(`sqlwarden: unknown command ${JSON.stringify(name ?? '')}\n${commandsUsage}\n`);
    return 2;
  }
  try {
    return await command(args, out);
  } catch (err) {
    if (err instanceof UsageError) {
      out.stderr(`sqlwarden ${name}: ${err.message}\n`);
      return 2;
    }
    // ConsoleClientError, PolicyError, ConfigError, SqlRefusedError...: each message says what was wrong.
    out.stderr(`sqlwarden ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
