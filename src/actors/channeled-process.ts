/** A process we talk to in msgpack frames on its fd 3: a child (control channel) or a Python worker. */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { FramedChannel } from '../ipc/framed-channel.js';

export interface ChanneledProcessEvents<In> {
  message: [In];
  exit: [code: number | null, signal: NodeJS.Signals | null];
}

export interface ChanneledProcessOptions {
  /** Names the process in log lines ("child", "worker"). */
  role: string;
  command: string;
  args: string[];
  /** Descriptors after stdin/stdout/stderr and the channel (fd 3), e.g. the listening socket. */
  extraFds?: number[];
  env?: NodeJS.ProcessEnv;
  /** Also Node's IPC channel (after the extra descriptors): it carries descriptors, which the msgpack channel cannot. */
  ipc?: boolean;
}

export class ChanneledProcess<In, Out> extends EventEmitter<ChanneledProcessEvents<In>> {
  readonly process: ChildProcess;
  readonly channel: FramedChannel<In, Out>;
  exited = false;

  constructor(opts: ChanneledProcessOptions) {
    super();
    const stdio: StdioOptions = ['ignore', 'inherit', 'inherit', 'pipe', ...(opts.extraFds ?? []), ...(opts.ipc ? ['ipc' as const] : [])];
    this.process = spawn(opts.command, opts.args, { stdio, env: opts.env });
    this.channel = new FramedChannel<In, Out>(this.process.stdio[3] as Socket);
    this.channel.on('message', (m) => this.emit('message', m));
    this.channel.on('error', (err) => {
      // A corrupt channel cannot be resynchronised: the process is of no more use.
      process.stderr.write(`spawning: ${opts.role} ${this.pid} channel: ${err.message}\n`);
      this.kill('SIGKILL');
    });
    this.process.on('error', (err) => {
      process.stderr.write(`spawning: cannot start ${opts.role} ${opts.command}: ${err.message}\n`);
      // A failed spawn (ENOENT, EACCES) has no pid and may never emit 'close'.
      if (this.process.pid === undefined) this.#exited(127, null);
    });
    // 'close', not 'exit': it comes after fd 3 is drained, so a last message is never overtaken by the exit.
    this.process.on('close', (code, signal) => this.#exited(code, signal));
  }

  #exited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    this.emit('exit', code, signal);
  }

  get pid(): number {
    return this.process.pid ?? 0;
  }

  send(message: Out): void {
    this.channel.send(message);
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.exited) this.process.kill(signal);
  }
}
