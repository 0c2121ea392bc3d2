/** The child's Python worker process and its framed channel (fd 3 of the worker). */
import type { ChildConfig } from '../../protocol/control-messages.js';
import type { FromWorker, ToWorker } from '../../protocol/worker-messages.js';
import { ChanneledProcess } from './channeled-process.js';

export class PythonWorker extends ChanneledProcess<FromWorker, ToWorker> {
  /** READY arrived: the app is loaded. */
  ready = false;

  constructor(config: ChildConfig) {
    const options = {
      factory: config.factory,
      args: config.args,
      threads: config.threads,
      green: config.green,
      max_green: config.maxGreen,
      processes: config.processes,
      host: config.host,
      port: config.port,
      reload: config.reload,
    };
    const pythonPath = [...config.pythonPath, process.env.PYTHONPATH].filter(Boolean).join(':');
    super({
      role: 'Python worker',
      command: config.python,
      args: ['-m', 'spawning.worker', '--channel-fd', '3', '--options-json', JSON.stringify(options)],
      env: { ...process.env, PYTHONPATH: pythonPath, PYTHONUNBUFFERED: '1' },
    });
  }
}
