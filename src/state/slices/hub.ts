// Hub slice: the studio's Hub field (endpoint, token, repo id), the listing of
// a repo, the download of a chosen model (its progress bar) and the cache panel.
// The token lives in this store only, unless the user ticks "remember", which
// puts it in localStorage; the endpoint is a setting and always remembered.
import type { StateCreator } from 'zustand/vanilla';
import type { CachedRepo, HubDownloaded, HubListing, ProgressEvent } from '../../worker/protocol.ts';
import { toErrorText, type ErrorText } from '../errors.ts';
import type { AppState } from '../store.ts';

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';
const KEY_ENDPOINT = 'sub4.hub.endpoint';
const KEY_TOKEN = 'sub4.hub.token';

export interface HubSettings {
  endpoint: string;
  token: string;
  /** Keep the token in this browser's localStorage (off: it is gone when the tab closes). */
  rememberToken: boolean;
  repo: string;
}

export interface HubState {
  settings: HubSettings;
  listing: { id: number; status: 'idle' | 'listing' | 'ready' | 'error'; result: HubListing | null; error: ErrorText | null };
  download: {
    id: number;
    status: 'idle' | 'downloading' | 'done' | 'error';
    /** "owner/name: Q4_0 (m.Q4_0.gguf)". */
    label: string | null;
    phase: string | null;
    done: number;
    total: number;
    result: Omit<HubDownloaded, 'files'> | null;
    error: ErrorText | null;
  };
  cache: { repos: CachedRepo[]; error: ErrorText | null };
}

export interface HubSlice {
  hub: HubState;
  hubSettingsChanged(p: Partial<HubSettings>): void;
  hubListStarted(): number;
  hubListed(id: number, r: HubListing): void;
  hubListFailed(id: number, err: unknown): void;
  hubDownloadStarted(label: string): number;
  hubDownloadProgress(id: number, p: ProgressEvent): void;
  hubDownloaded(id: number, r: HubDownloaded): void;
  hubDownloadFailed(id: number, err: unknown): void;
  hubCacheReceived(repos: CachedRepo[]): void;
  hubCacheFailed(err: unknown): void;
}

/** localStorage where there is one (not in Node tests, not with storage blocked). */
function storage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

function initialSettings(): HubSettings {
  const s = storage();
  const token = s?.getItem(KEY_TOKEN) ?? '';
  return { endpoint: s?.getItem(KEY_ENDPOINT) || DEFAULT_HUB_ENDPOINT, token, rememberToken: token !== '', repo: '' };
}

function persist(p: HubSettings): void {
  const s = storage();
  if (!s) return;
  s.setItem(KEY_ENDPOINT, p.endpoint);
  // Unticking "remember" forgets a saved token at once.
  if (p.rememberToken && p.token) s.setItem(KEY_TOKEN, p.token);
  else s.removeItem(KEY_TOKEN);
}

export const createHubSlice: StateCreator<AppState, [], [], HubSlice> = (set, get) => {
  const patchList = (id: number, p: Partial<HubState['listing']>) =>
    set((s) => (s.hub.listing.id === id ? { hub: { ...s.hub, listing: { ...s.hub.listing, ...p } } } : s));
  const patchDownload = (id: number, p: Partial<HubState['download']>) =>
    set((s) => (s.hub.download.id === id ? { hub: { ...s.hub, download: { ...s.hub.download, ...p } } } : s));
  return {
    hub: {
      settings: initialSettings(),
      listing: { id: 0, status: 'idle', result: null, error: null },
      download: { id: 0, status: 'idle', label: null, phase: null, done: 0, total: 0, result: null, error: null },
      cache: { repos: [], error: null },
    },
    hubSettingsChanged: (p) => {
      const settings = { ...get().hub.settings, ...p };
      persist(settings);
      set((s) => ({ hub: { ...s.hub, settings } }));
    },
    hubListStarted: () => {
      const id = get().hub.listing.id + 1;
      set((s) => ({ hub: { ...s.hub, listing: { id, status: 'listing', result: null, error: null } } }));
      return id;
    },
    hubListed: (id, r) => patchList(id, { status: 'ready', result: r }),
    hubListFailed: (id, err) => patchList(id, { status: 'error', error: toErrorText(err) }),
    hubDownloadStarted: (label) => {
      const id = get().hub.download.id + 1;
      set((s) => ({ hub: { ...s.hub, download: { id, status: 'downloading', label, phase: null, done: 0, total: 0, result: null, error: null } } }));
      return id;
    },
    hubDownloadProgress: (id, p) => patchDownload(id, { phase: p.phase, done: p.done, total: p.total }),
    hubDownloaded: (id, r) => patchDownload(id, { status: 'done', result: { downloaded: r.downloaded, fromCache: r.fromCache } }),
    hubDownloadFailed: (id, err) => patchDownload(id, { status: 'error', error: toErrorText(err) }),
    hubCacheReceived: (repos) => set((s) => ({ hub: { ...s.hub, cache: { repos, error: null } } })),
    hubCacheFailed: (err) => set((s) => ({ hub: { ...s.hub, cache: { ...s.hub.cache, error: toErrorText(err) } } })),
  };
};
