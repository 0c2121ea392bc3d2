/** Prints the flag reference for the README as Markdown: `node dist/src/config/reference.js`. */
import { SETTINGS } from './settings.js';

export function referenceMarkdown(): string {
  const rows = ['| flag | default | description |', '|---|---|---|'];
  for (const s of SETTINGS) {
    const flags = s.flags.map((f) => `\`${f}${s.meta ? ` ${s.meta}` : ''}\``).join(', ');
    const dflt = s.default === null || (Array.isArray(s.default) && s.default.length === 0) ? '' : `\`${String(s.default)}\``;
    rows.push(`| ${flags} | ${dflt} | ${s.describe} |`);
  }
  return rows.join('\n') + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(referenceMarkdown());
