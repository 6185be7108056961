// The config file's masking section: defaults, and a bad value named by its key.
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';

const listeners = [{ name: 'pg', protocol: 'postgres', listen: '127.0.0.1:15432', upstream: '127.0.0.1:5432' }];
const build = (input: object) => buildConfig({ listeners, ...input }, { baseDir: '/tmp', source: 'test.yaml', env: {} });

describe('config: masking', () => {
  it('defaults to 2 workers that take batches only while the machine has cores to spare', () => {
    expect(build({}).masking).toEqual({ workers: 2, offload: 'auto' });
    expect(build({ masking: { workers: 4 } }).masking).toEqual({ workers: 4, offload: 'auto' });
  });

  it('takes offload: always', () => {
    expect(build({ masking: { offload: 'always' } }).masking.offload).toBe('always');
  });

  it('names the key of a bad offload value, and of an unknown key', () => {
    expect(() => build({ masking: { offload: 'sometimes' } })).toThrow(/test\.yaml: masking\.offload: /);
    expect(() => build({ masking: { offlaod: 'always' } })).toThrow(/test\.yaml: masking.*offlaod/);
  });
});
