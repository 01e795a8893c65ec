// The Hub's HTTP API as sub4 uses it, through @huggingface/hub: the file
// listing (tree API, paginated by Link headers) and a file's download facts
// (size, ETag, the URL after the Hub's redirect). The package's errors
// (HubApiError with a status code, fetch's TypeError) become the typed errors of
// errors.ts here, so callers and the page see "gated: needs a token" rather than
// "Api error with status 401".
import { fileDownloadInfo, HubApiError, listFiles } from '@huggingface/hub';
import { HubAuthError, HubError, HubNetworkError, HubNotFoundError, HubResponseError } from './errors.ts';
import { repoLabel, type HubRepo } from './repo.ts';

export interface HubOptions {
  /** Normalized endpoint (repo.ts normalizeEndpoint). */
  endpoint: string;
  /** An access token (hf_…) for gated or private repos; undefined sends none. */
  token?: string;
  /** Branch, tag or commit; default "main". */
  revision?: string;
  signal?: AbortSignal;
  /**
   * Follow redirects one hop at a time (Node only: a browser's manual redirect is
   * opaque). The commit header X-Repo-Commit is on the Hub's own answer, not on
   * the storage server's it redirects large files to, so the Node cache, which
   * names snapshots by commit, reads it from the first hop as huggingface_hub does.
   */
  manualRedirects?: boolean;
}

export interface HubFile {
  path: string;
  size: number;
  /** sha256 of an LFS file (the Hub's X-Linked-ETag), else undefined. */
  lfsSha256?: string;
}

export interface HubFileInfo {
  path: string;
  size: number;
  /** The blob's id: the LFS sha256 or the git blob oid, without quotes (the cache's blob name). */
  etag: string;
  /** Where the bytes are: the resolve URL, or the same-origin URL it redirected to. */
  url: string;
  /** The commit the revision resolved to (X-Repo-Commit), when the Hub said. */
  commit: string | null;
}

/** A fetch that carries the caller's abort signal (the package's calls take no signal of their own). */
function withSignal(signal: AbortSignal | undefined, seen?: (res: Response) => void): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, { ...init, signal });
    seen?.(res);
    return res;
  };
}

/** fetch, following redirects itself so that every hop's headers are seen; Authorization stays on the first origin. */
function hopByHop(signal: AbortSignal | undefined, seen: (res: Response) => void): typeof fetch {
  return async (input, init) => {
    let url = new URL(input instanceof Request ? input.url : String(input));
    const origin = url.origin;
    for (let hop = 0; ; hop++) {
      const headers = new Headers(init?.headers);
      if (url.origin !== origin) headers.delete('authorization');
      const res = await fetch(url, { ...init, headers, signal, redirect: 'manual' });
      seen(res);
      const next = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !next || hop >= 10) return res;
      await res.body?.cancel();
      url = new URL(next, url);
    }
  };
}

/** Every file of the repo at the revision (recursively), as the tree API lists them. */
export async function listRepoFiles(repo: HubRepo, opts: HubOptions): Promise<HubFile[]> {
  const out: HubFile[] = [];
  try {
    for await (const e of listFiles({
      repo,
      recursive: true,
      revision: opts.revision,
      hubUrl: opts.endpoint,
      accessToken: opts.token || undefined,
      fetch: withSignal(opts.signal),
    })) {
      if (e.type !== 'file') continue;
      out.push({ path: e.path, size: e.size, lfsSha256: e.lfs?.oid });
    }
  } catch (e) {
    throw hubError(e, repo, null, opts);
  }
  return out;
}

/** Size, blob id, byte URL and commit of one file, from one `Range: bytes=0-0` request. */
export async function hubFileInfo(repo: HubRepo, path: string, opts: HubOptions): Promise<HubFileInfo> {
  let commit: string | null = null;
  let info;
  try {
    info = await fileDownloadInfo({
      repo,
      path,
      revision: opts.revision,
      hubUrl: opts.endpoint,
      accessToken: opts.token || undefined,
      // The commit is in the first response's X-Repo-Commit (huggingface_hub's refs come from it too).
      fetch: (opts.manualRedirects ? hopByHop : withSignal)(opts.signal, (res) => (commit ??= res.headers.get('x-repo-commit'))),
    });
  } catch (e) {
    throw hubError(e, repo, path, opts);
  }
  if (!info) throw new HubNotFoundError(repoLabel(repo), path, `no such file in the repo at revision ${opts.revision ?? 'main'}`);
  // A Xet-stored file still comes whole from its resolve URL (a redirect to the Xet bridge, with ranges), which is
  // what `info.url` is then; sub4 does not reconstruct Xet chunks itself (the package's `xet: false`).
  const etag = stripEtag(info.etag);
  // Both become file and folder names in the caches: nothing but an id may get there.
  if (!/^[A-Za-z0-9_-]{8,128}$/.test(etag)) throw new HubResponseError(repoLabel(repo), path, `the Hub sent an ETag that is no blob id: ${JSON.stringify(info.etag)}`);
  if (commit !== null && !/^[0-9a-f]{40}$/.test(commit)) throw new HubResponseError(repoLabel(repo), path, `the Hub sent a commit that is no commit id: ${JSON.stringify(commit)}`);
  return { path, size: info.size, etag, url: info.url, commit };
}

/** `W/"abc"` → `abc`: the form huggingface_hub names blobs by. */
export function stripEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

/** The package's error (or fetch's) as sub4's typed error naming the repo and file. */
export function hubError(e: unknown, repo: HubRepo, file: string | null, opts: Pick<HubOptions, 'endpoint' | 'token'>): Error {
  const label = repoLabel(repo);
  if (e instanceof HubError) return e;
  if (e instanceof DOMException && e.name === 'AbortError') return e;
  if (e instanceof HubApiError) {
    // The Hub's own words ("Repository not found", "Entry not found", "Revision not found") tell the 404s apart.
    const said = typeof e.data?.['error'] === 'string' ? e.data['error'] : e.message;
    if (e.statusCode === 401 || e.statusCode === 403) {
      const why = opts.token
        ? `the Hub refused the token (HTTP ${e.statusCode}): it may lack access to this gated or private repo (accept its terms on the Hub) or be mistyped`
        : `the Hub refused access (HTTP ${e.statusCode}): the repo is gated or private and needs an access token (hf_…) with access to it`;
      return new HubAuthError(label, file, why, { cause: e });
    }
    if (e.statusCode === 404)
      return new HubNotFoundError(
        label,
        file,
        /revision/i.test(said) ? `no such revision (${said})` : /repo/i.test(said) || !file ? 'no such repo on the Hub' : 'no such file in the repo',
        { cause: e },
      );
    return new HubResponseError(label, file, `the Hub answered HTTP ${e.statusCode}: ${e.message}`, { cause: e });
  }
  if (e instanceof TypeError) return new HubNetworkError(label, file, `could not reach the Hub at ${opts.endpoint}: ${e.message}`, { cause: e });
  const msg = e instanceof Error ? e.message : String(e);
  return new HubResponseError(label, file, `unexpected answer from the Hub at ${opts.endpoint}: ${msg}`, { cause: e });
}
