// A start that fails part way (invalid masking rules, a port taken) says why and exits non-zero, leaving
// nothing open behind it: a supervisor sees the failure, and the ports are free for the next try.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';

function home(masking: string, listen: { pg: string; console: string }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-start-'));
  mkdirSync(path.join(dir, 'rules'));
  copyFileSync(path.resolve('rules/policy.yaml'), path.join(dir, 'rules', 'policy.yaml'));
  writeFileSync(path.join(dir, 'rules', 'masking.yaml'), masking);
  writeFileSync(
    path.join(dir, 'sqlwarden.yaml'),
    `listeners:\n  - { name: pg, protocol: postgres, listen: "${listen.pg}", upstream: "127.0.0.1:5432", upstreamTls: disable }\n` +
      `console: { listen: "${listen.console}" }\nrules: ./rules\naudit: { file: ./audit.jsonl }\nlog: { level: warn }\n`,
  );
  return dir;
}

function run(dir: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.resolve('dist/main.js'), 'start', '--config', 'sqlwarden.yaml'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (code) => {
      clearTimeout(kill);
      resolve({ code, stderr });
    });
  });
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });

const badMasking = 'columns:\n  - name: x\n    match: { column: email }\n    mask: nosuch\n';

describe('a start that fails part way', () => {
  it('exits 1 naming the bad line when the masking rules are invalid (it used to keep running with the console open)', async () => {
    const dir = home(badMasking, { pg: '127.0.0.1:0', console: '127.0.0.1:0' });
    const { code, stderr } = await run(dir);
    expect(code).toBe(1);
    expect(stderr).toContain(`${path.join(dir, 'rules', 'masking.yaml')}:4: columns[0].mask`);
  });

  it('exits 1 when a listener port is taken, after the console listened', async () => {
    const taken = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => taken.once('listening', r));
    try {
      const dir = home('columns: []\ndetect: []\n', { pg: `127.0.0.1:${(taken.address() as net.AddressInfo).port}`, console: '127.0.0.1:0' });
      const { code, stderr } = await run(dir);
      expect(code).toBe(1);
      expect(stderr).toContain('EADDRINUSE');
    } finally {
      taken.close();
    }
  });

  it('startApp rejects and closes what it had opened: the console port is free again', async () => {
    const consolePort = await freePort();
    const dir = home(badMasking, { pg: '127.0.0.1:0', console: `127.0.0.1:${consolePort}` });
    const config = loadConfig(path.join(dir, 'sqlwarden.yaml'));
    await expect(startApp(config)).rejects.toThrow(/columns\[0\]\.mask/);
    const again = net.createServer();
    await new Promise<void>((resolve, reject) => again.once('error', reject).listen(consolePort, '127.0.0.1', () => resolve()));
    again.close();
  });
});
