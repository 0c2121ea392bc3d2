/**
 * `spawning machines [--format=mermaid|json] [NAME ...]`: prints the state
 * machine definitions the server runs, generated from the code itself.
 */
import { ConfigError } from '../errors.js';
import { MACHINES, machineCatalog } from '../status/machine-catalog.js';

const FORMATS = ['mermaid', 'json'] as const;
type Format = (typeof FORMATS)[number];

export const MACHINES_USAGE = `usage: spawning machines [--format=mermaid|json] [${Object.keys(MACHINES).join('|')} ...]\n`;

export function machinesCommand(argv: readonly string[], write: (text: string) => void): number {
  let format: Format = 'mermaid';
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '-h' || token === '--help') {
      write(MACHINES_USAGE);
      return 0;
    }
    if (token === '--format' || token.startsWith('--format=')) {
      const value = token.includes('=') ? token.slice('--format='.length) : argv[++i];
      if (value === undefined) throw new ConfigError('--format needs a value: mermaid or json');
      if (!(FORMATS as readonly string[]).includes(value)) throw new ConfigError(`--format must be mermaid or json, got '${value}'`);
      format = value as Format;
    } else if (token.startsWith('-')) {
      throw new ConfigError(`unknown option '${token}' for spawning machines (${MACHINES_USAGE.trim()})`);
    } else if (!(token in MACHINES)) {
      throw new ConfigError(`no machine named '${token}'; the machines are ${Object.keys(MACHINES).join(', ')}`);
    } else {
      names.push(token);
    }
  }
  const chosen = machineCatalog().filter((m) => names.length === 0 || names.includes(m.name));
  if (format === 'json') {
    write(`${JSON.stringify(chosen.map(({ name, definition }) => ({ name, definition })), null, 2)}\n`);
  } else {
    write(chosen.map((m) => `%% ${m.name}\n${m.mermaid}\n`).join('\n'));
  }
  return 0;
}
