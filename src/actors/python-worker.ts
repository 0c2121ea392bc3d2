/** The child's Python worker process and its framed channel (fd 3 of the worker). */
import type { ChildConfig } from '../../protocol/control-messages.js';
import type { FromWorker, ToWorker } from '../../protocol/worker-messages.js';
import { workerOptions } from '../config/process-config.js';
import { ChanneledProcess } from './channeled-process.js';

/** The environment of the Python processes: spawning's package first on the path. */
export function pythonEnv(pythonPath: readonly string[]): NodeJS.ProcessEnv {
  return { ...process.env, PYTHONPATH: [...pythonPath, process.env.PYTHONPATH].filter(Boolean).join(':'), PYTHONUNBUFFERED: '1' };
}

export class PythonWorker extends ChanneledProcess<FromWorker, ToWorker> {
  /** READY arrived: the app is loaded. */
  ready = false;

  constructor(config: ChildConfig) {
    super({
      role: 'Python worker',
      command: config.python,
      args: ['-m', 'spawning.worker', '--channel-fd', '3', '--options-json', JSON.stringify(workerOptions(config))],
      env: pythonEnv(config.pythonPath),
    });
  }
}
