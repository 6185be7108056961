// Composition root: builds the parts from a Config and wires them. No logic of its own.
import type { Config, ListenerConfig } from './config.js';
import { createLogger, type Logger } from './log.js';
import { AllowAllGate } from './session/gate.js';
import { passThroughRows, type Gate, type RowStage } from './session/hooks.js';
import { Listener, type SessionDeps, type SessionFactory } from './session/listener.js';
import { createPostgresSession } from './session/postgres.js';
import { createMysqlSession } from './session/mysql.js';

const sessionFactories: Record<ListenerConfig['protocol'], SessionFactory | undefined> = {
  postgres: createPostgresSession,
  mysql: createMysqlSession,
};

export interface AppOptions {
  log?: Logger;
  /** Replaces the gate (tests, and the policy engine to come). */
  gate?: Gate;
  rows?: RowStage;
}

export interface App {
  readonly config: Config;
  readonly log: Logger;
  readonly listeners: Listener[];
  /** The address a listener is bound to, by name (useful with port 0). */
  address(name: string): { host: string; port: number };
  /** Stops accepting, gives sessions `drainMs` to finish, then closes them. */
  close(drainMs?: number): Promise<void>;
}

export async function startApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const log = opts.log ?? createLogger(config.log.level);
  const deps: SessionDeps = { gate: opts.gate ?? new AllowAllGate(), rows: opts.rows ?? passThroughRows, cancelKeys: new Map() };
  const listeners: Listener[] = [];
  try {
    for (const l of config.listeners) {
      const factory = sessionFactories[l.protocol];
      if (!factory) throw new Error(`listeners.${l.name}.protocol: ${l.protocol} is not supported yet`);
      const listener = new Listener(l, log, deps, factory);
      await listener.start();
      listeners.push(listener);
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    throw err;
  }
  return {
    config,
    log,
    listeners,
    address(name) {
      const l = listeners.find((x) => x.config.name === name);
      if (!l) throw new Error(`no listener named ${name}`);
      return l.address;
    },
    async close(drainMs = 0) {
      await Promise.all(listeners.map((l) => l.close(drainMs)));
    },
  };
}
