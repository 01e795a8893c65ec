// Actions of "Repair quantization": open the teacher file (dropped or picked
// like the model) in the worker, which checks it against the current model and
// keeps it for the model's runs; a second drop replaces the first.
import type { EngineClient } from '../worker/client.ts';
import type { ModelFileRef } from '../worker/protocol.ts';
import type { AppStore } from './store.ts';

export async function loadTeacher(client: EngineClient, store: AppStore, files: ModelFileRef[]): Promise<void> {
  const s = store.getState();
  const reqId = s.teacherStarted();
  try {
    s.teacherLoaded(reqId, await client.request({ type: 'teacher-load', files }, (p) => s.teacherProgress(reqId, p)));
  } catch (err) {
    s.teacherFailed(reqId, err);
  }
}
