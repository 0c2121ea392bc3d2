/** --chuid user[:group]: dropped after binding, so `sudo spawning --port=80 --chuid www-data` works. */
import { execFileSync } from 'node:child_process';
import { ConfigError } from '../errors.js';

function lookupId(flag: '-u' | '-g', user: string): number {
  try {
    return Number(execFileSync('id', [flag, user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    throw new ConfigError(`--chuid: no such user '${user}'`);
  }
}

export function dropPrivileges(spec: string): void {
  const [user, group] = spec.split(':') as [string, string | undefined];
  const uid = /^\d+$/.test(user) ? Number(user) : lookupId('-u', user);
  let gid: number | string = group ?? lookupId('-g', user);
  if (typeof gid === 'string' && /^\d+$/.test(gid)) gid = Number(gid);
  try {
    if (process.getuid?.() === 0 && typeof user === 'string' && !/^\d+$/.test(user)) (process as NodeJS.Process & { initgroups?: (u: string, g: number | string) => void }).initgroups?.(user, gid);
    process.setgid?.(gid);
    process.setuid?.(uid);
  } catch (err) {
    throw new ConfigError(`--chuid ${spec}: ${(err as Error).message}`);
  }
}
