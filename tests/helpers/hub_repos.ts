// The fixture repos the local test hub serves, built from the real files in
// $SUB4_FIXTURES: stories260K's Hugging Face folder as a safetensors repo, its
// GGUF as a GGUF repo, the same GGUF behind a gate (token required), and a repo
// whose listing names a file that is gone.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from './fixtures.ts';
import { fileBytes, type FixtureRepo } from './hub_server.ts';

export const SAFETENSORS_REPO = 'sub4-test/stories260K';
export const GGUF_REPO = 'sub4-test/stories260K-GGUF';
export const GATED_REPO = 'sub4-test/stories260K-gated';
/** Lists a GGUF that is gone when fetched (a listing older than a deletion). */
export const STALE_REPO = 'sub4-test/stale-GGUF';
export const GATE_TOKEN = 'hf_sub4TestToken0123456789';

const readme = (what: string) => new TextEncoder().encode(`# ${what}\n\nA test repo served by sub4's local test hub.\n`);

/** The three repos, or null (and a printed reason) when the fixtures are absent. */
export function fixtureRepos(): FixtureRepo[] | null {
  const folder = fixture('models/stories260K');
  const gguf = fixture('models/stories260K.gguf');
  if (!folder || !gguf) return null;
  const hf: Record<string, Uint8Array> = { 'README.md': readme('stories260K') };
  for (const name of readdirSync(folder)) hf[name] = fileBytes(join(folder, name));
  const ggufFiles = { 'README.md': readme('stories260K GGUF'), 'stories260K.gguf': fileBytes(gguf) };
  return [
    { name: SAFETENSORS_REPO, files: hf },
    { name: GGUF_REPO, files: ggufFiles },
    { name: GATED_REPO, files: ggufFiles, token: GATE_TOKEN },
    { name: STALE_REPO, files: { 'README.md': readme('stale') }, listedOnly: { 'gone.Q4_0.gguf': 4096 } },
  ];
}
