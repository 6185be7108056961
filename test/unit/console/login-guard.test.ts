// LoginGuard: wrong tokens from one address lead to a block that grows while the guessing goes on; a right
// token clears the address; other addresses are not affected.
import { describe, expect, it } from 'vitest';
import { LoginGuard } from '../../../src/console/login-guard.js';

function guard() {
  let now = 1_000_000;
  const g = new LoginGuard({ limit: 3, windowMs: 10_000, blockMs: 5_000, maxBlockMs: 12_000, now: () => now });
  return { g, advance: (ms: number) => (now += ms) };
}

describe('LoginGuard', () => {
  it('blocks an address for blockMs at the limit-th wrong token within the window', () => {
    const { g, advance } = guard();
    g.failed('a');
    g.failed('a');
    expect(g.retryAfter('a')).toBe(0);
    g.failed('a');
    expect(g.retryAfter('a')).toBe(5);
    expect(g.retryAfter('b')).toBe(0); // another address
    advance(4_001);
    expect(g.retryAfter('a')).toBe(1);
    advance(1_000);
    expect(g.retryAfter('a')).toBe(0);
  });

  it('forgets failures older than the window', () => {
    const { g, advance } = guard();
    g.failed('a');
    g.failed('a');
    advance(10_001);
    g.failed('a');
    expect(g.retryAfter('a')).toBe(0);
  });

  it('doubles the block while the guessing goes on, up to maxBlockMs', () => {
    const { g, advance } = guard();
    const block = () => {
      for (let i = 0; i < 3; i++) g.failed('a');
      const s = g.retryAfter('a');
      advance(s * 1000);
      return s;
    };
    expect([block(), block(), block(), block()]).toEqual([5, 10, 12, 12]);
  });

  it('clears an address that presents a right token', () => {
    const { g } = guard();
    g.failed('a');
    g.failed('a');
    g.succeeded('a');
    g.failed('a');
    expect(g.retryAfter('a')).toBe(0);
  });
});
