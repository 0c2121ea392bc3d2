/**
 * Where settings come from, highest first: the command line, SPAWNING_*
 * environment variables, a TOML file (--config FILE or $SPAWNING_CONFIG),
 * the defaults. Driven by the settings table alone: a row's long flag is its
 * file key (`max-memory = "512M"`, `max_memory` too) and names its variable
 * (SPAWNING_MAX_MEMORY), and every value goes through the row's own parser,
 * so a new flag is a file key and a variable with no work here.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ConfigError } from '../errors.js';
import { parseArgs, type ParsedArgs } from './parse-args.js';
import { SETTINGS, defaults, type Setting, type Settings } from './settings.js';

/** Shown as '(set)', never printed. */
const SECRETS = new Set<keyof Settings>(['natsToken', 'natsPassword']);

export const CONFIG_ENV = 'SPAWNING_CONFIG';
/** The file key for the positional arguments: the app and its middleware (or the factory's own). */
export const APP_KEY = 'app';

export type Source = 'default' | 'command line' | `file ${string}` | `environment ${string}`;

export interface ResolvedArgs extends ParsedArgs {
  /** Where each setting's value came from. */
  sources: Map<keyof Settings, Source>;
  argsSource: Source;
  configFile: string | null;
}

/** `--max-memory` → `max-memory`. */
export function longName(setting: Setting): string {
  return (setting.flags.find((f) => f.startsWith('--')) ?? setting.flags[0]!).replace(/^-+/, '');
}

/** `max-memory` → `SPAWNING_MAX_MEMORY`. */
export function envName(setting: Setting): string {
  return `SPAWNING_${longName(setting).toUpperCase().replace(/-/g, '_')}`;
}

const BY_KEY = new Map<string, Setting>();
for (const s of SETTINGS) if (!s.cliOnly) BY_KEY.set(longName(s), s);

function applies(setting: Setting, command: 'server' | 'fleet'): boolean {
  const scope = setting.scope ?? 'server';
  return scope === 'both' || scope === command;
}

function parseWith(setting: Setting, raw: string, previous: unknown, where: string): unknown {
  try {
    return (setting.parse as (r: string, p: unknown) => unknown)(raw, previous);
  } catch (err) {
    throw new ConfigError(`invalid value for ${longName(setting)} ${where}: ${(err as Error).message}`);
  }
}

function suggestion(key: string): string {
  const close = [...BY_KEY.keys()].find((k) => k.startsWith(key.slice(0, 4)) || key.startsWith(k.slice(0, 4)));
  return close ? ` (did you mean ${close}?)` : '';
}

/** One TOML value through its row: strings and numbers as the flag's text, booleans for on/off flags, arrays for lists. */
function fromToml(setting: Setting, value: unknown, where: string): unknown {
  const name = longName(setting);
  if (!setting.parse) {
    if (typeof value !== 'boolean') throw new ConfigError(`invalid value for ${name} ${where}: expected true or false`);
    return value;
  }
  const text = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'bigint') return String(v);
    throw new ConfigError(`invalid value for ${name} ${where}: expected ${setting.meta ?? 'a value'} as a string or number`);
  };
  if (setting.repeatable) {
    const items = Array.isArray(value) ? value : [value];
    return items.reduce<unknown>((prev, item) => parseWith(setting, text(item), prev, where), []);
  }
  // Lists that the flag takes comma-separated (--nats, --forwarded-allow-ips) may be TOML arrays.
  const raw = Array.isArray(value) && Array.isArray(setting.default) ? value.map(text).join(',') : text(value);
  return parseWith(setting, raw, setting.default, where);
}

function fromEnv(setting: Setting, raw: string, where: string): unknown {
  if (!setting.parse) {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off|)$/i.test(raw)) return false;
    throw new ConfigError(`invalid value for ${longName(setting)} ${where}: expected 1 or 0 (true or false), got '${raw}'`);
  }
  if (setting.repeatable) return raw.split(',').reduce<unknown>((prev, item) => parseWith(setting, item.trim(), prev, where), []);
  return parseWith(setting, raw, setting.default, where);
}

interface FileLayer {
  values: Map<keyof Settings, unknown>;
  args: string[] | null;
}

