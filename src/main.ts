#!/usr/bin/env node
// CLI (DESIGN.md, "CLI (contract)"): `sqlwarden [start] [--config FILE]` runs the proxy; every other command
// (requests, approve, deny, classify, rules check) is in cli/commands.ts.
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { loadConfig, formatHostPort } from './config.js';
import { startApp } from './app.js';
import { createLogger } from './log.js';
import { commandsUsage, runCommand } from './cli/commands.js';
import { runAuditVerify } from './audit/index.js';

const usage = `usage: sqlwarden [command] [options]

  start [--config FILE]                    run every listener and the console (default command);
                                           FILE defaults to ./sqlwarden.yaml if present, else built-in defaults
${commandsUsage}
  audit verify FILE                        check the audit trail's hash chain (rotated files too); exit 1 at
                                           the first edited, dropped or reordered line
  --help                                   this text`;

/**
 * Every client socket read is a new 64 KiB buffer (upstream reads land in slabs: session/read-slab.ts), and a
 * proxy allocates much of its throughput besides (masked rows, batches). With V8's default
 * heap growing, the old generation's limit sits just above the live heap (~20 MiB of parsers and caches), and
 * a full mark-compact ran every ~30 MB read: about half the proxy's CPU on a large result. Letting the old
 * generation grow to 3x its live size before a full GC removes them (`npm run bench` passthrough, 1,000,000
 * rows through pg: ~290 -> ~130 ms of proxy CPU a read). A value given in NODE_OPTIONS or on the command line wins.
 */
function tuneGc(): void {
  const given = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`;
  if (!given.includes('heap-growing-percent')) v8.setFlagsFromString('--heap-growing-percent=200');
}

async function start(argv: string[]): Promise<void> {
  tuneGc();
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } }, strict: true });
  const config = loadConfig(values.config);
  const log = createLogger(config.log.level);
  const app = await startApp(config, { log });
  for (const l of app.listeners) {
    process.stderr.write(`sqlwarden: ${l.config.protocol} listener "${l.config.name}" on ${formatHostPort(l.address)} -> ${formatHostPort(l.config.upstream)}\n`);
  }
  process.stderr.write(`sqlwarden: console on ${app.consoleUrl}\n`);
  process.on('SIGHUP', () => app.reload());
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining sessions, then stopping');
    // SIGTERM drains: open sessions get 30 s to finish; a second signal stops at once.
    process.once('SIGTERM', () => process.exit(1));
    process.once('SIGINT', () => process.exit(1));
    void app.close(signal === 'SIGTERM' ? 30_000 : 0).then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

async function main(argv: string[]): Promise<number | undefined> {
  const [first] = argv;
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(usage + '\n');
    return 0;
  }
  if (first === undefined || first === 'start' || first.startsWith('-')) {
    await start(first === 'start' ? argv.slice(1) : argv);
    return undefined; // keeps running
  }
  if (first === 'audit') {
    if (argv[1] !== 'verify' || !argv[2]) {
      process.stderr.write('usage: sqlwarden audit verify FILE\n');
      return 2;
    }
    return runAuditVerify(argv[2]);
  }
  return runCommand(argv);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sqlwarden: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
