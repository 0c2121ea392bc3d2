/** A child process: its control channel (fd 3) and the inherited listening socket (fd 4). */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { ChildConfig, FromChild, ToChild } from '../../protocol/control-messages.js';
import { FramedChannel } from '../ipc/framed-channel.js';
import { CHILD_ENTRY } from '../paths.js';

export interface ChildProcessEvents {
  message: [FromChild];
  exit: [code: number | null, signal: NodeJS.Signals | null];
}

export class ChildHandle extends EventEmitter<ChildProcessEvents> {
  readonly process: ChildProcess;
  readonly channel: FramedChannel<FromChild, ToChild>;
  exited = false;

  constructor(readonly id: number, readonly slot: number, readonly generation: number, listenFd: number, config: ChildConfig) {
    super();
    this.process = spawn(process.execPath, [CHILD_ENTRY], { stdio: ['ignore', 'inherit', 'inherit', 'pipe', listenFd] });
    this.channel = new FramedChannel<FromChild, ToChild>(this.process.stdio[3] as Socket);
    this.channel.on('message', (m) => this.emit('message', m));
    this.channel.on('error', (err) => process.stderr.write(`spawning: child ${this.pid} channel: ${err.message}\n`));
    // 'close' waits for fd 3 to drain, so a child's last message precedes its exit.
    this.process.on('close', (code, signal) => {
      this.exited = true;
      this.emit('exit', code, signal);
    });
    this.channel.send({ t: 'start', config, generation, slot });
  }

  get pid(): number {
    return this.process.pid ?? 0;
  }

  send(message: ToChild): void {
    this.channel.send(message);
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.exited) this.process.kill(signal);
  }
}
