// The Hub requests, run in the engine worker rather than on the page: a
// download streams megabytes to gigabytes through fetch into OPFS, and in the
// worker neither the reading nor the writing (a sync access handle, which only
// workers get) blocks the page's thread; the files then go straight to the
// model loader in the same worker's terms (File handles), and the page only
// sees progress events. Nothing here runs until the user asks for a Hub model.
import { listRepoFiles } from '../hub/api.ts';
import { cachedHubFile, deleteHubCache, fetchHubFile, listHubCache } from '../hub/cache_opfs.ts';
import { modelChoices } from '../hub/choices.ts';
import { normalizeEndpoint, parseRepoId, repoLabel } from '../hub/repo.ts';
import { CancelledError } from './errors.ts';
import type { Handler } from './handler_env.ts';
import type { ModelFileRef } from './protocol.ts';

export const hubList: Handler<'hub-list'> = async (req, io) => {
  const repo = parseRepoId(String(req.repo ?? ''));
  const revision = req.revision || 'main';
  io.progress('listing', 0, 0);
  const files = await listRepoFiles(repo, { endpoint: normalizeEndpoint(req.endpoint), token: req.token, revision, signal: io.signal });
  const choices = [];
  for (const c of modelChoices(files)) {
    let cached = true;
    for (const f of c.files) cached &&= (await cachedHubFile(repo, f, revision)) !== null;
    choices.push({ ...c, cached });
  }
  return { repo: repoLabel(repo), revision, files: files.map((f) => ({ path: f.path, size: f.size })), choices };
};

export const hubDownload: Handler<'hub-download'> = async (req, io) => {
  const repo = parseRepoId(String(req.repo ?? ''));
  if (!Array.isArray(req.files) || req.files.length === 0) throw new TypeError('hub-download needs `files`: the paths to fetch');
  const endpoint = normalizeEndpoint(req.endpoint);
  // Progress is over every file of the choice, so one bar covers the whole model.
  const sizes = new Map<string, number>();
  const listed = typeof req.bytes === 'number' && Number.isFinite(req.bytes) ? req.bytes : 0;
  const total = () => Math.max(listed, [...sizes.values()].reduce((a, b) => a + b, 0));
  const done = new Map<string, number>();
  const out: ModelFileRef[] = [];
  const downloaded: string[] = [];
  const fromCache: string[] = [];
  const top = repo.name.split('/')[1];
  for (const path of req.files) {
    const got = await fetchHubFile(repo, path, {
      endpoint,
      token: req.token,
      revision: req.revision || 'main',
      signal: io.signal,
      onProgress(d, t) {
        sizes.set(path, t);
        done.set(path, d);
        io.progress(`downloading ${path}`, [...done.values()].reduce((a, b) => a + b, 0), total());
      },
    }).catch((e: unknown) => {
      // Stop: the fetch rejects with the abort reason; what arrived stays in the cache for the next try.
      if (io.signal.aborted) throw new CancelledError(`${repoLabel(repo)}/${path}: download stopped; what arrived is kept and the next try resumes it`);
      throw e;
    });
    (got.cached ? fromCache : downloaded).push(path);
    // A GGUF stands alone; a safetensors set is a folder named after the repo, as a dropped folder would be.
    out.push({ path: req.files.length === 1 ? path.split('/').pop()! : `${top}/${path}`, file: got.file });
  }
  return { files: out, downloaded, fromCache };
};

export const hubCache: Handler<'hub-cache'> = async () => ({ repos: await listHubCache() });

export const hubCacheDelete: Handler<'hub-cache-delete'> = async (req) => {
  await deleteHubCache(req.repo ? parseRepoId(req.repo) : null);
  return { repos: await listHubCache() };
};
