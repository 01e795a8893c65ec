// Real fixtures live outside the repo (../shared by default, or $SUB4_FIXTURES).
// Tests that need them call `fixture()`; when the root is absent they are
// skipped with a printed reason, unless SUB4_REQUIRE_FIXTURES=1 (CI), where the
// absence is a failure.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const FIXTURES = resolve(process.env.SUB4_FIXTURES ?? resolve(import.meta.dirname, '../../../shared'));
export const REQUIRE = process.env.SUB4_REQUIRE_FIXTURES === '1';

/** Absolute path of a fixture, or null (and a printed reason) when it is missing and not required. */
export function fixture(rel: string): string | null {
  const p = resolve(FIXTURES, rel);
  if (existsSync(p)) return p;
  const msg = `fixture ${rel} not found under ${FIXTURES} (set SUB4_FIXTURES to the shared/ folder)`;
  if (REQUIRE) throw new Error(`${msg}; SUB4_REQUIRE_FIXTURES=1 makes this a failure`);
  console.warn(`SKIP: ${msg}`);
  return null;
}
