// The CLI's Hub cache, in the layout the Hub's own clients share
// (huggingface_hub in Python, @huggingface/hub's Node cache):
//   <HF_HUB_CACHE or $HF_HOME/hub or ~/.cache/huggingface/hub>/models--owner--name/
//     blobs/<etag>                  the bytes, named by LFS sha256 or git blob id
//     snapshots/<commit>/<path>     relative symlinks to the blobs
//     refs/<revision>               the commit a branch or tag resolved to
// so a model fetched by sub4 is a cache hit for transformers and the reverse.
// The cache root comes from the package (getHFHubCachePath: HF_HUB_CACHE,
// HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, in Python's order).
//
// A file whose revision is in refs/ and whose snapshot link exists is used with
// no request at all. Otherwise one `Range: bytes=0-0` request learns its size,
// blob id and commit, and a blob already there (another revision had it) is
// linked without downloading. A download goes to blobs/<etag>.incomplete, which a
// cut connection leaves behind; the next run resumes it by Range request.
import { getHFHubCachePath } from '@huggingface/hub';
import { mkdir, open, readFile, rename, stat, symlink, copyFile, writeFile, unlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { hubFileInfo, listRepoFiles, type HubOptions } from './api.ts';
import { modelChoices } from './choices.ts';
import { HubAddressError, HubResponseError } from './errors.ts';
import { cacheFolderName, repoLabel, type HubRepo } from './repo.ts';
import { transfer, type PartialWriter } from './transfer.ts';

export interface NodeHubOptions extends HubOptions {
  /** Defaults to the Hub clients' cache (getHFHubCachePath()). */
  cacheDir?: string;
  onProgress?(file: string, done: number, total: number): void;
}

const COMMIT = /^[0-9a-f]{40}$/;

export function hubCacheDir(): string {
  return getHFHubCachePath();
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The commit refs/<revision> names, or null when the cache has not resolved that revision yet. */
async function readRef(storage: string, revision: string): Promise<string | null> {
  if (COMMIT.test(revision)) return revision;
  try {
    const c = (await readFile(join(storage, 'refs', revision), 'utf8')).trim();
    return COMMIT.test(c) ? c : null;
  } catch {
    return null;
  }
}

/** Local path of one repo file (a snapshot link into blobs/), downloading it unless cached. */
export async function cachedFile(repo: HubRepo, path: string, opts: NodeHubOptions): Promise<string> {
  // The path is joined onto the snapshot folder: it must stay inside it (a listing is the server's word).
  if (path.startsWith('/') || path.split('/').some((p) => p === '' || p === '.' || p === '..'))
    throw new HubResponseError(repoLabel(repo), path, 'not a file path inside a repo');
  const revision = opts.revision ?? 'main';
  // refs/<revision> is a file name here (huggingface_hub nests refs/pr/1; sub4 takes branch and tag names without '/').
  if (revision.includes('/') || revision.startsWith('.')) throw new HubAddressError(`${repoLabel(repo)}: revision "${revision}" cannot name a ref file`);
  const storage = join(opts.cacheDir ?? hubCacheDir(), cacheFolderName(repo));
  const known = await readRef(storage, revision);
  if (known && (await exists(join(storage, 'snapshots', known, path)))) return join(storage, 'snapshots', known, path);

  const info = await hubFileInfo(repo, path, { ...opts, revision, manualRedirects: true });
  const commit = info.commit ?? (COMMIT.test(revision) ? revision : null);
  if (!commit)
    throw new HubResponseError(repoLabel(repo), path, `the Hub did not say which commit revision "${revision}" is (no X-Repo-Commit header)`);
  const blob = join(storage, 'blobs', info.etag);
  const pointer = join(storage, 'snapshots', commit, path);
  await mkdir(dirname(blob), { recursive: true });
  if (!(await exists(blob))) {
    const partial = `${blob}.incomplete`;
    const out = await fileWriter(partial);
    try {
      await transfer(repoLabel(repo), info, out, {
        token: opts.token,
        signal: opts.signal,
        onProgress: (d, t) => opts.onProgress?.(path, d, t),
      });
    } finally {
      await out.close();
    }
    await rename(partial, blob);
  } else {
    opts.onProgress?.(path, info.size, info.size);
  }
  await link(blob, pointer);
  if (!COMMIT.test(revision)) {
    await mkdir(join(storage, 'refs'), { recursive: true });
    await writeFile(join(storage, 'refs', revision), commit);
  }
  return pointer;
}

/**
 * hf://owner/repo: the model the repo holds. A safetensors set downloads as a
 * snapshot folder; a repo with one .gguf gives that file; several .gguf files
 * must be named (hf://owner/repo/file.gguf), and the error lists them.
 */
export async function cachedRepo(repo: HubRepo, opts: NodeHubOptions): Promise<string> {
  const choices = modelChoices(await listRepoFiles(repo, opts));
  const label = repoLabel(repo);
  const set = choices.find((c) => c.kind === 'safetensors');
  const ggufs = choices.filter((c) => c.kind === 'gguf');
  if (!set && ggufs.length !== 1) {
    if (ggufs.length === 0) throw new HubAddressError(`${label}: no .gguf file and no config.json with safetensors weights, so no model sub4 reads`);
    throw new HubAddressError(
      `${label} holds ${ggufs.length} GGUF files; name one: ${ggufs.map((g) => `hf://${label}/${g.files[0]}`).join(', ')}`,
    );
  }
  const files = set ? set.files : ggufs[0].files;
  let last = '';
  for (const f of files) last = await cachedFile(repo, f, opts);
  return set ? dirname(last) : last;
}

/** snapshots/<commit>/<path> → ../../blobs/<etag>, relative as huggingface_hub makes it; a copy where links fail. */
async function link(blob: string, pointer: string): Promise<void> {
  if (await exists(pointer)) return;
  await mkdir(dirname(pointer), { recursive: true });
  try {
    await unlink(pointer); // a dangling link left by a deleted blob
  } catch {
    /* none there */
  }
  try {
    await symlink(relative(dirname(pointer), blob), pointer);
  } catch {
    await copyFile(blob, pointer);
  }
}

/** An append-only writer on a blob's .incomplete file; what it holds survives a cut. */
async function fileWriter(path: string): Promise<PartialWriter & { close(): Promise<void> }> {
  const fh = await open(path, 'a');
  return {
    size: async () => (await fh.stat()).size,
    truncate: () => fh.truncate(0),
    async append(chunk) {
      await fh.write(chunk);
    },
    close: () => fh.close(),
  };
}
