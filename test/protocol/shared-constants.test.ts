/**
 * Constants that exist in both languages: the Python modules that mirror
 * protocol/ must agree with it name for name and value for value. The real
 * .venv interpreter imports python/spawning and prints the modules' constants,
 * so a name added on one side only fails here as well as a changed value.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ExitCode } from '../../protocol/exit-codes.js';
import { MAX_FRAME } from '../../protocol/frame-codec.js';
import { INITIAL_WINDOW, WorkerTag } from '../../protocol/worker-messages.js';
import { PYTHON_PACKAGE_DIR } from '../../src/paths.js';
import { VENV_PYTHON } from '../helpers/repo.js';

type Constants = Record<string, unknown>;

/** Each Python module's public UPPER_CASE names, and the file it was imported from. */
const DUMP = `
import json, re
from spawning import exit_codes, tags
def constants(module):
    return {k: v for k, v in vars(module).items() if re.fullmatch(r"[A-Z][A-Z0-9_]*", k)}
print(json.dumps({m.__name__: {"file": m.__file__, "constants": constants(m)} for m in (tags, exit_codes)}))
`;

/** The TypeScript twin of each Python module. */
const MIRRORS: Record<string, Constants> = {
  'spawning.tags': { ...WorkerTag, INITIAL_WINDOW, MAX_FRAME },
  'spawning.exit_codes': { ...ExitCode },
};

/** Every name missing on one side and every value that differs, as lines to read. */
function differences(ts: Constants, py: Constants): string[] {
  const out: string[] = [];
  for (const name of new Set([...Object.keys(ts), ...Object.keys(py)])) {
    if (!(name in py)) out.push(`${name}: only in TypeScript (${JSON.stringify(ts[name])})`);
    else if (!(name in ts)) out.push(`${name}: only in Python (${JSON.stringify(py[name])})`);
    else if (!Object.is(ts[name], py[name])) out.push(`${name}: TypeScript ${JSON.stringify(ts[name])}, Python ${JSON.stringify(py[name])}`);
  }
  return out;
}

async function pythonConstants(): Promise<Record<string, { file: string; constants: Constants }>> {
  const { stdout } = await promisify(execFile)(VENV_PYTHON, ['-c', DUMP], { env: { ...process.env, PYTHONPATH: PYTHON_PACKAGE_DIR } });
  return JSON.parse(stdout) as Record<string, { file: string; constants: Constants }>;
}

describe('constants shared with Python', () => {
  it('python/spawning/tags.py and exit_codes.py hold exactly the constants of protocol/, with the same values', async () => {
    const python = await pythonConstants();
    assert.deepEqual(Object.keys(python).sort(), Object.keys(MIRRORS).sort());
    for (const [module, ts] of Object.entries(MIRRORS)) {
      const { file, constants } = python[module]!;
      // The modules of this tree, not a copy installed elsewhere.
      assert.equal(path.dirname(file), path.join(PYTHON_PACKAGE_DIR, 'spawning'), module);
      assert.ok(Object.keys(constants).length > 0, `${module}: no constants read`);
      assert.deepEqual(differences(ts, constants), [], `${module} differs from its TypeScript twin`);
    }
  });

  it('the comparison sees a changed value and a name on one side only', () => {
    const ts = { REQUEST: 1, READY: 16 };
    assert.deepEqual(differences(ts, { ...ts }), []);
    assert.deepEqual(differences(ts, { REQUEST: 1, READY: 17 }), ['READY: TypeScript 16, Python 17']);
    assert.deepEqual(differences(ts, { REQUEST: 1 }), ['READY: only in TypeScript (16)']);
    assert.deepEqual(differences(ts, { ...ts, MODULES: 25 }), ['MODULES: only in Python (25)']);
  });
});
