import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';

it('type-checks the whole project (src, test, bench) with tsc --noEmit', () => {
  let output = '';
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'], { encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    output = String((err as { stdout?: string }).stdout ?? err);
  }
  expect(output).toBe('');
});
