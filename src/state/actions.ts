// Actions: the async glue between the engine client and the store. Each one
// sends requests, turns progress events into store updates and records the
// outcome, so components only read state and call these.
import type { EngineClient } from '../worker/client.ts';
import type { AppStore } from './store.ts';

/** Ask the worker which GPU it has, then run the matmul self-test on it. */
export async function startGpu(client: EngineClient, store: AppStore): Promise<void> {
  const s = store.getState();
  s.gpuStarted();
  try {
    const info = await client.request({ type: 'gpu-info' }, s.gpuProgress);
    s.gpuInfoReceived(info);
    const result = await client.request({ type: 'selftest' }, s.gpuProgress);
    s.selftestFinished(result);
  } catch (err) {
    console.error(err);
    s.gpuFailed(err);
  }
}

/** Everything the app does when the page opens. */
export function startup(client: EngineClient, store: AppStore): Promise<void> {
  return startGpu(client, store);
}
