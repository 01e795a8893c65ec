// One file's bytes from the Hub into a cache, resumable: what an earlier, cut
// download left is kept, and the next try asks only for the rest with
// `Range: bytes=<kept>-` and `If-Range: <etag>` (a file that changed meanwhile
// comes back whole, as a 200, and the partial bytes are dropped). Chunks go to
// the writer as they arrive, so a file is never held in memory.
//
// The byte request is our own fetch rather than the package's WebBlob.slice():
// a resume must see whether the server honoured the range (206 + Content-Range)
// or sent the whole file (200), and WebBlob hands back the body without saying.
import { HubNetworkError, HubResponseError } from './errors.ts';
import type { HubFileInfo } from './api.ts';

/** Where a download's bytes go: a blob's `.incomplete` file (Node) or an OPFS file (browser worker). */
export interface PartialWriter {
  /** Bytes already there from an earlier try. */
  size(): Promise<number>;
  truncate(): Promise<void>;
  append(chunk: Uint8Array): Promise<void>;
}

export interface TransferOptions {
  token?: string;
  signal?: AbortSignal;
  /** Bytes of this file present so far (kept ones included), and its size. */
  onProgress?(done: number, total: number): void;
}

/** Fetch what the writer lacks of `info`; resolves once the writer holds exactly info.size bytes. */
export async function transfer(repoLabel: string, info: HubFileInfo, out: PartialWriter, opts: TransferOptions = {}): Promise<void> {
  let have = await out.size();
  if (have > info.size) {
    await out.truncate();
    have = 0;
  }
  opts.onProgress?.(have, info.size);
  if (have === info.size) return;

  const headers: Record<string, string> = {};
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (have > 0) {
    headers.Range = `bytes=${have}-`;
    headers['If-Range'] = `"${info.etag}"`;
  }
  const cut = (e: unknown, done: number) =>
    new HubNetworkError(
      repoLabel,
      info.path,
      `the connection was cut after ${done} of ${info.size} bytes (${e instanceof Error ? e.message : String(e)}); ` +
        'what arrived is kept, and loading it again resumes from there',
      { cause: e },
    );

  let res: Response;
  try {
    res = await fetch(info.url, { headers, signal: opts.signal });
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw cut(e, have);
  }
  if (res.status === 206) {
    const start = Number(/^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1]);
    if (start !== have) {
      await res.body?.cancel();
      throw new HubResponseError(repoLabel, info.path, `asked for bytes from ${have}, the server sent a range starting at ${res.headers.get('content-range')}`);
    }
  } else if (res.status === 200) {
    // The whole file: the range was ignored or the file changed (If-Range); start over.
    if (have > 0) await out.truncate();
    have = 0;
  } else {
    await res.body?.cancel();
    throw new HubResponseError(repoLabel, info.path, `the download answered HTTP ${res.status} ${res.statusText}`);
  }
  if (!res.body) throw new HubResponseError(repoLabel, info.path, 'the download came without a body');

  const reader = res.body.getReader();
  let done = have;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      await out.append(r.value);
      done += r.value.length;
      opts.onProgress?.(done, info.size);
    }
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw cut(e, done);
  }
  if (done !== info.size) {
    // A body that ends early without an error is a cut connection too (a proxy closed it cleanly).
    if (done < info.size) throw cut(new Error('the body ended early'), done);
    await out.truncate();
    throw new HubResponseError(repoLabel, info.path, `received ${done} bytes, the Hub said the file has ${info.size}; the partial file was dropped`);
  }
}
