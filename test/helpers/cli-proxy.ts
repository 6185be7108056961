// sqlwarden as users run it (the CLI, a process of its own), for tests that measure the proxy alone, and the
// slow reader those tests play.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface CliProxy {
  child: ChildProcess;
  port: number;
  /** The proxy process's resident memory, in bytes. */
  rss(): number;
  stop(): void;
}

/** Starts `dist/main.js` with one listener (`listener` is its YAML flow mapping, minus name and listen). */
export async function startCliProxy(name: string, listener: string): Promise<CliProxy> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-cli-'));
  const config = path.join(dir, 'sqlwarden.yaml');
  writeFileSync(
    config,
    `listeners:\n  - { name: ${name}, listen: "127.0.0.1:0", ${listener} }\n` +
      `console: { listen: "127.0.0.1:0" }\naudit: { file: "${path.join(dir, 'audit.jsonl')}" }\nlog: { level: warn }\n`,
  );
  const child = spawn(process.execPath, ['dist/main.js', 'start', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = new RegExp(`listener "${name}" on 127\\.0\\.0\\.1:(\\d+)`).exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`sqlwarden exited ${code}: ${err}`)));
  });
  return {
    child,
    port,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024,
    stop: () => void child.kill('SIGKILL'),
  };
}

export interface SlowRead {
  baseline: number;
  /** Peak RSS while the client read nothing (2 s). */
  peakStalled: number;
  /** Peak RSS over the whole read. */
  peak: number;
  /** Bytes the client had read when it stopped sipping. */
  readWhileSlow: number;
}

/**
 * Sends a query with `send`, then reads its result as a slow client would: nothing for 2 s, small sips for
 * 2 s, then the rest at full speed until `done()`. Samples the proxy's RSS throughout.
 */
export async function readSlowly(proxy: CliProxy, socket: net.Socket, send: () => void, read: () => number, done: () => boolean): Promise<SlowRead> {
  const baseline = proxy.rss();
  let peak = baseline;
  const sample = () => (peak = Math.max(peak, proxy.rss()));
  send();
  socket.pause();
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 200));
    sample();
  }
  const peakStalled = peak;
  for (let i = 0; i < 20; i++) {
    socket.resume();
    await new Promise((r) => setImmediate(r));
    socket.pause();
    await new Promise((r) => setTimeout(r, 100));
    sample();
  }
  const readWhileSlow = read();
  socket.resume();
  const sampler = setInterval(sample, 100);
  while (!done()) await new Promise((r) => setTimeout(r, 20));
  clearInterval(sampler);
  return { baseline, peakStalled, peak, readWhileSlow };
}
