/** A ChildConfig for tests that start a real child or Python worker without a controller: the table's defaults, the fixtures on the path. */
import type { ChildConfig } from '../../protocol/control-messages.js';
import { childConfig } from '../../src/config/process-config.js';
import { defaults, type Settings } from '../../src/config/settings.js';
import { PYTHON_PACKAGE_DIR } from '../../src/paths.js';
import { FIXTURES_DIR, VENV_PYTHON } from './repo.js';

export function testChildConfig(settings: Partial<Settings> = {}, overrides: Partial<ChildConfig> = {}): ChildConfig {
  return {
    ...childConfig(
      { ...defaults(), processes: 1, backlog: 128, headersTimeout: 10, maxHeaderSize: 8192, accessLogFile: '/dev/null', ...settings },
      {
        args: ['child_apps.app'],
        python: VENV_PYTHON,
        host: '127.0.0.1',
        port: 0,
        unixPath: null,
        listenFds: 1,
        statsInterval: 100,
        pythonPath: [PYTHON_PACKAGE_DIR, FIXTURES_DIR],
        coverageDir: null,
      tls: null,
      },
    ),
    ...overrides,
  };
}
