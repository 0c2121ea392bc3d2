/** Where the installed package's parts are, wherever the CLI is run from. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (this file is dist/src/paths.js once built). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHILD_ENTRY = path.join(PACKAGE_ROOT, 'dist', 'src', 'runtime', 'child.js');
export const PYTHON_PACKAGE_DIR = path.join(PACKAGE_ROOT, 'python');
