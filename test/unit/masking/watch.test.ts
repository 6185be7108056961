// Loading masking.yaml from a folder and reloading it: on file change, on demand, and keeping the old rules
// when the new file is invalid.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadMaskingRules, MaskingRulesError, MaskingRulesWatcher, type MaskingRules, type RulesLog } from '../../../src/masking/rules.js';

const emailRule = 'columns:\n  - match: { column: email }\n    mask: email\n';
const ssnRule = 'columns:\n  - match: { column: ssn }\n    mask: redact\n';

function ruleFor(rules: MaskingRules, column: string): string | undefined {
  return rules.planFor([{ name: column, textLike: false }], {}).ruleOf(0);
}

function recordingLog() {
  const lines: { level: string; obj: object; msg: string }[] = [];
  const log: RulesLog = {
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  };
  return { log, lines };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a reload');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('loading and reloading masking rules', () => {
  const dirs: string[] = [];
  const watchers: MaskingRulesWatcher[] = [];
  const folder = (yaml?: string) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sqlwarden-masking-'));
    dirs.push(dir);
    if (yaml !== undefined) writeFileSync(path.join(dir, 'masking.yaml'), yaml);
    return dir;
  };
  afterEach(() => {
    for (const w of watchers.splice(0)) w.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('loads DIR/masking.yaml and names the file in errors', () => {
    expect(ruleFor(loadMaskingRules(folder(emailRule)), 'email')).toBe('email');
    const dir = folder('columns: [');
    expect(() => loadMaskingRules(dir)).toThrow(new RegExp(`^${path.join(dir, 'masking.yaml')}: not valid YAML`));
  });

  it('refuses a folder without masking.yaml', () => {
    expect(() => loadMaskingRules(folder())).toThrow(MaskingRulesError);
    expect(() => loadMaskingRules(folder())).toThrow(/masking\.yaml: cannot read/);
  });

  it('reloads on demand and swaps the rules', () => {
    const dir = folder(emailRule);
    const { log, lines } = recordingLog();
    const seen: MaskingRules[] = [];
    const w = new MaskingRulesWatcher(dir, { log, onReload: (r) => seen.push(r) });
    watchers.push(w);
    const before = w.current;
    writeFileSync(path.join(dir, 'masking.yaml'), ssnRule);
    expect(w.reload()).toBe(true);
    expect(ruleFor(w.current, 'ssn')).toBe('ssn');
    expect(ruleFor(w.current, 'email')).toBeUndefined();
    expect(ruleFor(before, 'email')).toBe('email');
    expect(seen).toEqual([w.current]);
    expect(lines.map((l) => l.msg)).toEqual(['masking rules reloaded']);
  });

  it('keeps the previous rules and logs the error when the new file is invalid', () => {
    const dir = folder(emailRule);
    const { log, lines } = recordingLog();
    const w = new MaskingRulesWatcher(dir, { log });
    watchers.push(w);
    const before = w.current;
    writeFileSync(path.join(dir, 'masking.yaml'), 'columns:\n  - match: { column: ssn }\n    mask: scramble\n');
    expect(w.reload()).toBe(false);
    expect(w.current).toBe(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe('error');
    expect(JSON.stringify(lines[0]!.obj)).toContain('masking.yaml:3: columns[0].mask');
  });

  it('throws at construction when the initial rules are invalid', () => {
    const { log } = recordingLog();
    expect(() => new MaskingRulesWatcher(folder('detect: 1'), { log })).toThrow(MaskingRulesError);
  });

  it('reloads when the file is rewritten or replaced by rename', async () => {
    const dir = folder(emailRule);
    const { log } = recordingLog();
    const w = new MaskingRulesWatcher(dir, { log, debounceMs: 20 }).watch();
    watchers.push(w);
    writeFileSync(path.join(dir, 'masking.yaml'), ssnRule);
    await until(() => ruleFor(w.current, 'ssn') === 'ssn');
    // Editors save to a temporary file and rename it over the original.
    writeFileSync(path.join(dir, 'masking.yaml.tmp'), emailRule);
    renameSync(path.join(dir, 'masking.yaml.tmp'), path.join(dir, 'masking.yaml'));
    await until(() => ruleFor(w.current, 'email') === 'email');
  });

  it('ignores changes to other files in the folder', async () => {
    const dir = folder(emailRule);
    const { log, lines } = recordingLog();
    const w = new MaskingRulesWatcher(dir, { log, debounceMs: 20 }).watch();
    watchers.push(w);
    writeFileSync(path.join(dir, 'policy.yaml'), 'rules: []\n');
    await new Promise((r) => setTimeout(r, 300));
    expect(lines).toEqual([]);
  });
});
