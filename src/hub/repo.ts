// What names a Hub repo and a file in it: repo ids as users type them
// ("HuggingFaceTB/SmolLM2-135M-Instruct", a pasted https://huggingface.co/… URL),
// the CLI's hf://owner/repo[/file] addresses, the endpoint, and the cache folder
// name the Python client gives a repo. Pure: the browser worker and the CLI share it.
import { HubAddressError } from './errors.ts';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface HubRepo {
  type: 'model' | 'dataset';
  /** "owner/name". */
  name: string;
}

/** One segment of a repo id, as the Hub allows them (letters, digits, '-', '_', '.'; no '..'). */
const SEGMENT = /^(?!\.)(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;

/** "owner/name" or "datasets/owner/name", also pasted from the Hub's web address. */
export function parseRepoId(text: string): HubRepo {
  let t = text.trim();
  const url = /^https?:\/\/[^/]+\/(.*)$/.exec(t);
  if (url) t = url[1].replace(/\/(tree|blob|resolve)\/.*$/, '');
  t = t.replace(/\/+$/, '');
  let type: HubRepo['type'] = 'model';
  if (t.startsWith('datasets/')) {
    type = 'dataset';
    t = t.slice('datasets/'.length);
  }
  const parts = t.split('/');
  if (parts.length !== 2 || !parts.every((p) => SEGMENT.test(p)))
    throw new HubAddressError(`"${text}" is not a Hub repo id: write owner/name, e.g. HuggingFaceTB/SmolLM2-135M-Instruct`);
  return { type, name: parts.join('/') };
}

/** "owner/name", or "datasets/owner/name": how messages and cache listings name a repo. */
export function repoLabel(repo: HubRepo): string {
  return repo.type === 'model' ? repo.name : `datasets/${repo.name}`;
}

export interface HubAddress {
  repo: HubRepo;
  /** Path of one file in the repo, or null for the repo as a whole. */
  file: string | null;
}

export const isHubAddress = (arg: string) => arg.startsWith('hf://');

/** hf://owner/repo, hf://owner/repo/path/in/repo.gguf, hf://datasets/owner/repo/file. */
export function parseHubAddress(arg: string): HubAddress {
  if (!isHubAddress(arg)) throw new HubAddressError(`"${arg}" is not an hf:// address (hf://owner/repo[/file])`);
  const parts = arg.slice('hf://'.length).split('/').filter(Boolean);
  const head = parts[0] === 'datasets' ? 3 : 2;
  if (parts.length < head) throw new HubAddressError(`"${arg}" names no repo: write hf://owner/repo or hf://owner/repo/file`);
  const repo = parseRepoId(parts.slice(0, head).join('/'));
  const rest = parts.slice(head);
  if (rest.some((p) => p === '.' || p === '..')) throw new HubAddressError(`"${arg}": a file path in a repo has no . or .. segments`);
  return { repo, file: rest.length > 0 ? rest.join('/') : null };
}

/** The endpoint without a trailing slash; only http(s) URLs. */
export function normalizeEndpoint(text: string | undefined): string {
  const t = (text ?? '').trim() || DEFAULT_ENDPOINT;
  let u: URL;
  try {
    u = new URL(t);
  } catch {
    throw new HubAddressError(`"${t}" is not a Hub endpoint URL (e.g. ${DEFAULT_ENDPOINT})`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new HubAddressError(`"${t}": the Hub endpoint must be an http(s) URL`);
  return t.replace(/\/+$/, '');
}

/**
 * "models--owner--name": the folder name huggingface_hub (and @huggingface/hub's
 * Node cache) gives a repo. Written out here because the package's own helper is
 * Node-only (stubbed in its browser build) and the browser cache uses it too.
 */
export function cacheFolderName(repo: HubRepo): string {
  return [`${repo.type}s`, ...repo.name.split('/')].join('--');
}

/** The repo a cache folder name stands for, or null if the name is not one. */
export function repoOfCacheFolder(folder: string): HubRepo | null {
  const m = /^(models|datasets)--([^-][^/]*?)--([^/]+)$/.exec(folder);
  return m ? { type: m[1] === 'models' ? 'model' : 'dataset', name: `${m[2]}/${m[3]}` } : null;
}
