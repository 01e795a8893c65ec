// A local stand-in for the Hugging Face Hub, on 127.0.0.1 only, serving fixture
// repos in the Hub's URL layout so the CLI and the studio are tested against the
// same HTTP behaviour they meet on huggingface.co:
//   GET /api/models/<owner>/<name>/tree/<rev>[/<path>]?recursive=…  the listing, paginated by Link rel="next"
//   GET /<owner>/<name>/resolve/<rev>/<path>   small files directly (ETag = git blob id); LFS files (large or
//        *.safetensors / *.gguf) as a 302 to /lfs-store/<sha256> with X-Linked-ETag / X-Linked-Size /
//        X-Repo-Commit, as the Hub does
//   GET /lfs-store/<sha256>                     the bytes, with Range (206 + Content-Range), ETag and If-Range
// A gated repo answers 401 without a token and 403 with a wrong one; a missing
// file 404 with X-Error-Code: EntryNotFound. Every response carries CORS headers
// (the studio's origin differs from the hub's). Tests can cut the next download of
// a file after N bytes, and read the log of requests made.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FixtureRepo {
  /** "owner/name". */
  name: string;
  /** path in the repo → bytes. */
  files: Record<string, Uint8Array>;
  /** When set, the only token that opens the repo (gated). */
  token?: string;
  /** Files the listing names that resolve answers 404 for: a file deleted between a listing and its download. */
  listedOnly?: Record<string, number>;
}

export interface HubRequest {
  method: string;
  path: string;
  range: string | null;
  auth: boolean;
}

export interface TestHub {
  /** http://127.0.0.1:<port> */
  url: string;
  requests: HubRequest[];
  /** The next GET of this LFS blob (by repo file) sends `bytes` bytes of the body, then the socket is destroyed. */
  cutNext(repo: string, path: string, bytes: number): void;
  /** The next GET of this LFS blob sends `bytes` bytes, then nothing more until the client goes away (a stalled link). */
  stallNext(repo: string, path: string, bytes: number): void;
  commitOf(repo: string): string;
  close(): Promise<void>;
}

interface Blob {
  bytes: Uint8Array;
  lfs: boolean;
  /** sha256 (LFS) or git blob sha1. */
  oid: string;
  sha256: string;
}

