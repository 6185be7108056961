// Composition root: builds the parts from a Config and wires them. No logic of its own.
import type { Config, ListenerConfig } from './config.js';
import { formatHostPort } from './config.js';
import { createLogger, type Logger } from './log.js';
import { Classifier, loadClassifier } from './classify/index.js';
import { loadPolicy } from './policy/load.js';
import type { Policy } from './policy/policy.js';
import { Broker } from './approval/broker.js';
import { AuditLog } from './audit/log.js';
import { AuditRecorder } from './audit/recorder.js';
import { redactSql } from './audit/sql-redact.js';
import { Reviewers } from './approval/identity.js';
import { createConsoleServer, type ConsoleServer } from './console/server.js';
import { attachConsole } from './console/attach.js';
import type { Metrics } from './console/metrics.js';
import { PolicyGate } from './session/gate.js';
import { MaskingRulesWatcher } from './masking/rules.js';
import { MaskingPool } from './masking/pool.js';
import { MaskingStage } from './masking/stage.js';
import { MaskingRowStage } from './masking/row-stage.js';
import { nativeRowsLoaded } from './masking/native.js';
import { PgCatalog } from './session/pg-catalog.js';
import { MysqlCatalog } from './session/mysql-catalog.js';
import type { Gate } from './session/hooks.js';
import { Listener, type SessionDeps, type SessionFactory } from './session/listener.js';
import { createPostgresSession } from './session/postgres.js';
import { createMysqlSession } from './session/mysql.js';

const sessionFactories: Record<ListenerConfig['protocol'], SessionFactory | undefined> = {
  postgres: createPostgresSession,
  mysql: createMysqlSession,
};

export interface AppOptions {
  log?: Logger;
  /** false: no masking at all (tests of pure transparency). */
  masking?: false;
  /** Replaces the policy gate (tests of pure transparency use an allow-all gate). */
  gate?: Gate;
}

export interface App {
  readonly config: Config;
  readonly log: Logger;
  readonly listeners: Listener[];
  readonly broker: Broker;
  readonly audit: AuditLog;
  readonly console: ConsoleServer;
  readonly metrics: Metrics;
  /** Where reviewers reach the console. */
  readonly consoleUrl: string;
  /** The address a listener is bound to, by name (useful with port 0). */
  address(name: string): { host: string; port: number };
  /** Re-reads the rules (SIGHUP); keeps the old ones when the new ones are invalid. */
  reload(): void;
  /** Stops accepting, gives sessions `drainMs` to finish, then closes them. */
  close(drainMs?: number): Promise<void>;
}

export async function startApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const log = opts.log ?? createLogger(config.log.level);
  await loadClassifier();
  // What is open so far, each with how it closes: App.close() runs them in reverse, and so does a start that
  // fails part way (invalid masking rules, a port taken, the console's files missing), so a failed start leaves
  // nothing running and `sqlwarden start` exits.
  const opened: Closer[] = [];
  try {
    return await assemble(config, opts, log, opened);
  } catch (err) {
    await closeInReverse(opened, 0, { keepGoing: true });
    throw err;
  }
}

/** Closes one part; `drainMs`: how long open sessions get to finish (listeners only). */
type Closer = (drainMs: number) => unknown;

/** `keepGoing`: a part that fails to close does not stop the rest (after a failed start, the error that matters is the start's). */
async function closeInReverse(opened: readonly Closer[], drainMs: number, opts: { keepGoing?: boolean } = {}): Promise<void> {
  for (let i = opened.length - 1; i >= 0; i--) {
    try {
      await opened[i]!(drainMs);
    } catch (err) {
      if (!opts.keepGoing) throw err;
    }
  }
}

