/**
 * --chuid user[:group]: privileges are dropped after binding, so
 * `sudo spawning --port=80 --chuid www-data` works, and before any child starts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync } from 'node:fs';
import { ConfigError, PythonEnvError } from '../errors.js';

export interface Identity {
  spec: string;
  user: string;
  uid: number;
  gid: number;
}

function lookupId(flag: '-u' | '-g', name: string, what: 'user' | 'group'): number {
  try {
    return Number(execFileSync('id', [flag, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    throw new ConfigError(`--chuid: no such ${what} '${name}'`);
  }
}

function lookupGroup(name: string): number {
  try {
    const entry = execFileSync('getent', ['group', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return Number(entry.split(':')[2]);
  } catch {
    throw new ConfigError(`--chuid: no such group '${name}'`);
  }
}

export function resolveIdentity(spec: string): Identity {
  const [user, group, extra] = spec.split(':');
  if (!user || extra !== undefined || group === '') throw new ConfigError(`--chuid: expected USER or USER:GROUP, got '${spec}'`);
  const uid = /^\d+$/.test(user) ? Number(user) : lookupId('-u', user, 'user');
  const gid = group === undefined ? (/^\d+$/.test(user) ? uid : lookupId('-g', user, 'user')) : /^\d+$/.test(group) ? Number(group) : lookupGroup(group);
  return { spec, user, uid, gid };
}

/** Checked while still privileged, so a failure can still clean up what root created. */
export function assertRunnableAs(python: string, id: Identity): void {
  const probe = spawnSync(python, ['-c', ''], { uid: id.uid, gid: id.gid, stdio: 'ignore', timeout: 10_000 });
  if (probe.error || probe.status !== 0) {
    const reason = (probe.error as NodeJS.ErrnoException | undefined)?.code ?? `exit ${probe.status}`;
    throw new PythonEnvError(`--chuid ${id.spec}: that user cannot run ${python} (${reason})`);
  }
}

/** Gives files root made (Unix socket, pidfile) to the new user, so it can remove them on exit. */
export function handOver(paths: readonly string[], id: Identity): void {
  for (const p of paths) {
    try {
      chownSync(p, id.uid, id.gid);
    } catch {
      // Not ours to give (another owner, read-only fs): removal on exit is then best effort.
    }
  }
}

/** Present on POSIX builds of Node; absent from @types/node 20's Process. */
interface WithInitgroups {
  initgroups?: (user: string, extraGroup: number) => void;
}

export function dropPrivileges(id: Identity): void {
  try {
    // Supplementary groups too, or the process keeps root's (group 0).
    if (process.getuid?.() === 0 && !/^\d+$/.test(id.user)) (process as WithInitgroups).initgroups?.(id.user, id.gid);
    process.setgid?.(id.gid);
    process.setuid?.(id.uid);
  } catch (err) {
    throw new ConfigError(`--chuid ${id.spec}: ${(err as Error).message}`);
  }
}