export function readConfigFile(file: string, command: 'server' | 'fleet' = 'server'): FileLayer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read --config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let table: Record<string, unknown>;
  try {
    table = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const { line, column } = err as { line?: number; column?: number };
    const at = line === undefined ? '' : ` (line ${line}, column ${column ?? 1})`;
    throw new ConfigError(`${file} is not valid TOML${at}: ${(err as Error).message.split('\n')[0]!.replace(/^Invalid TOML document: /, '')}`);
  }
  const values = new Map<keyof Settings, unknown>();
  let args: string[] | null = null;
  for (const [rawKey, value] of Object.entries(table)) {
    const key = rawKey.replace(/_/g, '-');
    const where = `in ${file}`;
    if (key === APP_KEY) {
      const list = Array.isArray(value) ? value : [value];
      if (!list.every((v): v is string => typeof v === 'string')) throw new ConfigError(`invalid value for ${APP_KEY} ${where}: expected a string or an array of strings`);
      args = list;
      continue;
    }
    const setting = BY_KEY.get(key);
    if (!setting) {
      const cliOnly = SETTINGS.find((s) => longName(s) === key);
      throw new ConfigError(cliOnly ? `'${rawKey}' in ${file}: --${key} is for the command line only` : `unknown setting '${rawKey}' in ${file}${suggestion(key)}`);
    }
    // A file shared with `spawning fleet` may hold its settings too: not an error, just not ours.
    if (!applies(setting, command)) continue;
    values.set(setting.key, fromToml(setting, value, where));
  }
  return { values, args };
}

/** The command line over the environment over the file over the defaults. */
export function resolveArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, command: 'server' | 'fleet' = 'server'): ResolvedArgs {
  const cli = parseArgs(argv, command);
  const settings = defaults();
  const record = settings as unknown as Record<string, unknown>;
  const sources = new Map<keyof Settings, Source>();
  for (const s of SETTINGS) sources.set(s.key, 'default');
  const given = new Set<keyof Settings>();
  const set = (key: keyof Settings, value: unknown, source: Source): void => {
    record[key] = value;
    sources.set(key, source);
    given.add(key);
  };
  const configFile = cli.settings.config ?? (env[CONFIG_ENV] || null);
  let args = cli.args;
  let argsSource: Source = 'command line';
  const file = configFile === null ? null : path.resolve(configFile);
  if (file !== null) {
    const layer = readConfigFile(file, command);
    for (const [key, value] of layer.values) set(key, value, `file ${file}`);
    if (args.length === 0 && layer.args) {
      args = layer.args;
      argsSource = `file ${file}`;
    }
    set('config', file, cli.given.has('config') ? 'command line' : `environment ${CONFIG_ENV}`);
  }
  for (const s of SETTINGS) {
    if (s.cliOnly || !applies(s, command)) continue;
    const name = envName(s);
    const raw = env[name];
    if (raw === undefined) continue;
    set(s.key, fromEnv(s, raw, `in $${name}`), `environment ${name}`);
  }
  for (const key of cli.given) set(key, (cli.settings as unknown as Record<string, unknown>)[key], 'command line');
  if (file !== null) settings.config = file;
  return { settings, args, given, sources, argsSource, configFile: file };
}

/** --print-config: every setting as `name = value  # source`, in TOML's notation for the values. */
export function printConfig(resolved: ResolvedArgs): string {
  const rows: Array<[string, string, Source]> = [];
  rows.push([APP_KEY, JSON.stringify(resolved.args), resolved.args.length === 0 ? 'default' : resolved.argsSource]);
  for (const s of SETTINGS) {
    if (s.cliOnly || !applies(s, 'server')) continue;
    const value = (resolved.settings as unknown as Record<string, unknown>)[s.key];
    rows.push([longName(s), value === null ? '(none)' : SECRETS.has(s.key) ? '(set)' : JSON.stringify(value), resolved.sources.get(s.key) ?? 'default']);
  }
  const width = Math.max(...rows.map(([name, value]) => name.length + value.length + 3));
  const lines = rows.map(([name, value, source]) => `${`${name} = ${value}`.padEnd(width)}  # ${source}`);
  if (resolved.configFile) lines.unshift(`# spawning settings; config file ${resolved.configFile}`);
  return lines.join('\n') + '\n';
}
