// Actions of the training panel's importance matrix and bit budget: collect the
// matrix over the dropped data in the worker ("Calibrate on this data", with
// Cancel), save it as a .imatrix.gguf, and ask for LQ-LoRA's plan at the
// slider's budget (a newer ask cancels the older one). The matrix and the plan
// stay in the worker; Start builds the base by the plan the panel shows.
import type { EngineClient } from '../worker/client.ts';
import type { CalibrationFile } from '../worker/protocol.ts';
import { currentTrainFile } from './actions.ts';
import { CALIBRATION_WINDOWS, formSettings } from './slices/train.ts';
import type { AppStore } from './store.ts';

/** Cancel handles of the running calibration and budget plan; kept here because the store holds plain data only. */
const calibrations = new WeakMap<AppStore, AbortController>();
const plans = new WeakMap<AppStore, AbortController>();

export async function calibrateOnData(client: EngineClient, store: AppStore): Promise<void> {
  const file = currentTrainFile(store);
  if (!file || calibrations.has(store)) return;
  const s = store.getState();
  const { seqLen, seed } = formSettings(s.train.form);
  const reqId = s.calibrationStarted();
  const loadId = s.model.loadId;
  const abort = new AbortController();
  calibrations.set(store, abort);
  try {
    const r = await client.request(
      { type: 'calibrate', file, name: file.name, seqLen, seed, plainChat: s.train.form.plainChat, windows: CALIBRATION_WINDOWS },
      (p) => s.calibrationProgress(reqId, p),
      undefined,
      abort.signal,
    );
    s.calibrated(reqId, r);
    s.modelWeightsPlaced(loadId, r);
  } catch (err) {
    if (!abort.signal.aborted) console.error(err);
    s.calibrationFailed(reqId, err, abort.signal.aborted);
  } finally {
    if (calibrations.get(store) === abort) calibrations.delete(store);
  }
}

export function cancelCalibration(store: AppStore): void {
  calibrations.get(store)?.abort('cancelled by the user');
}

/** The kept matrix as a file; `save` downloads it (src/ui/save.ts). */
export async function saveCalibration(client: EngineClient, save: (f: CalibrationFile) => void): Promise<void> {
  save(await client.request({ type: 'calibration-save' }));
}

/** LQ-LoRA's plan at the form's budget; an older ask still running is cancelled. */
export async function planBudget(client: EngineClient, store: AppStore): Promise<void> {
  plans.get(store)?.abort('a newer budget was asked for');
  const abort = new AbortController();
  plans.set(store, abort);
  const s = store.getState();
  const reqId = s.budgetStarted();
  try {
    const r = await client.request({ type: 'budget-plan', ...formSettings(s.train.form) }, (p) => s.budgetProgress(reqId, p), undefined, abort.signal);
    s.budgetPlanned(reqId, r);
  } catch (err) {
    // A cancelled ask was replaced by a newer one, whose answer the panel waits for.
    if (!abort.signal.aborted) s.budgetFailed(reqId, err);
  } finally {
    if (plans.get(store) === abort) plans.delete(store);
  }
}
