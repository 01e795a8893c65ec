// React access to the app: the vanilla store and the engine client come in
// through one context (set up in main.tsx), so components never import a
// global and tests could mount them with their own store.
import { createContext, useContext } from 'react';
import { useStore } from 'zustand';
import type { AppState, AppStore } from '../../state/store.ts';
import type { EngineClient } from '../../worker/client.ts';

export interface AppServices {
  store: AppStore;
  client: EngineClient;
}

export const AppContext = createContext<AppServices | null>(null);

export function useServices(): AppServices {
  const s = useContext(AppContext);
  if (!s) throw new Error('useServices: no AppContext provider above this component (see src/main.tsx).');
  return s;
}

/** Read part of the store; the selector must return stored values (not fresh objects) to avoid re-render loops. */
export function useAppStore<T>(selector: (s: AppState) => T): T {
  return useStore(useServices().store, selector);
}
