/** The --pidfile: written with the pid, removed on exit only while it is still ours. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Pidfile } from '../../src/actors/pidfile.js';
import { ConfigError } from '../../src/errors.js';

describe('pidfile', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'spawning-pidfile-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the pid and removes the file', () => {
    const pidfile = new Pidfile(path.join(dir, 'a.pid'));
    pidfile.write(4242);
    assert.equal(readFileSync(pidfile.path, 'utf8'), '4242\n');
    pidfile.remove(4242);
    assert.equal(existsSync(pidfile.path), false);
    pidfile.remove(4242); // already gone: no error
  });

  it('leaves a pidfile another process has since written', () => {
    const pidfile = new Pidfile(path.join(dir, 'b.pid'));
    pidfile.write(1);
    writeFileSync(pidfile.path, '2\n');
    pidfile.remove(1);
    assert.equal(readFileSync(pidfile.path, 'utf8'), '2\n');
  });

  it('reports a file it cannot write as a config error', () => {
    assert.throws(() => new Pidfile(path.join(dir, 'missing', 'c.pid')).write(1), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.format(), /^spawning: error: cannot write --pidfile .*missing\/c\.pid: ENOENT \[SPAWNING_ERR_CONFIG\]$/);
      return true;
    });
  });
});
