/** A child process: its control channel (fd 3), the inherited listening sockets (fd 4 on), and Node's IPC channel for connection hand-offs (after them). */
import type { ChildConfig, FromChild, ToChild } from '../../protocol/control-messages.js';
import { CHILD_ENTRY } from '../paths.js';
import { ChanneledProcess } from './channeled-process.js';

/**
 * The old generation a child starts with, in MB. With V8's default (a few MB
 * above what a child holds once loaded), steady request traffic keeps it at
 * its limit: incremental marking runs nearly all the time, every scavenge
 * during marking takes 5-10 ms instead of under 1 ms and promotes what would
 * have died young, and the promotions trigger the next marking (hello world,
 * one child: 10 mark-compacts in 11 s against none, and a quarter fewer
 * requests/s). 32 MB ended that for hello world, not for bodies: 10 KB
 * responses still caused 43-47 mark-compacts in 10 s, 64 KB echoes 81-92,
 * each started with the heap far under its limit (most likely V8's soft limit:
 * old-generation headroom smaller than the young generation). At 64 MB: 0
 * and 6, GC pauses down by 40-75%, echoes 30% faster, for a peak child RSS
 * under that load 0-8 MB higher (BENCHMARKS.md).
 */
export const CHILD_OLD_SPACE_MB = 64;

/**
 * The most a child's young generation's semi-spaces may grow to, in MB (V8's
 * default is 16). A front under load grows them to the limit and keeps them:
 * at 8, hello world at --processes 2 left the front 11 MB lighter for the same
 * requests/s, and 10 KB responses and 64 KB echoes ran alike; at 4 it was
 * 19 MB lighter and about 5% slower on hello world (BENCHMARKS.md).
 */
export const CHILD_SEMI_SPACE_MB = 8;

/**
 * The node flags of a child: the controller's own (--cpu-prof, --max-old-space-size…
 * apply to children too, as with cluster.fork), plus the initial old generation
 * and the young generation's limit, each unless those flags size it already.
 */
export function childNodeFlags(execArgv: readonly string[]): string[] {
  const flags = [...execArgv];
  if (!execArgv.some((flag) => /^--initial[-_](old[-_]space|heap)[-_]size(=|$)/.test(flag))) flags.push(`--initial-old-space-size=${CHILD_OLD_SPACE_MB}`);
  if (!execArgv.some((flag) => /^--max[-_]semi[-_]space[-_]size(=|$)/.test(flag))) flags.push(`--max-semi-space-size=${CHILD_SEMI_SPACE_MB}`);
  return flags;
}

export class ChildHandle extends ChanneledProcess<FromChild, ToChild> {
  constructor(readonly id: number, readonly slot: number, readonly generation: number, listenFds: number[], config: ChildConfig) {
    super({ role: 'child', command: process.execPath, args: [...childNodeFlags(process.execArgv), CHILD_ENTRY], extraFds: listenFds, ipc: true });
    this.send({ t: 'start', config, generation, slot });
  }
}
