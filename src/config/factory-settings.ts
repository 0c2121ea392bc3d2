/**
 * Server settings a factory's config carries (a Paste ini's [server:main])
 * apply unless the same option was given on the command line; they are
 * checked by the same parsers as the flags.
 */
import type { FactoryServerSettings } from '../actors/config-probe.js';
import { ConfigError } from '../errors.js';
import type { ParsedArgs } from './parse-args.js';
import { SETTINGS, type Settings } from './settings.js';

/** The controller's names and the historic ones a config uses. */
const HISTORIC: Record<keyof FactoryServerSettings, string> = { host: 'host', port: 'port', processes: 'num_processes', threads: 'threadpool_workers' };

export function applyFactorySettings(parsed: ParsedArgs, server: FactoryServerSettings): void {
  const record = parsed.settings as unknown as Record<string, unknown>;
  for (const key of Object.keys(HISTORIC) as Array<keyof FactoryServerSettings>) {
    const value = server[key];
    if (value === undefined || value === null || parsed.given.has(key)) continue;
    if ((key === 'host' || key === 'port') && parsed.given.has('bind')) continue;
    const setting = SETTINGS.find((s) => s.key === key)!;
    try {
      record[key] = (setting.parse as (raw: string, prev: unknown) => Settings[typeof key])(String(value), record[key]);
    } catch (err) {
      throw new ConfigError(`the factory's config sets ${HISTORIC[key]} = ${String(value)}: ${(err as Error).message}`);
    }
  }
}
