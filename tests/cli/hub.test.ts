// hf:// in the CLI against the local test hub (tests/helpers/hub_server.ts on
// 127.0.0.1): listing, download with progress into the Python-compatible cache,
// resume after a cut connection, a cache hit that makes no request, and plain
// errors for a gated repo without a token and for a missing file.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getRepoFolderName } from '@huggingface/hub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listRepoFiles } from '../../src/hub/api.ts';
import { modelChoices } from '../../src/hub/choices.ts';
import { cacheFolderName, parseRepoId } from '../../src/hub/repo.ts';
import { fixture } from '../helpers/fixtures.ts';
import { GATE_TOKEN, GATED_REPO, GGUF_REPO, SAFETENSORS_REPO, fixtureRepos } from '../helpers/hub_repos.ts';
import { startTestHub, type TestHub } from '../helpers/hub_server.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const repos = fixtureRepos();
const GGUF_SHA = '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d'; // SOURCES.md

describe.skipIf(!repos)('hf:// in the CLI, against a local hub', () => {
  let hub: TestHub;
  let tmp: string;
  beforeAll(async () => {
    hub = await startTestHub(repos!);
    tmp = await mkdtemp(join(tmpdir(), 'sub4-hub-'));
  });
  afterAll(async () => {
    await hub?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** Runs sub4 with the hub as HF_ENDPOINT and the given cache settings only; resolves with exit code, stdout, stderr. */
  async function sub4(args: string[], env: Record<string, string>) {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(HF_|HUGGING)/.test(k)));
    try {
      const r = await run('node', [BIN, ...args], { env: { ...base, HF_ENDPOINT: hub.url, ...env } });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr };
    }
  }
  const since = (n: number) => hub.requests.slice(n);

  it('lists a repo across pages (Link rel=next) and offers its models', async () => {
    const n = hub.requests.length;
    const files = await listRepoFiles(parseRepoId(SAFETENSORS_REPO), { endpoint: hub.url });
    expect(files.map((f) => f.path).sort()).toEqual(Object.keys(repos!.find((r) => r.name === SAFETENSORS_REPO)!.files).sort());
    // Page size 3 and 7 files: three pages, so the Link header was followed.
    expect(since(n).filter((r) => r.path.includes('/tree/'))).toHaveLength(3);
    const choices = modelChoices(files);
    expect(choices.map((c) => c.kind)).toEqual(['safetensors']);
    expect(choices[0].files).toContain('model.safetensors');
    expect(choices[0].files).not.toContain('README.md');
    const gguf = modelChoices(await listRepoFiles(parseRepoId(GGUF_REPO), { endpoint: hub.url }));
    expect(gguf).toEqual([{ kind: 'gguf', label: 'stories260K.gguf', files: ['stories260K.gguf'], bytes: 1185376 }]);
  });

  it('the cache folder name is the one the Hub clients use', () => {
    expect(cacheFolderName(parseRepoId(SAFETENSORS_REPO))).toBe(getRepoFolderName({ type: 'model', name: SAFETENSORS_REPO }));
  });

  it('inspect hf://<gguf repo>/<file>: downloads with progress into HF_HUB_CACHE, then a second run makes no request', async () => {
    const cache = join(tmp, 'c1');
    const addr = `hf://${GGUF_REPO}/stories260K.gguf`;
    const first = await sub4(['inspect', addr, '--json'], { HF_HUB_CACHE: cache });
    expect(first.stderr).toMatch(/hf: sub4-test\/stories260K-GGUF\/stories260K\.gguf 1185376\/1185376 bytes \(100%\)/);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ architecture: 'llama', storedParameters: 292_800, fileBytes: 1185376 });

    // huggingface_hub's layout: blobs by sha256, a relative snapshot link, refs/main = the commit.
    const storage = join(cache, 'models--sub4-test--stories260K-GGUF');
    const commit = hub.commitOf(GGUF_REPO);
    expect((await readFile(join(storage, 'refs', 'main'), 'utf8')).trim()).toBe(commit);
    expect(await readlink(join(storage, 'snapshots', commit, 'stories260K.gguf'))).toBe(`../../blobs/${GGUF_SHA}`);
    const blob = await readFile(join(storage, 'blobs', GGUF_SHA));
    expect(createHash('sha256').update(blob).digest('hex')).toBe(GGUF_SHA);

    const n = hub.requests.length;
    const second = await sub4(['inspect', addr, '--json'], { HF_HUB_CACHE: cache });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    expect(since(n)).toEqual([]);
  });

  it('inspect hf://<safetensors repo>: the set as a snapshot folder; HF_HOME places the cache; a second run downloads nothing', async () => {
    const home = join(tmp, 'home');
    const first = await sub4(['inspect', `hf://${SAFETENSORS_REPO}`, '--json'], { HF_HOME: home });
    expect(first.code).toBe(0);
    const local = fixture('models/stories260K')!;
    expect(JSON.parse(first.stdout)).toMatchObject({ architecture: 'llama', storedParameters: 260_032 });
    const snap = join(home, 'hub', 'models--sub4-test--stories260K', 'snapshots', hub.commitOf(SAFETENSORS_REPO));
    expect(await readFile(join(snap, 'config.json'))).toEqual(await readFile(join(local, 'config.json')));
    await expect(stat(join(snap, 'README.md'))).rejects.toThrow(); // not part of the model: never fetched

    const n = hub.requests.length;
    const second = await sub4(['inspect', `hf://${SAFETENSORS_REPO}`, '--json'], { HF_HOME: home });
    expect(second.code).toBe(0);
    // The repo is listed again (which set is the model), but no file is requested.
    expect(since(n).filter((r) => !r.path.includes('/tree/'))).toEqual([]);
  });

  it('resumes a download cut mid-file with a Range request', async () => {
    const cache = join(tmp, 'c2');
    const addr = `hf://${GGUF_REPO}/stories260K.gguf`;
    hub.cutNext(GGUF_REPO, 'stories260K.gguf', 400_000);
    const cut = await sub4(['inspect', addr], { HF_HUB_CACHE: cache });
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/HubNetworkError: sub4-test\/stories260K-GGUF\/stories260K\.gguf: the connection was cut after \d+ of 1185376 bytes/);
    const partial = join(cache, 'models--sub4-test--stories260K-GGUF', 'blobs', `${GGUF_SHA}.incomplete`);
    const kept = (await stat(partial)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(1185376);

    const n = hub.requests.length;
    const again = await sub4(['inspect', addr, '--json'], { HF_HUB_CACHE: cache });
    expect(again.code).toBe(0);
    const ranges = since(n).filter((r) => r.path.startsWith('/lfs-store/') && r.range !== 'bytes=0-0');
    expect(ranges.map((r) => r.range)).toEqual([`bytes=${kept}-`]);
    const blob = await readFile(join(cache, 'models--sub4-test--stories260K-GGUF', 'blobs', GGUF_SHA));
    expect(createHash('sha256').update(blob).digest('hex')).toBe(GGUF_SHA);
  });

  it('a gated repo: without a token a plain error, with HF_TOKEN it loads, with a wrong one the token is blamed', async () => {
    const cache = join(tmp, 'c3');
    const addr = `hf://${GATED_REPO}/stories260K.gguf`;
    const none = await sub4(['inspect', addr], { HF_HUB_CACHE: cache });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/HubAuthError: sub4-test\/stories260K-gated\/stories260K\.gguf: .*gated or private and needs an access token/);
    const wrong = await sub4(['inspect', addr], { HF_HUB_CACHE: cache, HF_TOKEN: 'hf_wrong' });
    expect(wrong.stderr).toMatch(/HubAuthError: .*refused the token/);
    const ok = await sub4(['inspect', addr, '--json'], { HF_HUB_CACHE: cache, HF_TOKEN: GATE_TOKEN });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).storedParameters).toBe(292_800);
  });

  it('a missing file and a missing repo are named', async () => {
    const cache = join(tmp, 'c4');
    const file = await sub4(['inspect', `hf://${GGUF_REPO}/nope.gguf`], { HF_HUB_CACHE: cache });
    expect(file.code).toBe(1);
    expect(file.stderr).toContain('HubNotFoundError: sub4-test/stories260K-GGUF/nope.gguf: no such file in the repo');
    const repo = await sub4(['inspect', 'hf://sub4-test/nothing-here'], { HF_HUB_CACHE: cache });
    expect(repo.stderr).toContain('HubNotFoundError: sub4-test/nothing-here: no such repo on the Hub');
  });
});
