/**
 * --chuid against the real system: users and groups resolved from the system
 * databases, and (when these tests run as root) privileges really dropped in
 * a separate process.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { assertRunnableAs, resolveIdentity } from '../../src/actors/privileges.js';
import { ConfigError, PythonEnvError } from '../../src/errors.js';

const isRoot = process.getuid?.() === 0;
const PRIVILEGES_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'actors', 'privileges.js');

describe('privileges', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'spawning-chuid-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves USER, USER:GROUP and numeric ids', () => {
    const nobodyUid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }));
    const nobodyGid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }));
    assert.deepEqual(resolveIdentity('nobody'), { spec: 'nobody', user: 'nobody', uid: nobodyUid, gid: nobodyGid });
    assert.deepEqual(resolveIdentity('nobody:root'), { spec: 'nobody:root', user: 'nobody', uid: nobodyUid, gid: 0 });
    assert.deepEqual(resolveIdentity('1234:5678'), { spec: '1234:5678', user: '1234', uid: 1234, gid: 5678 });
  });

  it('rejects unknown users and groups with one line', () => {
    assert.throws(() => resolveIdentity('no_such_user_xyz'), (e: unknown) => e instanceof ConfigError && /no such user 'no_such_user_xyz'/.test(e.message));
    assert.throws(() => resolveIdentity('nobody:no_such_group_xyz'), (e: unknown) => e instanceof ConfigError && /no such group 'no_such_group_xyz'/.test(e.message));
    assert.throws(() => resolveIdentity(':x'), ConfigError);
  });

  it('tells before dropping whether the new user can run the interpreter', { skip: !isRoot && 'needs root' }, () => {
    const nobody = resolveIdentity('nobody');
    assertRunnableAs('/bin/sh', nobody);
    const privateBin = path.join(dir, 'private-python');
    copyFileSync('/bin/sh', privateBin);
    chmodSync(privateBin, 0o700);
    assert.throws(() => assertRunnableAs(privateBin, nobody), (e: unknown) => e instanceof PythonEnvError && /--chuid nobody: that user cannot run .*private-python \(EACCES\)/.test(e.message));
  });

  it('drops uid, gid and supplementary groups for real', { skip: !isRoot && 'needs root' }, () => {
    const script = `
      const { dropPrivileges, resolveIdentity } = await import(${JSON.stringify(PRIVILEGES_JS)});
      dropPrivileges(resolveIdentity('nobody'));
      process.stdout.write(JSON.stringify([process.getuid(), process.getgid(), process.getgroups()]));`;
    const [uid, gid, groups] = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as [number, number, number[]];
    const nobody = resolveIdentity('nobody');
    assert.equal(uid, nobody.uid);
    assert.equal(gid, nobody.gid);
    assert.ok(!groups.includes(0), `still in root's group: ${groups.join(',')}`);
  });
});
