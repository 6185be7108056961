// The reviewer console in a real browser (Debian chromium driven by playwright-core) in front of the real proxy
// and psql: a held DROP TABLE shows up live, is approved from the page and runs; another is denied from the
// page (42501 in psql); a reviewer who is the requester sees the refusal in the page.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import pgLib from 'pg';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { pg } from '../helpers/databases.js';
import { attachConsole } from '../../src/console/attach.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.resolve('test/artifacts');
const alice = { name: 'alice', token: 'alice-token-0123456789', databaseUsers: ['alice'] };
// bob is the database user psql connects as: he may never decide those requests.
const bob = { name: 'bob', token: 'bob-token-0123456789abc', databaseUsers: [pg.user] };
const TABLES = ['sw_ui_t', 'sw_ui_keep'];

let proxy: StartedProxy;
let direct: pgLib.Client;
let browser: Browser;
/** Script errors and console errors of every page: a test fails on any. */
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`the browser test needs chromium at ${CHROMIUM}: apt-get install -y chromium (as .ci/run does), or set CHROMIUM_PATH`);
  direct = new pgLib.Client({ ...pg, host: '127.0.0.1' });
  await direct.connect();
  await direct.query(`DROP TABLE IF EXISTS ${TABLES.join(', ')}`);
  for (const t of TABLES) await direct.query(`CREATE TABLE ${t} (id int)`);
  proxy = await startProxy({ policy: true, extra: { console: { listen: '127.0.0.1:0', reviewers: [alice, bob] }, approvals: { timeout: '2m' } } });
  // app.ts attaches the page and the WebSocket once wired; attaching again returns that same attachment.
  attachConsole({ server: proxy.app.console, broker: proxy.app.broker, config: proxy.app.config.console, consoleUrl: proxy.app.consoleUrl });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  if (direct) {
    await direct.query(`DROP TABLE IF EXISTS ${TABLES.join(', ')}`);
    await direct.end();
  }
});

afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
});

interface PsqlRun {
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  kill(): void;
}

/** psql, the real CLI, through the proxy; VERBOSITY=verbose prints the SQLSTATE of an error. */
function psql(sql: string): PsqlRun {
  const child = spawn('psql', ['-X', '-h', '127.0.0.1', '-p', String(proxy.pg.port), '-U', pg.user, '-d', pg.database, '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose', '-c', sql], {
    env: { ...process.env, PGAPPNAME: 'ui-test', PGCONNECT_TIMEOUT: '10', ...(pg.password ? { PGPASSWORD: pg.password } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c));
  child.stderr.on('data', (c: Buffer) => (stderr += c));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { done, kill: () => child.kill() };
}

async function loggedIn(token: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(msg.text());
  });
  await page.goto(proxy.app.consoleUrl);
  const field = page.getByLabel('Reviewer token');
  await field.fill(token);
  await field.press('Enter');
  await page.locator('#connection[data-state="live"]').waitFor();
  return page;
}

const tableExists = async (name: string) => (await direct.query('select to_regclass($1) as t', [name])).rows[0].t !== null;
const card = (page: Page, text: string) => page.locator('li.request', { hasText: text });

