// The broker: approve, deny, expire, cancel, approval windows, self-approval, history, events, and the order
// in which a decision is recorded (the hook) and applied (the verdict).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BadDecisionError,
  Broker,
  DecisionNotRecordedError,
  newRequestId,
  NotFoundError,
  NotPendingError,
  SelfApprovalError,
  type Decision,
  type RequestView,
} from '../../../src/approval/broker.js';
import type { Requester, Reviewer } from '../../../src/approval/identity.js';
import type { Statement } from '../../../src/classify/types.js';

const carol: Requester = { session: 's1', listener: 'pg', protocol: 'postgres', client: '10.0.0.5:41000', user: 'carol', database: 'app', application: 'psql' };
const alice: Reviewer = { name: 'alice', databaseUsers: ['alice'] };
const bob: Reviewer = { name: 'bob', databaseUsers: ['bob', 'carol'] };
const drop: Statement = { category: 'ddl', kind: 'drop table', text: 'DROP TABLE t', masked: 'DROP TABLE t', fingerprint: 'fp-drop-t', objects: ['t'] };
const copy: Statement = { category: 'export', kind: 'copy to', text: 'COPY t TO STDOUT', masked: 'COPY t TO STDOUT', fingerprint: 'fp-copy-t', objects: ['t'] };
const rule = { index: 0, line: 3, description: 'category: ddl' };
const TIMEOUT = 600_000;

let broker: Broker;
const hold = (statements: Statement[] = [drop], requester = carol, signal?: AbortSignal) =>
  broker.create({ requester, sql: statements.map((s) => s.text).join('; '), statements, rule, signal });

