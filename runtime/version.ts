import { readFileSync } from 'node:fs';

/** The package version, reported by sub-managers and the API so mismatches are visible. */
export const DROVER_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
