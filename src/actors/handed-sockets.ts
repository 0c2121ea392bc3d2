/**
 * Listening sockets this process was handed instead of binding its own:
 * by systemd's socket activation (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES:
 * sd_listen_fds(3)), or by the controller it replaces in an in-place upgrade
 * (SPAWNING_LISTEN_FDS, the same layout without a pid, since Node cannot know
 * a child's pid before it runs). Either way the sockets start at fd 3, are
 * already listening, and the variables are removed once read, so the
 * processes this one starts do not take them for their own.
 */
import { readFileSync, readlinkSync, closeSync } from 'node:fs';
import net from 'node:net';
import { BindError } from '../errors.js';
import type { ListenSocket } from './listen-socket.js';

export const SD_LISTEN_FDS_START = 3;
/** Set by a controller for the successor it starts on SIGUSR2 (src/runtime/upgrade.ts). */
export const UPGRADE_FDS_ENV = 'SPAWNING_LISTEN_FDS';
export const UPGRADE_FDNAMES_ENV = 'SPAWNING_LISTEN_FDNAMES';

export type HandedBy = 'systemd' | 'upgrade';

export interface Handed {
  by: HandedBy;
  fds: number[];
  /** LISTEN_FDNAMES, one per fd ('unknown' when systemd was given none). */
  names: string[];
}

/** Reads and removes the variables; null when this process was handed nothing. */
export function takeHandedSockets(env: NodeJS.ProcessEnv = process.env, pid = process.pid): Handed | null {
  const systemd = env.LISTEN_FDS !== undefined;
  const count = env[UPGRADE_FDS_ENV] ?? env.LISTEN_FDS;
  const forUs = systemd ? env.LISTEN_PID === String(pid) : count !== undefined;
  const namesText = (systemd ? env.LISTEN_FDNAMES : env[UPGRADE_FDNAMES_ENV]) ?? '';
  for (const key of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', UPGRADE_FDS_ENV, UPGRADE_FDNAMES_ENV]) delete env[key];
  if (!forUs || count === undefined) return null;
  const n = Number(count);
  const by: HandedBy = systemd ? 'systemd' : 'upgrade';
  const variable = systemd ? 'LISTEN_FDS' : UPGRADE_FDS_ENV;
  if (!/^\d+$/.test(count) || n < 1) throw new BindError(`${variable}=${count}: expected the number of sockets handed (1 or more)`);
  const fds = Array.from({ length: n }, (_, i) => SD_LISTEN_FDS_START + i);
  const given = namesText === '' ? [] : namesText.split(':');
  return { by, fds, names: fds.map((_, i) => given[i] || 'unknown') };
}

interface FdHandle {
  getsockname?(out: { address?: string; port?: number; family?: string }): number;
  close(): void;
}
type CreateServerHandle = (address: null, port: 0, addressType: 0, fd: number) => FdHandle | number;
const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

/** The path of a Unix socket by its inode, from /proc/net/unix (Linux): what the fd itself cannot tell Node. */
function unixSocketPath(fd: number): string | null {
  const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  if (!inode) return null;
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[6] === inode) return cols[7] ?? null;
  }
  return null;
}

/**
 * A handed socket as a ListenSocket: its address read from the descriptor.
 * Closing it closes this process's descriptor only: the socket (and a Unix
 * socket's file) belong to whoever handed it.
 */
export function handedListenSocket(fd: number, handed: Handed): ListenSocket {
  let handle: FdHandle | number;
  try {
    handle = createServerHandle(null, 0, 0, fd);
  } catch {
    handle = -1;
  }
  const from = handed.by === 'systemd' ? 'LISTEN_FDS' : UPGRADE_FDS_ENV;
  if (typeof handle === 'number') throw new BindError(`${from}: fd ${fd} is not a stream socket`);
  const name: { address?: string; port?: number; family?: string } = {};
  const isTcp = typeof handle.getsockname === 'function' && handle.getsockname(name) === 0 && name.port !== undefined;
  const close = async (): Promise<void> => {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  };
  if (isTcp) {
    const host = name.address!;
    const display = host.includes(':') ? `[${host}]` : host;
    return { fd, url: `http://${display}:${name.port}`, host, port: name.port!, unixPath: null, close };
  }
  const unixPath = unixSocketPath(fd);
  if (unixPath === null) throw new BindError(`${from}: fd ${fd} is not a listening TCP or Unix stream socket`);
  return { fd, url: `unix:${unixPath}`, host: 'localhost', port: 0, unixPath, close };
}