/** Whether the promise has settled, after letting queued callbacks run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
}

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2030-01-02T03:04:05.000Z') });
  broker = new Broker({ timeoutMs: TIMEOUT });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('create', () => {
  it('makes a pending request with the Console contract view', () => {
    const h = hold([drop, copy]);
    expect(h.id).toMatch(/^r_[a-z2-7]{10}$/);
    expect(h.view).toEqual({
      id: h.id,
      status: 'pending',
      createdAt: '2030-01-02T03:04:05.000Z',
      decidedAt: null,
      expiresAt: '2030-01-02T03:14:05.000Z',
      session: 's1',
      listener: 'pg',
      protocol: 'postgres',
      user: 'carol',
      database: 'app',
      application: 'psql',
      client: '10.0.0.5:41000',
      tlsCommonName: null,
      sql: 'DROP TABLE t; COPY t TO STDOUT',
      statements: [
        { category: 'ddl', kind: 'drop table', text: 'DROP TABLE t' },
        { category: 'export', kind: 'copy to', text: 'COPY t TO STDOUT' },
      ],
      rule,
      reviewer: null,
      reason: null,
      windowUntil: null,
    });
    expect(broker.list('pending').map((r) => r.id)).toEqual([h.id]);
  });
  it('makes ids that differ', () => {
    const ids = new Set(Array.from({ length: 10_000 }, newRequestId));
    expect(ids.size).toBe(10_000);
  });
});

describe('approve and deny', () => {
  it('approves: the verdict names the reviewer and reason, the request moves to history', async () => {
    const h = hold();
    vi.advanceTimersByTime(5000);
    const view = await broker.approve(h.id, alice, { reason: ' looks fine ' });
    expect(await h.verdict).toEqual({ status: 'approved', reviewer: 'alice', reason: 'looks fine' });
    expect(view).toMatchObject({ status: 'approved', reviewer: 'alice', reason: 'looks fine', decidedAt: '2030-01-02T03:04:10.000Z', windowUntil: null });
    expect(broker.list('pending')).toEqual([]);
    expect(broker.get(h.id)?.status).toBe('approved');
  });
  it('approves without a reason', async () => {
    const h = hold();
    await broker.approve(h.id, alice);
    expect(await h.verdict).toEqual({ status: 'approved', reviewer: 'alice' });
  });
  it('denies with a reason', async () => {
    const h = hold();
    await broker.deny(h.id, alice, { reason: 'not on a Friday' });
    expect(await h.verdict).toEqual({ status: 'denied', reviewer: 'alice', reason: 'not on a Friday' });
    expect(broker.get(h.id)).toMatchObject({ status: 'denied', reviewer: 'alice', reason: 'not on a Friday' });
  });
  it('refuses a denial without a reason, and leaves the request pending', async () => {
    const h = hold();
    await expect(broker.deny(h.id, alice, {})).rejects.toThrow(BadDecisionError);
    await expect(broker.deny(h.id, alice, { reason: '   ' })).rejects.toMatchObject({ status: 400, message: 'reason: a denial needs a reason (the client sees it)' });
    expect(broker.get(h.id)?.status).toBe('pending');
  });
  it('refuses self-approval with 403, for approve and deny', async () => {
    const h = hold();
    await expect(broker.approve(h.id, bob)).rejects.toThrow(SelfApprovalError);
    await expect(broker.deny(h.id, bob, { reason: 'x' })).rejects.toMatchObject({ status: 403, message: 'bob may not decide requests of database user carol' });
    expect(await settled(h.verdict)).toBe(false);
  });
  it('answers 409 for a request already decided, and 404 for one never made', async () => {
    const h = hold();
    await broker.deny(h.id, alice, { reason: 'no' });
    await expect(broker.approve(h.id, alice)).rejects.toThrow(NotPendingError);
    await expect(broker.approve(h.id, alice)).rejects.toMatchObject({ status: 409, message: `request ${h.id} is no longer pending: denied` });
    await expect(broker.approve('r_aaaaaaaaaa', alice)).rejects.toThrow(NotFoundError);
    await expect(broker.deny('r_aaaaaaaaaa', alice, { reason: 'x' })).rejects.toMatchObject({ status: 404, message: 'no request r_aaaaaaaaaa' });
  });
  it('takes only the first of two decisions made at the same moment', async () => {
    const h = hold();
    const first = broker.approve(h.id, alice);
    const second = broker.deny(h.id, alice, { reason: 'too late' });
    await expect(second).rejects.toThrow(NotPendingError);
    await first;
    expect((await h.verdict).status).toBe('approved');
  });
});

describe('expiry and cancel', () => {
  it('expires after approvals.timeout', async () => {
    const h = hold();
    vi.advanceTimersByTime(TIMEOUT - 1);
    expect(await settled(h.verdict)).toBe(false);
    vi.advanceTimersByTime(1);
    expect(await h.verdict).toEqual({ status: 'expired' });
    expect(broker.get(h.id)).toMatchObject({ status: 'expired', reviewer: null, decidedAt: '2030-01-02T03:14:05.000Z' });
    await expect(broker.approve(h.id, alice)).rejects.toMatchObject({ status: 409 });
  });
  it('does not expire once decided', async () => {
    const h = hold();
    await broker.approve(h.id, alice);
    vi.advanceTimersByTime(TIMEOUT * 2);
    expect((await h.verdict).status).toBe('approved');
  });
  it('cancels on the client\'s cancel, once', async () => {
    const h = hold();
    h.cancel('client sent CancelRequest');
    h.cancel('again');
    expect(await h.verdict).toEqual({ status: 'cancelled', reason: 'client sent CancelRequest' });
    await expect(broker.approve(h.id, alice)).rejects.toMatchObject({ status: 409, message: `request ${h.id} is no longer pending: cancelled` });
  });
  it('cancels when the session ends', async () => {
    const ac = new AbortController();
    const h = hold([drop], carol, ac.signal);
    ac.abort();
    expect(await h.verdict).toEqual({ status: 'cancelled', reason: 'client disconnected' });
  });
  it('cancels at once when the session has already ended', async () => {
    const ac = new AbortController();
    ac.abort();
    expect(await hold([drop], carol, ac.signal).verdict).toEqual({ status: 'cancelled', reason: 'client disconnected' });
  });
  it('cancels everything pending on close', async () => {
    const a = hold();
    const b = hold();
    await broker.close();
    expect(await a.verdict).toEqual({ status: 'cancelled', reason: 'the proxy is shutting down' });
    expect((await b.verdict).status).toBe('cancelled');
  });
});

describe('approval windows', () => {
  it('covers the same statements of the same requester until the window closes', async () => {
    const h = hold([drop, copy]);
    const view = await broker.approve(h.id, alice, { for: '15m' });
    const until = Date.parse('2030-01-02T03:19:05.000Z');
    expect(view.windowUntil).toBe('2030-01-02T03:19:05.000Z');
    expect(await h.verdict).toEqual({ status: 'approved', reviewer: 'alice', window: { requestId: h.id, reviewer: 'alice', until } });
    expect(broker.coveredByWindow(['fp-drop-t'], carol)).toEqual({ requestId: h.id, reviewer: 'alice', until });
    expect(broker.coveredByWindow(['fp-copy-t', 'fp-drop-t'], carol)).toBeTruthy();
    vi.advanceTimersByTime(15 * 60_000 - 1);
    expect(broker.coveredByWindow(['fp-drop-t'], carol)).toBeTruthy();
    vi.advanceTimersByTime(1);
    expect(broker.coveredByWindow(['fp-drop-t'], carol)).toBeUndefined();
  });
  it('does not cover other statements, other requesters, or nothing', async () => {
    const h = hold();
    await broker.approve(h.id, alice, { for: '1h' });
    expect(broker.coveredByWindow(['fp-drop-t', 'fp-other'], carol)).toBeUndefined();
    expect(broker.coveredByWindow(['fp-drop-t'], { ...carol, user: 'dave' })).toBeUndefined();
    expect(broker.coveredByWindow(['fp-drop-t'], { ...carol, database: 'other' })).toBeUndefined();
    expect(broker.coveredByWindow(['fp-drop-t'], { ...carol, listener: 'my' })).toBeUndefined();
    expect(broker.coveredByWindow([], carol)).toBeUndefined();
  });
  it('opens no window for a plain approval or a denial', async () => {
    const a = hold();
    await broker.approve(a.id, alice);
    const b = hold([copy]);
    await broker.deny(b.id, alice, { reason: 'no' });
    expect(broker.coveredByWindow(['fp-drop-t'], carol)).toBeUndefined();
    expect(broker.coveredByWindow(['fp-copy-t'], carol)).toBeUndefined();
  });
  it('refuses a bad or too long window and leaves the request pending', async () => {
    const h = hold();
    await expect(broker.approve(h.id, alice, { for: 'soon' })).rejects.toMatchObject({ status: 400, message: 'for: expected a duration like 15m or 2h, got "soon"' });
    await expect(broker.approve(h.id, alice, { for: '0m' })).rejects.toThrow(BadDecisionError);
    await expect(broker.approve(h.id, alice, { for: '2d' })).rejects.toMatchObject({ status: 400, message: 'for: 2d is longer than the longest window allowed (1440m)' });
    expect(broker.get(h.id)?.status).toBe('pending');
  });
});

describe('history', () => {
  it('lists pending and decided requests oldest first, and keeps only the last historySize decided', async () => {
    broker = new Broker({ timeoutMs: TIMEOUT, historySize: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const h = hold();
      ids.push(h.id);
      vi.advanceTimersByTime(1000);
      await broker.deny(h.id, alice, { reason: `no ${i}` });
    }
    const open = hold();
    expect(broker.list('all').map((r) => r.id)).toEqual([...ids.slice(2), open.id]);
    expect(broker.list('pending').map((r) => r.id)).toEqual([open.id]);
    expect(broker.get(ids[0]!)).toBeUndefined();
    await expect(broker.approve(ids[0]!, alice)).rejects.toThrow(NotFoundError);
  });
  it('hands out copies: a view changed by a caller does not change the request', () => {
    const h = hold();
    broker.list('pending')[0]!.status = 'approved';
    expect(broker.get(h.id)?.status).toBe('pending');
  });
});

describe('events', () => {
  it('emits the request on creation and on its decision', async () => {
    const seen: RequestView[] = [];
    const off = broker.onChange((v) => seen.push(v));
    const h = hold();
    await broker.approve(h.id, alice, { reason: 'ok' });
    const g = hold();
    vi.advanceTimersByTime(TIMEOUT);
    await g.verdict;
    off();
    hold();
    expect(seen.map((v) => [v.id, v.status, v.reviewer])).toEqual([
      [h.id, 'pending', null],
      [h.id, 'approved', 'alice'],
      [g.id, 'pending', null],
      [g.id, 'expired', null],
    ]);
  });
  it('keeps going when a listener throws, and says so in the log', async () => {
    const errors: unknown[] = [];
    broker = new Broker({ timeoutMs: TIMEOUT, log: { error: (obj) => errors.push(obj) } });
    const seen: string[] = [];
    broker.onChange(() => {
      throw new Error('listener broke');
    });
    broker.onChange((v) => seen.push(v.status));
    const h = hold();
    await broker.approve(h.id, alice);
    expect(seen).toEqual(['pending', 'approved']);
    expect(errors).toEqual([{ err: 'listener broke', request: h.id }, { err: 'listener broke', request: h.id }]);
  });
});

describe('beforeDecisionApplied', () => {
  it('is awaited before the verdict settles and before the change event', async () => {
    const order: string[] = [];
    let release!: () => void;
    broker = new Broker({
      timeoutMs: TIMEOUT,
      beforeDecisionApplied: async (view, decision) => {
        order.push(`hook ${view.status} ${decision.status}`);
        await new Promise<void>((r) => (release = r));
        order.push('hook done');
      },
    });
    const h = hold();
    broker.onChange((v) => order.push(`event ${v.status}`));
    void h.verdict.then((d) => order.push(`verdict ${d.status}`));
    const approving = broker.approve(h.id, alice);
    await Promise.resolve();
    expect(order).toEqual(['hook approved approved']);
    expect(await settled(h.verdict)).toBe(false);
    // While the decision is being recorded the request is no longer pending: a second decision gets 409.
    await expect(broker.deny(h.id, alice, { reason: 'x' })).rejects.toThrow(NotPendingError);
    expect(broker.list('pending')).toEqual([]);
    // Neither the timeout nor a cancel can overtake it.
    vi.advanceTimersByTime(TIMEOUT);
    h.cancel('client disconnected');
    release();
    await approving;
    await h.verdict;
    expect(order).toEqual(['hook approved approved', 'hook done', 'event approved', 'verdict approved']);
  });
  it('runs for every kind of decision', async () => {
    const decisions: Decision[] = [];
    broker = new Broker({ timeoutMs: TIMEOUT, beforeDecisionApplied: async (_v, d) => void decisions.push(d) });
    await broker.approve(hold().id, alice, { reason: 'a' });
    await broker.deny(hold().id, alice, { reason: 'd' });
    hold().cancel('gone');
    const e = hold();
    vi.advanceTimersByTime(TIMEOUT);
    await e.verdict;
    expect(decisions.map((d) => d.status)).toEqual(['approved', 'denied', 'cancelled', 'expired']);
  });
  it('approves nothing when the decision cannot be recorded', async () => {
    const errors: unknown[] = [];
    broker = new Broker({
      timeoutMs: TIMEOUT,
      beforeDecisionApplied: async () => {
        throw new Error('disk full');
      },
      log: { error: (obj) => errors.push(obj) },
    });
    const h = hold();
    const failure = broker.approve(h.id, alice, { for: '15m' });
    await expect(failure).rejects.toThrow(DecisionNotRecordedError);
    await expect(failure).rejects.toMatchObject({ status: 500, message: `request ${h.id}: the decision could not be recorded, so nothing was approved: disk full` });
    expect(await h.verdict).toEqual({ status: 'cancelled', reason: `request ${h.id}: the decision could not be recorded, so nothing was approved: disk full` });
    expect(broker.get(h.id)).toMatchObject({ status: 'cancelled', reviewer: null });
    expect(broker.coveredByWindow(['fp-drop-t'], carol)).toBeUndefined();
    expect(errors).toEqual([{ err: 'disk full', request: h.id, status: 'approved' }]);
  });
  it('still applies a denial whose record failed: nothing runs either way', async () => {
    broker = new Broker({
      timeoutMs: TIMEOUT,
      beforeDecisionApplied: async () => {
        throw new Error('disk full');
      },
    });
    const h = hold();
    await broker.deny(h.id, alice, { reason: 'no' });
    expect(await h.verdict).toEqual({ status: 'denied', reviewer: 'alice', reason: 'no' });
  });
});
