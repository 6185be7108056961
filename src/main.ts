#!/usr/bin/env node
// CLI (DESIGN.md, "CLI (contract)"): `sqlwarden [start] [--config FILE]`.
import { parseArgs } from 'node:util';
import { loadConfig, ConfigError, formatHostPort } from './config.js';
import { startApp } from './app.js';
import { createLogger } from './log.js';

const usage = `usage: sqlwarden [start] [--config FILE]

  start            run every listener (default command)
  --config FILE    config file (default: ./sqlwarden.yaml if present, else built-in defaults)
  --help           this text`;

async function start(configFile?: string): Promise<void> {
  const config = loadConfig(configFile);
  const log = createLogger(config.log.level);
  const app = await startApp(config, { log });
  for (const l of app.listeners) {
    process.stderr.write(
      `sqlwarden: ${l.config.protocol} listener "${l.config.name}" on ${formatHostPort(l.address)} -> ${formatHostPort(l.config.upstream)}\n`,
    );
  }
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

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  const command = positionals[0] ?? 'start';
  switch (command) {
    case 'start':
      await start(values.config);
      return -1; // keeps running
    default:
      process.stderr.write(`sqlwarden: unknown command ${JSON.stringify(command)}\n${usage}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sqlwarden: ${err instanceof ConfigError ? err.message : err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