describe('reviewer console in a browser', () => {
  it('shows a held DROP TABLE live, approves it with a reason, and psql completes', async () => {
    const page = await loggedIn(alice.token);
    await page.getByText('Nothing waiting for review').waitFor();
    expect(await page.locator('#empty').isVisible()).toBe(true);
    // Marks this document: still there later means the request arrived without a reload.
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));

    const run = psql('DROP TABLE sw_ui_t');
    const held = card(page, 'DROP TABLE sw_ui_t');
    await held.waitFor({ timeout: 15_000 });
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    expect(await page.locator('#empty').isVisible()).toBe(false);
    expect(await page.locator('#pending-count').textContent()).toBe('1');
    expect(await page.title()).toBe('(1) sqlwarden console');
    const text = await held.innerText();
    expect(text).toContain(`${pg.user} @ ${pg.database}`);
    expect(text).toContain('ui-test');
    expect(text).toMatch(/127\.0\.0\.1:\d+/);
    expect(text).toContain('pg (postgres)');
    expect(text).toMatch(/rules\[0\] \(line \d+\)/);
    expect(await held.locator('.badge').first().textContent()).toBe('ddl');
    expect(await held.locator('pre.sql').textContent()).toBe('DROP TABLE sw_ui_t');
    expect(await held.locator('.expires').innerText()).toMatch(/^expires in (2m 0[01]s|1m \d\ds)$/);
    const waited = await held.locator('.times .value').first().textContent();
    // The clock ticks once a second: within two seconds the waiting time has moved on.
    await expect.poll(() => held.locator('.times .value').first().textContent(), { timeout: 2500, interval: 100 }).not.toBe(waited);
    expect(await tableExists('sw_ui_t')).toBe(true);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-pending.png'), fullPage: true });

    await held.getByLabel('Reason').fill('cleanup after the migration');
    await held.getByRole('button', { name: 'Approve' }).click();
    const result = await run.done;
    expect([result.code, result.stdout.trim(), result.stderr]).toEqual([0, 'DROP TABLE', expect.stringContaining('held for approval')]);
    expect(await tableExists('sw_ui_t')).toBe(false);
    await held.waitFor({ state: 'detached' });
    const row = page.locator('#history-rows tr', { hasText: 'DROP TABLE sw_ui_t' });
    expect(await row.innerText()).toMatch(/approved[\s\S]*alice[\s\S]*cleanup after the migration/);
    expect(await page.locator('#empty').isVisible()).toBe(true);
    await page.context().close();
  });

  it('denies from the page by keyboard: psql gets 42501 with the reason, the table stays', async () => {
    const page = await loggedIn(alice.token);
    const run = psql('DROP TABLE sw_ui_keep');
    const held = card(page, 'DROP TABLE sw_ui_keep');
    await held.waitFor({ timeout: 15_000 });
    const reason = held.getByLabel('Reason');
    await reason.focus();
    await page.keyboard.type('not during business hours');
    await page.keyboard.press('Tab'); // the window select
    await page.keyboard.press('Tab'); // Approve
    await page.keyboard.press('Tab'); // Deny
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Deny');
    await page.keyboard.press('Enter');
    const result = await run.done;
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/ERROR: {2}42501: sqlwarden: denied by alice: not during business hours \(request r_[a-z2-7]{10}\)/);
    expect(await tableExists('sw_ui_keep')).toBe(true);
    await held.waitFor({ state: 'detached' });
    expect(await page.locator('#history-rows tr', { hasText: 'DROP TABLE sw_ui_keep' }).innerText()).toMatch(/denied[\s\S]*alice[\s\S]*not during business hours/);
    await page.context().close();
  });

  it('shows the requester-reviewer the refusal in the page, and request text stays text', async () => {
    const asBob = await loggedIn(bob.token);
    const asAlice = await loggedIn(alice.token);
    // An identifier that would be markup if the page ever used innerHTML.
    const sql = 'DROP TABLE IF EXISTS "<img src=x onerror=window.pwned=1>"';
    const run = psql(sql);
    const held = card(asBob, 'DROP TABLE IF EXISTS');
    await held.waitFor({ timeout: 15_000 });
    expect(await held.locator('pre.sql').textContent()).toBe(sql);
    expect(await held.locator('img').count()).toBe(0);
    expect(await held.innerText()).toContain('(you: another reviewer decides)');
    await held.getByLabel('Reason').fill('looks fine');
    await held.getByRole('button', { name: 'Approve' }).click();
    const alert = held.getByRole('alert');
    await expect.poll(() => alert.textContent()).toBe(`bob may not decide requests of database user ${pg.user}`);
    expect(await held.getByRole('button', { name: 'Approve' }).isEnabled()).toBe(true);
    expect(await asBob.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();

    const forAlice = card(asAlice, 'DROP TABLE IF EXISTS');
    await forAlice.getByLabel('Reason').fill('no');
    await forAlice.getByRole('button', { name: 'Deny' }).click();
    const result = await run.done;
    expect(result.stderr).toContain('42501');
    // Bob's page follows too: the request leaves his pending list.
    await held.waitFor({ state: 'detached' });
    expect(await asBob.locator('#history-rows tr', { hasText: 'DROP TABLE IF EXISTS' }).innerText()).toContain('denied');
    await asBob.screenshot({ path: path.join(ARTIFACTS, 'console-history.png'), fullPage: true });
    await asBob.context().close();
    await asAlice.context().close();
  });

  it('a denial without a reason is stopped in the page; logging out returns to the login form', async () => {
    const page = await loggedIn(alice.token);
    const run = psql('DROP TABLE sw_ui_keep');
    const held = card(page, 'DROP TABLE sw_ui_keep');
    await held.waitFor({ timeout: 15_000 });
    await held.getByRole('button', { name: 'Deny' }).click();
    expect(await held.getByRole('alert').textContent()).toBe('A denial needs a reason: the client sees it.');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('reason');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Reviewer token').waitFor();
    expect(await page.locator('li.request').count()).toBe(0);
    await page.reload();
    await page.getByLabel('Reviewer token').waitFor();
    expect(await page.locator('#app').isVisible()).toBe(false);
    run.kill();
    await run.done;
    await page.context().close();
  });
});
