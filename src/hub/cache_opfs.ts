// The studio's Hub cache, in the origin private file system (OPFS), used from
// the engine worker. OPFS rather than Cache Storage because a download must be
// resumable: a cut one leaves its bytes in a file that the next try appends to
// (Cache Storage can only put whole responses), and a worker writes OPFS files
// in place through a sync access handle, chunk by chunk, never holding a file
// in memory. A cached file comes back as a disk-backed File, which the model
// loader reads a slice at a time like a dropped one.
//
// Layout, after the Hub clients' cache (blobs shared by id across revisions):
//   sub4-hub/models--owner--name/blobs/<etag>     bytes (complete, or partial)
//   sub4-hub/models--owner--name/manifest.json    { repo, revisions: { main: { commit, files: { path: {etag, size} } } } }
// A blob is complete exactly when the manifest names it: a partial one is a
// blob file the manifest does not list yet. Snapshots are manifest entries, not
// symlinks (OPFS has none). A file in the manifest is used with no request.
import { hubFileInfo, type HubOptions } from './api.ts';
import { modelChoices, type ModelChoice } from './choices.ts';
import { cacheFolderName, repoLabel, repoOfCacheFolder, type HubRepo } from './repo.ts';
import { transfer, type PartialWriter } from './transfer.ts';

const ROOT = 'sub4-hub';

interface Manifest {
  repo: HubRepo;
  revisions: Record<string, { commit: string | null; files: Record<string, { etag: string; size: number }> }>;
}

export interface CachedRepo {
  /** "owner/name". */
  repo: string;
  /** Each cached revision and its complete files. */
  revisions: { revision: string; files: { path: string; size: number }[]; choices: ModelChoice[] }[];
  /** Bytes of complete blobs. */
  bytes: number;
  /** Bytes of partial downloads waiting for a resume. */
  partialBytes: number;
}

export interface FetchedFile {
  path: string;
  file: File;
  /** True when it came from the cache without a request. */
  cached: boolean;
}

