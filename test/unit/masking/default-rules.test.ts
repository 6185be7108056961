// The rules/masking.yaml sqlwarden ships: it compiles, and masks what a new user expects.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadMaskingRules, type MaskColumn } from '../../../src/masking/rules.js';

const rules = loadMaskingRules(fileURLToPath(new URL('../../../rules', import.meta.url)));
const user = { user: 'app', database: 'app' };

function maskAs(column: string, value: string, more: Partial<MaskColumn> = {}): string | null {
  const plan = rules.planFor([{ name: column, textLike: true, ...more }], user);
  const buf = Buffer.from(value);
  const out = plan.maskCell(0, buf, 0, buf.length);
  return out === undefined ? value : out === null ? null : out.toString();
}

describe('shipped masking rules', () => {
  it.each([
    ['email', 'jane.doe@example.com', 'j***@example.com'],
    ['work_email', 'jane.doe@example.com', 'j***@example.com'],
    ['phone', '+1 415-555-2671', '***********2671'],
    ['mobile_number', '07700900123', '*******0123'],
    ['phoneNumber', '4155552671', '******2671'],
    ['ssn', '123-45-6789', '*******6789'],
    ['social_security_number', '123456789', '*****6789'],
    ['card_number', '4111111111111111', '************1111'],
    ['pan', '4111111111111111', '************1111'],
    ['iban', 'DE89370400440532013000', '******************3000'],
    ['password', 'hunter2', '****'],
    ['password_hash', '$2b$12$abc', '****'],
    ['api_key', 'k-123', '****'],
    ['refresh_token', 'abc', '****'],
    ['client_secret', 'abc', '****'],
    ['private_key', 'abc', '****'],
    ['first_name', 'Jane', 'J***'],
    ['last_name', 'Doe', 'D**'],
    ['full_name', 'Zoë Durand', 'Z*********'],
    ['date_of_birth', '1990-01-01', '****'],
  ])('masks column %s', (column, value, masked) => {
    expect(maskAs(column, value)).toBe(masked);
  });

  it('masks a column by its original name when the query aliases it', () => {
    expect(maskAs('x', '123-45-6789', { originalName: 'ssn', table: 'people' })).toBe('*******6789');
  });

  it.each(['id', 'status', 'city', 'created_at', 'username', 'company_name', 'description'])('leaves column %s to the detectors', (column) => {
    const plan = rules.planFor([{ name: column, textLike: true }], user);
    expect(plan.spec.columns[0]).toEqual({ scan: true });
  });

  it('scans free text with the shipped detectors', () => {
    expect(maskAs('notes', 'paid 4111 1111 1111 1111, mail jane@x.io')).toBe('paid ***************1111, mail j***@x.io');
    expect(maskAs('notes', 'ssn 123-45-6789 ok')).toBe('ssn *******6789 ok');
    expect(maskAs('notes', 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345')).toBe('Authorization: Bearer ****');
    expect(maskAs('notes', 'meeting at 10:30 on 2023-10-12, room 415')).toBe('meeting at 10:30 on 2023-10-12, room 415');
  });

  it('enables the detectors a new user wants and not the noisy ones', () => {
    const plan = rules.planFor([{ name: 'notes', textLike: true }], user);
    expect(plan.spec.detectors.map((d) => d.kind).sort()).toEqual(['api_token', 'aws_access_key', 'bearer_token', 'credit_card', 'email', 'iban', 'jwt', 'private_key', 'us_ssn']);
  });
});
