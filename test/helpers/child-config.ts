/** A ChildConfig for tests that start a real child or Python worker without a controller. */
import type { ChildConfig } from '../../protocol/control-messages.js';
import { PYTHON_PACKAGE_DIR } from '../../src/paths.js';
import { FIXTURES_DIR, VENV_PYTHON } from './repo.js';

export function testChildConfig(overrides: Partial<ChildConfig> = {}): ChildConfig {
  return {
    args: ['child_apps.app'],
    factory: 'spawning.wsgi_factory.config_factory',
    python: VENV_PYTHON,
    threads: 4,
    green: 'gevent',
    maxGreen: 1000,
    maxQueue: 1024,
    timeout: 0,
    processes: 1,
    workers: 1,
    backlog: 128,
    host: '127.0.0.1',
    port: 0,
    unixPath: null,
    keepalive: true,
    keepaliveTimeout: 5,
    headersTimeout: 10,
    maxHeaderSize: 8192,
    maxBodySize: 0,
    accessLog: '/dev/null',
    deadmanTimeout: 10,
    statsInterval: 100,
    reload: null,
    pythonPath: [PYTHON_PACKAGE_DIR, FIXTURES_DIR],
    inspect: null,
    coverageDir: null,
    forwardedAllowIps: ['127.0.0.1'],
    scriptName: '',
    accessLogFormat: null,
    ...overrides,
  };
}
