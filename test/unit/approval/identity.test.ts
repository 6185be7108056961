// Requester identity from a session, reviewer tokens, and the rule that nobody approves their own statements.
import { describe, expect, it } from 'vitest';
import { mayDecide, requesterOf, Reviewers, sameRequester } from '../../../src/approval/identity.js';

const reviewers = new Reviewers([
  { name: 'alice', token: 'alice-token-0123456789', databaseUsers: ['alice', 'alice_rw'] },
  { name: 'bob', token: 'bob-token-0123456789ab', databaseUsers: [] },
]);

describe('requesterOf', () => {
  it('takes who asks from the session, leaving out what the wire did not tell', () => {
    const signal = new AbortController().signal;
    expect(requesterOf({ id: 's7', listener: 'pg', protocol: 'postgres', client: '10.0.0.5:41000', user: 'carol', database: 'app', tlsCommonName: 'carol.example', signal })).toEqual({
      session: 's7',
      listener: 'pg',
      protocol: 'postgres',
      client: '10.0.0.5:41000',
      user: 'carol',
      database: 'app',
      tlsCommonName: 'carol.example',
    });
  });
  it('compares requesters by db user, database and listener', () => {
    const a = { user: 'u', database: 'd', listener: 'pg' };
    expect(sameRequester(a, { ...a })).toBe(true);
    expect(sameRequester(a, { ...a, user: 'v' })).toBe(false);
    expect(sameRequester(a, { ...a, database: 'e' })).toBe(false);
    expect(sameRequester(a, { ...a, listener: 'my' })).toBe(false);
  });
});

describe('Reviewers.authenticate', () => {
  it('finds the reviewer a token belongs to', () => {
    expect(reviewers.authenticate('alice-token-0123456789')?.name).toBe('alice');
    expect(reviewers.authenticate('bob-token-0123456789ab')?.name).toBe('bob');
  });
  it('refuses a wrong, truncated, extended or missing token', () => {
    for (const t of ['alice-token-012345678', 'alice-token-0123456789x', 'ALICE-token-0123456789', '', undefined]) {
      expect(reviewers.authenticate(t)).toBeUndefined();
    }
  });
  it('refuses two reviewers with one token', () => {
    expect(() => new Reviewers([
      { name: 'a', token: 'same-token-0123456789', databaseUsers: [] },
      { name: 'b', token: 'same-token-0123456789', databaseUsers: [] },
    ])).toThrow('console.reviewers: b has the same token as another reviewer');
  });
});

describe('mayDecide', () => {
  const alice = reviewers.authenticate('alice-token-0123456789')!;
  it('forbids deciding requests of any of the reviewer\'s database users', () => {
    expect(mayDecide(alice, { user: 'alice' })).toBe(false);
    expect(mayDecide(alice, { user: 'alice_rw' })).toBe(false);
  });
  it('allows requests of other users', () => {
    expect(mayDecide(alice, { user: 'carol' })).toBe(true);
    expect(mayDecide(alice, { user: 'Alice' })).toBe(true);
  });
});
