// `sqlwarden rules check [DIR]`: compiles DIR/policy.yaml and DIR/masking.yaml as start would, and says what
// is in them or everything that is wrong.
//
// API: checkRules(dir) -> { ok, lines }   never throws for bad rules; `lines` are printable (errors name the
//      file, the line and the key).
import { loadMaskingRules, MaskingRulesError } from '../masking/rules.js';
import { loadPolicy, PolicyError } from './load.js';

export interface RulesCheck {
  ok: boolean;
  lines: string[];
}

/** hash rules need config `masking.key` to run; the check is of the rules, so any key will do. */
const placeholderHashKey = 'sqlwarden rules check';

export function checkRules(dir: string): RulesCheck {
  const lines: string[] = [];
  let ok = true;
  try {
    const policy = loadPolicy(dir);
    lines.push(`${policy.source}: ok, ${policy.rules.length} rule${policy.rules.length === 1 ? '' : 's'}, default ${policy.defaultAction}`);
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    ok = false;
    lines.push(err.message);
  }
  try {
    const masking = loadMaskingRules(dir, { hashKey: placeholderHashKey });
    const c = masking.counts;
    lines.push(`${masking.source}: ok, ${c.columns} column rules, ${c.detectors} detectors, ${c.exemptions} exemptions`);
  } catch (err) {
    if (!(err instanceof MaskingRulesError)) throw err;
    ok = false;
    lines.push(err.message);
  }
  return { ok, lines };
}