async function assemble(config: Config, opts: AppOptions, log: Logger, opened: Closer[]): Promise<App> {
  let policy: Policy = loadPolicy(config.rules);
  const audit = await AuditLog.open(config.audit.file, {
    log: log.child({ part: 'audit' }),
    redact: redactSql,
    maxBytes: config.audit.maxBytes,
    maxSqlChars: config.audit.maxSqlChars,
  });
  opened.push(() => audit.close());
  let onMasked: (rule: string, cells: number) => void = () => undefined;
  const recorder = new AuditRecorder(audit, (rule, cells) => onMasked(rule, cells));
  const broker = new Broker({ timeoutMs: config.approvals.timeout, log, beforeDecisionApplied: recorder.decided });
  const consoleServer = createConsoleServer({ broker, reviewers: new Reviewers(config.console.reviewers), log });
  const consoleAddress = await consoleServer.listen(config.console.listen);
  // The broker first: cancelling what is pending notifies the console's clients and webhooks. (Before the
  // console listens, no request can exist, so there is nothing for it to close.)
  opened.push(async () => {
    await broker.close();
    await consoleServer.close();
  });
  const consoleUrl = config.console.publicUrl ?? `http://${formatHostPort(consoleAddress)}`;
  log.info({ url: consoleUrl, reviewers: config.console.reviewers.length }, 'console listening');
  // The page, the WebSocket, /metrics and the webhooks; consoleServer.close() closes them too.
  const { metrics } = attachConsole({ server: consoleServer, broker, config: config.console, consoleUrl, log });
  onMasked = (rule, cells) => metrics.maskedCells(rule, cells);

  const maskingRules = new MaskingRulesWatcher(config.rules, { hashKey: config.masking.key, log }).watch();
  opened.push(() => maskingRules.close());
  const pool = opts.masking !== false && config.masking.workers > 0 ? new MaskingPool({ workers: config.masking.workers, hashKey: config.masking.key, offload: config.masking.offload, log }) : null;
  if (pool) opened.push(() => pool.close());
  const masking = opts.masking === false ? undefined : new MaskingRowStage(() => maskingRules.current, new MaskingStage({ executor: pool }));
  if (masking && !nativeRowsLoaded) {
    const why = process.env.SQLWARDEN_NATIVE === '0' ? 'off (SQLWARDEN_NATIVE=0)' : 'not built (npm run build:native; it needs python3, make and a C compiler)';
    log.info(`masking: the native row masker is ${why}: rows are masked in JS, column rules at about a quarter of its speed and detectors at about half`);
  }
  const gate = opts.gate ?? new PolicyGate({ classifier: new Classifier(), policy: () => policy, broker, consoleUrl, observer: recorder });
  const catalogs = new Map<string, PgCatalog>();
  const mysqlCatalogs = new Map<string, MysqlCatalog>();
  for (const l of config.listeners) {
    if (!masking) continue;
    const catalogLog = log.child({ listener: l.name, part: 'catalog' });
    if (l.protocol === 'postgres' && l.catalog) catalogs.set(l.name, new PgCatalog(l.catalog, catalogLog));
    else if (l.protocol === 'mysql' && l.catalog) mysqlCatalogs.set(l.name, new MysqlCatalog(l.catalog, catalogLog));
    else if (l.protocol === 'postgres') log.info({ listener: l.name }, 'masking: no catalog for this listener; column rules match the names a result shows (an alias hides the origin; detectors still scan the values)');
    else log.info({ listener: l.name }, "masking: no catalog for this listener; a view's columns keep the view as their origin (table.column rules of its base tables do not reach them)");
  }
  opened.push(() => Promise.all([...catalogs.values(), ...mysqlCatalogs.values()].map((c) => c.close())));
  const deps: SessionDeps = {
    gate,
    masking,
    catalogFor: (name) => catalogs.get(name),
    mysqlCatalogFor: (name) => mysqlCatalogs.get(name),
    events: recorder,
    cancelKeys: new Map(),
  };
  const listeners: Listener[] = [];
  // In parallel: each gets the same drain time.
  opened.push((drainMs) => Promise.all(listeners.map((l) => l.close(drainMs))));
  for (const l of config.listeners) {
    const factory = sessionFactories[l.protocol];
    if (!factory) throw new Error(`listeners.${l.name}.protocol: ${l.protocol} is not supported yet`);
    const listener = new Listener(l, log, deps, factory, metrics);
    await listener.start();
    listeners.push(listener);
  }
  return {
    config,
    log,
    listeners,
    broker,
    audit,
    console: consoleServer,
    metrics,
    consoleUrl,
    address(name) {
      const l = listeners.find((x) => x.config.name === name);
      if (!l) throw new Error(`no listener named ${name}`);
      return l.address;
    },
    reload() {
      maskingRules.reload();
      try {
        policy = loadPolicy(config.rules);
        log.info({ rules: config.rules }, 'rules reloaded');
      } catch (err) {
        log.error({ err: (err as Error).message }, 'rules not reloaded: the new rules are invalid, the old ones stay');
      }
    },
    close: (drainMs = 0) => closeInReverse(opened, drainMs),
  };
}
