/**
 * What the controller sends the processes it starts, picked from the settings
 * table by the rows' `to` tags: a child's `start` config and a Python
 * worker's `--options-json`. A flag reaches a process by its tag alone.
 *
 * `node dist/src/config/process-config.js` prints a worker's options with
 * every flag at its default (python/tests build theirs from it).
 */
import path from 'node:path';
import type { ChildConfig, ChildDerived } from '../../protocol/control-messages.js';
import { defaults, sentTo, type Settings, type SettingsTo } from './settings.js';

/** What only the running controller knows: the positional arguments, the interpreter, the bound address, its paths and timing. */
export type ChildFacts = Omit<ChildDerived, 'keepalive' | 'accessLog' | 'scriptName' | 'workers' | 'peers'>;

export function childConfig(settings: Settings, facts: ChildFacts): ChildConfig {
  const { accessLogFile } = settings;
  return {
    ...sentTo(settings, 'child', 'worker'),
    ...facts,
    keepalive: !settings.noKeepalive,
    accessLog: accessLogFile === '-' || accessLogFile === '/dev/null' ? accessLogFile : path.resolve(accessLogFile),
    scriptName: settings.scriptName ?? '',
    // The controller gives each child its share of --processes when it starts it.
    workers: 1,
    peers: false,
  };
}

/** `maxGreen` → `max_green`. */
export type SnakeCase<S extends string> = S extends `${infer Head}${infer Tail}` ? `${Head extends Lowercase<Head> ? Head : `_${Lowercase<Head>}`}${SnakeCase<Tail>}` : S;

export function snakeCase<S extends string>(key: S): SnakeCase<S> {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) as SnakeCase<S>;
}

export type WorkerOptionsSource = SettingsTo<'worker'> & Pick<ChildDerived, 'args' | 'coverageDir'>;

/**
 * Snake case on the wire: a config_factory receives these options as its
 * arguments, and the factory contract's names (`num_processes`, ...) are Python's.
 */
export type WorkerOptions = { [K in keyof WorkerOptionsSource as SnakeCase<K>]: WorkerOptionsSource[K] };

/** The options the Python side receives (`--options-json`), for the worker and the config probe alike. */
export function workerOptions(source: WorkerOptionsSource): WorkerOptions {
  const sent: Record<string, unknown> = { ...sentTo(source, 'worker'), args: source.args, coverageDir: source.coverageDir };
  return Object.fromEntries(Object.entries(sent).map(([key, value]) => [snakeCase(key), value])) as WorkerOptions;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(workerOptions({ ...defaults(), args: [], coverageDir: null }))}\n`);
}