const sha = (alg: string, ...parts: (string | Uint8Array)[]) => {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** Files a real Hub repo keeps in LFS: weights, and anything over 10 MB (here: over 100 kB). */
const isLfs = (path: string, size: number) => /\.(safetensors|gguf|bin)$/.test(path) || size > 100_000;

export function fileBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

export async function startTestHub(repos: FixtureRepo[], opts: { pageSize?: number } = {}): Promise<TestHub> {
  const pageSize = opts.pageSize ?? 3;
  const table = new Map<string, { repo: FixtureRepo; commit: string; blobs: Map<string, Blob> }>();
  const store = new Map<string, Blob>();
  for (const repo of repos) {
    const blobs = new Map<string, Blob>();
    for (const [path, bytes] of Object.entries(repo.files)) {
      const sha256 = sha('sha256', bytes);
      const lfs = isLfs(path, bytes.length);
      const b: Blob = { bytes, lfs, sha256, oid: lfs ? sha256 : sha('sha1', `blob ${bytes.length}\0`, bytes) };
      blobs.set(path, b);
      store.set(sha256, b);
    }
    const commit = sha('sha1', repo.name, ...[...blobs.entries()].flatMap(([p, b]) => [p, b.oid]));
    table.set(repo.name, { repo, commit, blobs });
  }
  const requests: HubRequest[] = [];
  const cuts = new Map<string, { bytes: number; stall: boolean }>();

  const cors = {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers':
      'Content-Range, Content-Length, Accept-Ranges, ETag, Link, X-Linked-ETag, X-Linked-Size, X-Repo-Commit, X-Error-Code, X-Error-Message, X-Request-Id',
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { ...cors, 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, status: number, code: string, message: string) =>
    json(res, status, { error: message }, { 'X-Error-Code': code, 'X-Error-Message': message });

  /** The repo if the request may see it; otherwise the answer is sent and null returned. */
  const open = (req: IncomingMessage, res: ServerResponse, name: string) => {
    const r = table.get(name);
    if (!r) {
      fail(res, 404, 'RepoNotFound', 'Repository not found');
      return null;
    }
    if (r.repo.token) {
      const auth = req.headers.authorization;
      if (!auth) {
        fail(res, 401, 'GatedRepo', `Access to model ${name} is restricted. You must have access to it and be authenticated to access it.`);
        return null;
      }
      if (auth !== `Bearer ${r.repo.token}`) {
        fail(res, 403, 'GatedRepo', `Access to model ${name} is restricted and you are not in the authorized list.`);
        return null;
      }
    }
    return r;
  };

  const sendBytes = (req: IncomingMessage, res: ServerResponse, b: Blob, extra: Record<string, string>, cutKey: string | null) => {
    const etag = `"${b.oid}"`;
    const size = b.bytes.length;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (range && (!ifRange || ifRange === etag)) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size) {
        res.writeHead(416, { ...cors, 'Content-Range': `bytes */${size}` });
        res.end();
        return;
      }
      status = 206;
    }
    const headers: Record<string, string> = {
      ...cors,
      ...extra,
      ETag: etag,
      'Accept-Ranges': 'bytes',
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(end - start + 1),
    };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return void res.end();
    const body = b.bytes.subarray(start, end + 1);
    const cut = cutKey !== null ? cuts.get(cutKey) : undefined;
    if (cut !== undefined && body.length > 1) {
      // Part of the file, then the connection drops (or hangs), as a flaky network would.
      cuts.delete(cutKey!);
      res.write(body.subarray(0, Math.min(cut.bytes, body.length - 1)), () => {
        if (!cut.stall) setTimeout(() => res.socket?.destroy(), 50);
      });
      return;
    }
    res.end(body);
  };

  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = decodeURIComponent(u.pathname);
    requests.push({ method: req.method ?? 'GET', path: `${path}${u.search}`, range: req.headers.range ?? null, auth: !!req.headers.authorization });
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...cors,
        'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
        'Access-Control-Allow-Headers': 'Authorization, Range, If-Range, Accept, Content-Type',
        'Access-Control-Max-Age': '600',
      });
      return void res.end();
    }
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)(?:\/(.*))?$/.exec(path);
    if (tree) {
      const r = open(req, res, tree[1]);
      if (!r) return;
      if (tree[2] !== 'main' && tree[2] !== r.commit) return fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${tree[2]}`);
      const under = tree[3] ? `${tree[3]}/` : '';
      const entries = [...r.blobs.entries()]
        .filter(([p]) => p.startsWith(under))
        .map(([p, b]) => ({
          type: 'file',
          path: p,
          size: b.bytes.length,
          oid: b.lfs ? sha('sha1', p, b.sha256) : b.oid,
          ...(b.lfs ? { lfs: { oid: b.sha256, size: b.bytes.length, pointerSize: 134 } } : {}),
        }));
      for (const [p, size] of Object.entries(r.repo.listedOnly ?? {})) if (p.startsWith(under)) entries.push({ type: 'file', path: p, size, oid: sha('sha1', p) });
      const cursor = Number(u.searchParams.get('cursor') ?? 0);
      const page = entries.slice(cursor, cursor + pageSize);
      const headers: Record<string, string> = {};
      if (cursor + pageSize < entries.length) {
        const next = new URL(u.toString());
        next.host = req.headers.host ?? next.host;
        next.searchParams.set('cursor', String(cursor + pageSize));
        headers.Link = `<${next.toString()}>; rel="next"`;
      }
      return json(res, 200, page, headers);
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (resolve) {
      const r = open(req, res, resolve[1]);
      if (!r) return;
      if (resolve[2] !== 'main' && resolve[2] !== r.commit) return fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${resolve[2]}`);
      const b = r.blobs.get(resolve[3]);
      if (!b) return fail(res, 404, 'EntryNotFound', 'Entry not found');
      const repoHeaders = { 'X-Repo-Commit': r.commit };
      if (!b.lfs) return sendBytes(req, res, b, repoHeaders, null);
      res.writeHead(302, {
        ...cors,
        ...repoHeaders,
        Location: `/lfs-store/${b.sha256}?repo=${encodeURIComponent(r.repo.name)}&file=${encodeURIComponent(resolve[3])}`,
        'X-Linked-ETag': `"${b.sha256}"`,
        'X-Linked-Size': String(b.bytes.length),
        ETag: `"${b.sha256}"`,
      });
      return void res.end();
    }
    const lfs = /^\/lfs-store\/([0-9a-f]{64})$/.exec(path);
    if (lfs && store.has(lfs[1])) {
      const key = `${u.searchParams.get('repo')}/${u.searchParams.get('file')}`;
      return sendBytes(req, res, store.get(lfs[1])!, {}, key);
    }
    fail(res, 404, 'NotFound', `no route for ${path}`);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    cutNext: (repo, path, bytes) => cuts.set(`${repo}/${path}`, { bytes, stall: false }),
    stallNext: (repo, path, bytes) => cuts.set(`${repo}/${path}`, { bytes, stall: true }),
    commitOf: (repo) => table.get(repo)!.commit,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
