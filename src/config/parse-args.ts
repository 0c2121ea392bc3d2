/** Command line → Settings, driven entirely by the SETTINGS table. */
import { ConfigError } from '../errors.js';
import { SETTINGS, defaults, type Setting, type Settings } from './settings.js';

export interface ParsedArgs {
  settings: Settings;
  /** Positional arguments: the app and its middleware (or the factory's own). */
  args: string[];
  /** Settings the user gave explicitly (for factories that read config files). */
  given: Set<keyof Settings>;
}

const BY_FLAG = new Map<string, Setting>();
for (const s of SETTINGS) for (const f of s.flags) BY_FLAG.set(f, s);

function distance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return dp[a.length]![b.length]!;
}

function suggest(flag: string): string {
  let best = '';
  let bestD = Infinity;
  for (const known of BY_FLAG.keys()) {
    const d = distance(flag, known);
    if (d < bestD) [best, bestD] = [known, d];
  }
  return bestD <= Math.max(2, Math.floor(flag.length / 3)) ? ` (did you mean ${best}?)` : ' (see spawning --help)';
}

/** `command` is 'fleet' for `spawning fleet ...`, whose flags differ in part (each setting's scope). */
export function parseArgs(argv: readonly string[], command: 'server' | 'fleet' = 'server'): ParsedArgs {
  const settings = defaults();
  const record = settings as unknown as Record<string, unknown>;
  const given = new Set<keyof Settings>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!token.startsWith('-') || token === '-') {
      args.push(token);
      continue;
    }
    let flag = token;
    let inline: string | undefined;
    const eq = token.indexOf('=');
    if (token.startsWith('--') && eq > 0) {
      flag = token.slice(0, eq);
      inline = token.slice(eq + 1);
    } else if (!token.startsWith('--') && token.length > 2) {
      flag = token.slice(0, 2); // -lFILE
      inline = token.slice(2);
    }
    const setting = BY_FLAG.get(flag);
    if (!setting) throw new ConfigError(`unknown option ${flag}${suggest(flag)}`);
    const scope = setting.scope ?? 'server';
    if (scope !== 'both' && scope !== command) {
      throw new ConfigError(`option ${flag} ${command === 'fleet' ? 'applies to the server, not to spawning fleet' : 'applies to spawning fleet only'}`);
    }
    given.add(setting.key);
    if (!setting.parse) {
      if (inline !== undefined) throw new ConfigError(`option ${flag} takes no value, got '${inline}'`);
      record[setting.key] = true;
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      if (i + 1 >= argv.length) throw new ConfigError(`option ${flag} needs a value (${setting.meta ?? 'VALUE'})`);
      raw = argv[++i]!;
    }
    try {
      record[setting.key] = (setting.parse as (r: string, p: unknown) => unknown)(raw, record[setting.key]);
    } catch (err) {
      throw new ConfigError(`invalid value for ${flag}: ${(err as Error).message}`);
    }
  }
  return { settings, args, given };
}

export function helpText(version: string): string {
  const lines = [
    `spawning ${version}: a fast, graceful HTTP server for Python WSGI apps`,
    '',
    'usage: spawning [options] module.app [middleware ...]',
    '       spawning --config FILE [options]                 (TOML: long flag names as keys, plus app)',
    '       spawning --factory=spawning.paste_factory.config_factory development.ini',
    '       spawning fleet status|reload|drain NODE --nats URL [--fleet NAME] [options]',
    '',
  ];
  let section = '';
  for (const s of SETTINGS) {
    if (s.section !== section) {
      section = s.section;
      lines.push(`${section}:`);
    }
    const flags = s.flags.join(', ') + (s.meta ? ` ${s.meta}` : '');
    const dflt = s.default === null || s.default === false || (Array.isArray(s.default) && s.default.length === 0) ? '' : ` [default: ${String(s.default)}]`;
    lines.push(`  ${flags.padEnd(30)} ${s.describe}${dflt}`);
  }
  return lines.join('\n') + '\n';
}
