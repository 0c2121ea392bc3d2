# Written by scripts/sync-version.mjs from package.json; do not edit.
__version__ = "0.1.0"
