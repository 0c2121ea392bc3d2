/** A child process: its control channel (fd 3) and the inherited listening socket (fd 4). */
import type { ChildConfig, FromChild, ToChild } from '../../protocol/control-messages.js';
import { CHILD_ENTRY } from '../paths.js';
import { ChanneledProcess } from './channeled-process.js';

export class ChildHandle extends ChanneledProcess<FromChild, ToChild> {
  constructor(readonly id: number, readonly slot: number, readonly generation: number, listenFd: number, config: ChildConfig) {
    // The controller's own node flags (--cpu-prof, --max-old-space-size…) apply to children too, as with cluster.fork.
    super({ role: 'child', command: process.execPath, args: [...process.execArgv, CHILD_ENTRY], extraFds: [listenFd] });
    this.send({ t: 'start', config, generation, slot });
  }
}
