/** Which interpreter the workers run: --python, else $VIRTUAL_ENV/bin/python, else ./.venv/bin/python, else python3. */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { resolvePython } from '../../src/config/validate.js';
import { PythonEnvError } from '../../src/errors.js';

describe('python resolution', () => {
  let dir: string;
  const saved = { VIRTUAL_ENV: process.env.VIRTUAL_ENV, PATH: process.env.PATH };
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-python-'));
    for (const venv of ['active-venv', 'project/.venv']) {
      mkdirSync(path.join(dir, venv, 'bin'), { recursive: true });
      symlinkSync('/bin/true', path.join(dir, venv, 'bin', 'python'));
    }
    mkdirSync(path.join(dir, 'bin'));
    symlinkSync('/bin/true', path.join(dir, 'bin', 'python3'));
    writeFileSync(path.join(dir, 'not-executable'), '');
    chmodSync(path.join(dir, 'not-executable'), 0o644);
    mkdirSync(path.join(dir, 'empty'));
  });
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prefers --python, resolved against the working directory or PATH', () => {
    process.env.VIRTUAL_ENV = path.join(dir, 'active-venv');
    assert.equal(resolvePython('project/.venv/bin/python', dir), path.join(dir, 'project/.venv/bin/python'));
    process.env.PATH = path.join(dir, 'bin');
    assert.equal(resolvePython('python3', dir), path.join(dir, 'bin', 'python3'));
  });

  it('then the active virtualenv, then ./.venv, then python3 on PATH', () => {
    process.env.PATH = path.join(dir, 'bin');
    process.env.VIRTUAL_ENV = path.join(dir, 'active-venv');
    assert.equal(resolvePython(null, path.join(dir, 'project')), path.join(dir, 'active-venv', 'bin', 'python'));
    delete process.env.VIRTUAL_ENV;
    assert.equal(resolvePython(null, path.join(dir, 'project')), path.join(dir, 'project', '.venv', 'bin', 'python'));
    assert.equal(resolvePython(null, path.join(dir, 'empty')), path.join(dir, 'bin', 'python3'));
    process.env.PATH = path.join(dir, 'empty');
    assert.throws(() => resolvePython(null, path.join(dir, 'empty')), (e: unknown) => e instanceof PythonEnvError && /no Python interpreter found/.test(e.message));
  });

  it('refuses a given interpreter that is missing or not executable', () => {
    assert.throws(() => resolvePython('/nope/python', dir), /--python \/nope\/python: no such interpreter/);
    assert.throws(() => resolvePython('./not-executable', dir), /--python \.\/not-executable: not executable/);
    process.env.PATH = path.join(dir, 'empty');
    assert.throws(() => resolvePython('python9', dir), /--python python9: no such interpreter/);
  });
});
