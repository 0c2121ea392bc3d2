/**
 * The listening socket: bound once by the controller, before any child exists,
 * and held until it exits. The controller never accepts on it.
 *
 * Node has no API for "listen(2) without accepting". So the controller binds
 * a handle the way cluster's SharedHandle does (net._createServerHandle), and a
 * one-shot helper process inheriting the descriptor calls listen(2) and exits.
 * LISTEN is a state of the socket, not of a process: from then on connections
 * queue in the kernel backlog even while no child is alive, and children that
 * inherit the descriptor accept them with `listen({fd})`.
 */
import { spawn } from 'node:child_process';
import dns from 'node:dns/promises';
import net from 'node:net';
import { unlink } from 'node:fs/promises';
import { existsSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import util from 'node:util';
import { BindError } from '../errors.js';
import type { Listen } from '../config/validate.js';

interface ServerHandle {
  fd: number;
  getsockname?(out: { address?: string; port?: number; family?: string }): number;
  close(): void;
}
type CreateServerHandle = (address: string | null, port: number, addressType: number) => ServerHandle | number;
const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

export interface ListenSocket {
  fd: number;
  /** `http://127.0.0.1:8080` or `unix:/run/app.sock`. */
  url: string;
  host: string;
  port: number;
  unixPath: string | null;
  close(): Promise<void>;
}

function bindError(what: string, code: number | string): BindError {
  const name = typeof code === 'number' ? util.getSystemErrorName(code) : code;
  const reason: Record<string, string> = {
    EADDRINUSE: 'address already in use',
    EACCES: 'permission denied (ports below 1024 need root)',
    EADDRNOTAVAIL: 'address not available on this machine',
    ENOENT: 'directory does not exist',
  };
  if (what.startsWith('unix:') && name === 'EACCES') reason.EACCES = 'permission denied';
  return new BindError(`cannot listen on ${what}: ${reason[name] ?? name}`);
}

async function resolveHost(host: string): Promise<{ address: string; family: number }> {
  const family = net.isIP(host);
  if (family) return { address: host, family };
  try {
    return await dns.lookup(host);
  } catch {
    throw new BindError(`cannot listen on ${host}: unknown host`);
  }
}

/** A stale socket file (nothing listening) is removed; a live one is an error. */
async function clearStaleUnixSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new BindError(`cannot listen on unix:${path}: another server is listening there`);
  await unlink(path);
}

function makeListening(fd: number, backlog: number): Promise<void> {
  const helper = `require('net').createServer().listen({ fd: 3, backlog: ${backlog} }, () => process.exit(0))`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', helper], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new BindError(`listen(2) on the bound socket failed: ${stderr.trim().split('\n').pop() ?? code}`)),
    );
  });
}

export async function openListenSocket(listen: Listen, backlog: number): Promise<ListenSocket> {
  let handle: ServerHandle | number;
  let host = listen.host;
  let port = listen.port;
  if (listen.kind === 'unix') {
    const path = listen.path!;
    await clearStaleUnixSocket(path);
    handle = createServerHandle(path, -1, -1);
    // libuv reports a missing directory as EACCES; tell the two apart for the user.
    if (typeof handle === 'number') throw bindError(`unix:${path}`, existsSync(dirname(path)) ? handle : 'ENOENT');
  } else {
    const { address, family } = await resolveHost(listen.host);
    handle = createServerHandle(address, listen.port, family);
    if (typeof handle === 'number') throw bindError(`${listen.host}:${listen.port}`, handle);
    const name: { address?: string; port?: number } = {};
    handle.getsockname?.(name);
    // libuv defers EADDRINUSE from bind(2) to listen time, in this process; a socket that
    // came out unbound (port 0) would be auto-bound elsewhere by the helper's listen(2).
    if (!name.port) {
      handle.close();
      throw bindError(`${listen.host}:${listen.port}`, 'EADDRINUSE');
    }
    port = name.port;
    host = address;
  }
  const bound = handle;
  await makeListening(bound.fd, backlog);
  const display = host.includes(':') ? `[${host}]` : host;
  return {
    fd: bound.fd,
    url: listen.kind === 'unix' ? `unix:${listen.path}` : `http://${display}:${port}`,
    host,
    port,
    unixPath: listen.path,
    close: async () => {
      bound.close();
      // Synchronous: the controller calls process.exit right after, which would cut an async unlink short.
      if (listen.path) {
        try {
          unlinkSync(listen.path);
        } catch {
          // already removed
        }
      }
    },
  };
}