/** A folder's entries (TypeScript's DOM lib lacks the async iterator that every OPFS browser has). */
const entries = (d: FileSystemDirectoryHandle) => (d as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries();

async function root(): Promise<FileSystemDirectoryHandle> {
  return (await navigator.storage.getDirectory()).getDirectoryHandle(ROOT, { create: true });
}

async function readManifest(dir: FileSystemDirectoryHandle, repo: HubRepo): Promise<Manifest> {
  try {
    const text = await (await (await dir.getFileHandle('manifest.json')).getFile()).text();
    const m = JSON.parse(text) as Manifest;
    if (m && typeof m.revisions === 'object') return m;
  } catch {
    /* none yet, or unreadable: start afresh (the blobs stay and are reused by id) */
  }
  return { repo, revisions: {} };
}

async function writeManifest(dir: FileSystemDirectoryHandle, m: Manifest): Promise<void> {
  const w = await (await dir.getFileHandle('manifest.json', { create: true })).createWritable();
  await w.write(JSON.stringify(m));
  await w.close();
}

/** A cached file of the repo at the revision, or null; makes no request. */
export async function cachedHubFile(repo: HubRepo, path: string, revision = 'main'): Promise<File | null> {
  let dir: FileSystemDirectoryHandle;
  try {
    dir = await (await root()).getDirectoryHandle(cacheFolderName(repo));
  } catch {
    return null;
  }
  const entry = (await readManifest(dir, repo)).revisions[revision]?.files[path];
  if (!entry) return null;
  try {
    const file = await (await (await dir.getDirectoryHandle('blobs')).getFileHandle(entry.etag)).getFile();
    return file.size === entry.size ? file : null;
  } catch {
    return null;
  }
}

/** One repo file from the cache, or downloaded into it (resuming a partial blob) and then from it. */
export async function fetchHubFile(
  repo: HubRepo,
  path: string,
  opts: HubOptions & { onProgress?(done: number, total: number): void },
): Promise<FetchedFile> {
  const revision = opts.revision ?? 'main';
  const hit = await cachedHubFile(repo, path, revision);
  if (hit) {
    opts.onProgress?.(hit.size, hit.size);
    return { path, file: hit, cached: true };
  }
  const info = await hubFileInfo(repo, path, { ...opts, revision });
  const dir = await (await root()).getDirectoryHandle(cacheFolderName(repo), { create: true });
  const blobs = await dir.getDirectoryHandle('blobs', { create: true });
  const handle = await blobs.getFileHandle(info.etag, { create: true });
  const access = await handle.createSyncAccessHandle();
  try {
    await transfer(repoLabel(repo), info, syncWriter(access), { token: opts.token, signal: opts.signal, onProgress: opts.onProgress });
    access.flush();
  } finally {
    access.close();
  }
  // Re-read the manifest: another revision may have been written meanwhile.
  const m = await readManifest(dir, repo);
  const rev = (m.revisions[revision] ??= { commit: info.commit, files: {} });
  rev.commit = info.commit ?? rev.commit;
  rev.files[path] = { etag: info.etag, size: info.size };
  await writeManifest(dir, m);
  return { path, file: await handle.getFile(), cached: false };
}

function syncWriter(access: FileSystemSyncAccessHandle): PartialWriter {
  return {
    size: async () => access.getSize(),
    truncate: async () => access.truncate(0),
    async append(chunk) {
      let at = access.getSize();
      // write() may write fewer bytes than given (quota, interruptions): loop until all are in.
      for (let off = 0; off < chunk.length; ) {
        const n = access.write(chunk.subarray(off), { at });
        if (n <= 0) throw new Error('the browser stopped writing to its storage (quota full?)');
        off += n;
        at += n;
      }
    },
  };
}

/** Every cached repo with its files and sizes, for the cache panel; reads OPFS only. */
export async function listHubCache(): Promise<CachedRepo[]> {
  const out: CachedRepo[] = [];
  for await (const [name, h] of entries(await root())) {
    const repo = repoOfCacheFolder(name);
    if (!repo || h.kind !== 'directory') continue;
    const dir = h as FileSystemDirectoryHandle;
    const m = await readManifest(dir, repo);
    const complete = new Set(Object.values(m.revisions).flatMap((r) => Object.values(r.files).map((f) => f.etag)));
    let bytes = 0;
    let partialBytes = 0;
    try {
      for await (const [blobName, b] of entries(await dir.getDirectoryHandle('blobs'))) {
        if (b.kind !== 'file') continue;
        const size = (await (b as FileSystemFileHandle).getFile()).size;
        if (complete.has(blobName)) bytes += size;
        else partialBytes += size;
      }
    } catch {
      /* no blobs folder: nothing downloaded yet */
    }
    const revisions = Object.entries(m.revisions).map(([revision, r]) => {
      const files = Object.entries(r.files)
        .map(([path, f]) => ({ path, size: f.size }))
        .sort((a, b) => a.path.localeCompare(b.path));
      // What can be loaded from the cache alone: the same choices a listing offers, from the files held.
      return { revision, files, choices: modelChoices(files) };
    });
    out.push({ repo: repoLabel(repo), revisions, bytes, partialBytes });
  }
  return out.sort((a, b) => a.repo.localeCompare(b.repo));
}

/** Delete one repo's cache (all revisions, partial downloads too), or the whole cache when repo is null. */
export async function deleteHubCache(repo: HubRepo | null): Promise<void> {
  const r = await root();
  if (repo === null) {
    // Names first: removing entries while iterating the folder would skip some.
    const names: string[] = [];
    for await (const [name] of entries(r)) names.push(name);
    for (const name of names) await r.removeEntry(name, { recursive: true });
    return;
  }
  try {
    await r.removeEntry(cacheFolderName(repo), { recursive: true });
  } catch (e) {
    if (!(e instanceof DOMException && e.name === 'NotFoundError')) throw e;
  }
}
