/** The child's Python worker process and its framed channel (fd 3 of the worker). */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { ChildConfig } from '../../protocol/control-messages.js';
import type { FromWorker, ToWorker } from '../../protocol/worker-messages.js';
import { FramedChannel } from '../ipc/framed-channel.js';

export interface PythonWorkerEvents {
  message: [FromWorker];
  exit: [code: number | null, signal: NodeJS.Signals | null];
}

export class PythonWorker extends EventEmitter<PythonWorkerEvents> {
  readonly process: ChildProcess;
  readonly channel: FramedChannel<FromWorker, ToWorker>;
  exited = false;
  /** READY arrived: the app is loaded. */
  ready = false;

  constructor(config: ChildConfig) {
    super();
    const options = {
      factory: config.factory,
      args: config.args,
      threads: config.threads,
      processes: config.processes,
      host: config.host,
      port: config.port,
      reload: config.reload,
    };
    const pythonPath = [...config.pythonPath, process.env.PYTHONPATH].filter(Boolean).join(':');
    this.process = spawn(
      config.python,
      ['-m', 'spawning.worker', '--channel-fd', '3', '--options-json', JSON.stringify(options)],
      {
        stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
        env: { ...process.env, PYTHONPATH: pythonPath, PYTHONUNBUFFERED: '1' },
      },
    );
    this.channel = new FramedChannel<FromWorker, ToWorker>(this.process.stdio[3] as Socket);
    this.channel.on('message', (m) => this.emit('message', m));
    this.channel.on('error', (err) => {
      process.stderr.write(`spawning: worker ${this.pid} channel: ${err.message}\n`);
      this.kill('SIGKILL');
    });
    this.process.on('error', (err) => {
      // spawn failures (ENOENT, EACCES) arrive here and as an exit with code -2 / null.
      process.stderr.write(`spawning: cannot start Python worker ${config.python}: ${err.message}\n`);
      if (this.process.pid === undefined && !this.exited) {
        this.exited = true;
        this.emit('exit', 127, null);
      }
    });
    // 'close', not 'exit': it comes after fd 3 is drained, so a LOAD_ERROR frame is never overtaken.
    this.process.on('close', (code, signal) => {
      if (this.exited) return;
      this.exited = true;
      this.emit('exit', code, signal);
    });
  }

  get pid(): number {
    return this.process.pid ?? 0;
  }

  send(message: ToWorker): void {
    this.channel.send(message);
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.exited) this.process.kill(signal);
  }
}
