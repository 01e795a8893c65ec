// Requests of the studio's Hub field and cache panel (the Hub client is
// src/hub; the worker runs it, see hub.ts). The token travels with each request
// and the worker keeps none: the page decides whether it is remembered.
import type { CachedRepo } from '../hub/cache_opfs.ts';
import type { ModelChoice } from '../hub/choices.ts';

export type { CachedRepo } from '../hub/cache_opfs.ts';
export type { ModelChoice } from '../hub/choices.ts';

/** Where to ask and as whom. */
export interface HubTarget {
  /** The Hub's base URL (the studio's setting; https://huggingface.co by default). */
  endpoint: string;
  /** An access token for gated or private repos; empty sends none. */
  token: string;
  /** Branch, tag or commit; default "main". */
  revision?: string;
}

export interface HubListParams extends HubTarget {
  /** As typed: "owner/name", or the repo's Hub URL. */
  repo: string;
}

export interface HubListing {
  /** The repo id as parsed ("owner/name"). */
  repo: string;
  revision: string;
  files: { path: string; size: number }[];
  /** The models the repo offers (each GGUF variant, the safetensors set), with whether all their files are cached. */
  choices: (ModelChoice & { cached: boolean })[];
}

export interface HubDownloadParams extends HubTarget {
  repo: string;
  /** Paths in the repo (a choice's files). */
  files: string[];
  /** Their total size as listed (ModelChoice.bytes), so the bar's denominator is known before each file's first byte. */
  bytes?: number;
}

export interface HubDownloaded {
  /** The files as load-model takes them (a ModelFileRef each: "<repo name>/<path>"), disk-backed from the cache. */
  files: { path: string; file: File }[];
  /** Paths that were downloaded now, and paths that came from the cache without a request. */
  downloaded: string[];
  fromCache: string[];
}

export interface HubCacheReport {
  repos: CachedRepo[];
}
