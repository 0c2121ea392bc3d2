/**
 * Sizes as people write them on a command line: `512M`, `1G`, `2048K`,
 * `1.5G`, `64KB`, `10MiB`. Units are binary (K = 1024), as in the original
 * Spawning and in `ulimit`/`ps`. A plain number takes the caller's default
 * unit: megabytes for --max-memory (the seed's meaning), bytes elsewhere.
 */

export type SizeUnit = 'B' | 'K' | 'M' | 'G' | 'T';

const FACTOR: Record<SizeUnit, number> = { B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

// A number, then an optional unit letter, optionally followed by B or iB (`M`, `MB`, `MiB`).
const SIZE = /^(\d+(?:\.\d+)?|\.\d+)\s*(?:([KMGT])(?:i?B)?|(B))?$/i;

/** A size that does not parse; the message is one line, for `invalid value for --flag: <message>`. */
export class SizeError extends Error {
  readonly code = 'SPAWNING_ERR_SIZE';
}

export interface ParseSizeOptions {
  /** What a number without a unit means. */
  plainUnit?: SizeUnit;
}

/** Bytes, rounded down to a whole byte. */
export function parseSize(raw: string, options: ParseSizeOptions = {}): number {
  const text = raw.trim();
  const m = SIZE.exec(text);
  const plain = options.plainUnit ?? 'B';
  if (!m) {
    const hint = text === '' ? 'an empty value' : /^-/.test(text) ? `a negative size '${raw}'` : `'${raw}'`;
    throw new SizeError(`expected a size like 512M, 1G or 2048K (a plain number is ${unitName(plain)}), got ${hint}`);
  }
  const unit: SizeUnit = m[2] ? (m[2].toUpperCase() as SizeUnit) : m[3] ? 'B' : plain;
  const bytes = Math.floor(Number(m[1]) * FACTOR[unit]);
  if (!Number.isSafeInteger(bytes)) throw new SizeError(`size '${raw}' is too large`);
  return bytes;
}

/** --max-memory's parser: a plain number is megabytes. */
export const parseMemorySize = (raw: string): number => parseSize(raw, { plainUnit: 'M' });

/** The short form used in log lines: `512M`, `1.5G`, `800K`, `12B`. */
export function formatSize(bytes: number): string {
  for (const unit of ['T', 'G', 'M', 'K'] as const) {
    const v = bytes / FACTOR[unit];
    if (v >= 1) return `${Number.isInteger(v) ? v : Number(v.toFixed(1))}${unit}`;
  }
  return `${bytes}B`;
}

function unitName(unit: SizeUnit): string {
  return { B: 'bytes', K: 'kilobytes', M: 'megabytes', G: 'gigabytes', T: 'terabytes' }[unit];
}
