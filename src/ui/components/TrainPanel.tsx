// Training panel: the dataset (drop or pick), method presets and settings, the
// planner's memory estimate, Start / Pause / Stop, and the run as it goes (loss
// chart, speed, ETA, GPU memory, samples before and after). Everything heavy
// happens in the engine worker (actions.startTraining and friends); this only
// renders the store's train slice. Disabled until a model is loaded. With a
// dataset, "Calibrate on this data" collects the importance matrix in the
// worker; LQ-LoRA on a float model can plan its base by a bit budget (slider).
// "Repair quantization" distills from the unquantized teacher instead (Repair.tsx).
import { memo, useCallback, useEffect, useRef, useState } from 'react';
import { currentTrainFile, pauseTraining, planTraining, readTrainData, startTraining, stopTraining } from '../../state/actions.ts';
import type { TrainForm, TrainRunState } from '../../state/slices/train.ts';
import { askPersistence, refreshRuns } from '../../state/saved_runs.ts';
import { calibrateOnData, cancelCalibration, planBudget, saveCalibration } from '../../state/calibration_actions.ts';
import { saveBlob } from '../save.ts';
import { BudgetPlan } from './BudgetPlan.tsx';
import { Calibration } from './Calibration.tsx';
import { Repair } from './Repair.tsx';
import { loadTeacher } from '../../state/repair_actions.ts';
import { useAppStore, useServices } from '../hooks/useAppStore.ts';
import { DatasetPicker } from './DatasetPicker.tsx';
import { ExportFormatsHint } from './ExportFormatsHint.tsx';
import { TrainPlan } from './TrainPlan.tsx';
import { TrainRun } from './TrainRun.tsx';
import { storesQuantized, TrainSettings } from './TrainSettings.tsx';

// Memoized: a run updates the store several times a second, and these only change with their own props.
const Data = memo(DatasetPicker);
const Settings = memo(TrainSettings);
const Plan = memo(TrainPlan);

/** Settings are re-planned (and the data re-read) this long after the last keystroke. */
const SETTLE_MS = 250;
/** A budget plan measures every matrix's candidates: asked for this long after the slider stops. */
const BUDGET_SETTLE_MS = 400;

function statusWord(r: TrainRunState): string {
  if (r.status === 'running') return r.stopping ? 'stopping' : r.pausing ? 'pausing' : 'running';
  return r.status;
}

export function TrainPanel() {
  const { client, store } = useServices();
  const ready = useAppStore((s) => s.model.status === 'ready');
  const loadId = useAppStore((s) => s.model.loadId);
  const facts = useAppStore((s) => s.model.facts);
  const form = useAppStore((s) => s.train.form);
  const data = useAppStore((s) => s.train.data);
  const plan = useAppStore((s) => s.train.plan);
  const r = useAppStore((s) => s.train.run);
  const calibration = useAppStore((s) => s.train.calibration);
  const budget = useAppStore((s) => s.train.budget);
  const teacher = useAppStore((s) => s.train.teacher);
  const [picked, setFile] = useState<File | null>(null);
  // What the user picked here, else the file an action read (the built-in demo's): the store re-renders on its report.
  const file = picked ?? (data.name ? currentTrainFile(store) : null);
  const onForm = useCallback((patch: Partial<TrainForm>) => store.getState().trainFormChanged(patch), [store]);
  const onPlainChat = useCallback((plainChat: boolean) => store.getState().trainFormChanged({ plainChat }), [store]);
  const active = r.status === 'running' || r.status === 'paused';

  // The windows depend on the tokenizer (the model), seq len and seed: read the data again when they change.
  useEffect(() => {
    if (!ready || !file) return;
    const h = setTimeout(() => void readTrainData(client, store, file), SETTLE_MS);
    return () => clearTimeout(h);
  }, [client, store, ready, loadId, file, form.seqLen, form.seed, form.plainChat]);

  useEffect(() => {
    if (!ready) return;
    const h = setTimeout(() => void planTraining(client, store), SETTLE_MS);
    return () => clearTimeout(h);
    // A repair's teacher file, once opened (or refused), changes the plan too.
  }, [client, store, ready, loadId, form, teacher.reqId, teacher.status]);

  // A setting the worker refused (the plan checks every field; the data read checks seq len and seed) is shown at its field.
  // LQ-LoRA on a float model can plan its base by a bit budget; the plan is asked again when what it depends on changes.
  const budgetShown = form.method === 'lqlora' && !!facts && !storesQuantized(facts);
  const budgetOn = budgetShown && form.budget.trim() !== '';
  const calibrationId = calibration.report?.id ?? null;
  useEffect(() => {
    if (!ready || !budgetOn) return;
    const h = setTimeout(() => void planBudget(client, store), BUDGET_SETTLE_MS);
    return () => clearTimeout(h);
  }, [client, store, ready, loadId, budgetOn, form.budget, form.rank, form.alpha, form.seed, form.bits, form.group, calibrationId]);
  const onBudget = useCallback((b: string) => store.getState().trainFormChanged({ budget: b }), [store]);
  // Repair's implicit teacher is the float file the student is quantized from here.
  const selfRefused = !facts
    ? null
    : storesQuantized(facts)
      ? `${facts.name} is stored quantized, so it cannot be its own teacher: load its unquantized model as a teacher file`
      : form.bits === 'file'
        ? 'The student must be quantized here (2, 3 or 4 bits) for this model to teach it'
        : null;
  const repairNote = plan.report?.notes.find((n) => n.startsWith('Teacher live')) ?? null;

  const fieldError = plan.error?.field ? plan.error : data.error?.field ? data.error : null;
  // While the data is read again for new settings, the last report still stands: Start stays enabled (a button
  // that turns disabled under the keyboard drops focus to the page), and the worker checks the windows again at Start.
  const dataReady = (data.status === 'ready' || (data.status === 'reading' && data.report !== null && data.name === file?.name)) && (data.report?.counts.trainWindows ?? 0) > 0;
  const canStart = ready && !!file && dataReady && !active && !plan.report?.refused && plan.status !== 'error';
  const word = statusWord(r);

  // Start turns disabled when a run starts, Pause and Stop when it ends: a disabled button loses keyboard focus to the
  // page. When focus was in this row and has fallen to the body, it goes to the row's first enabled button.
  const buttons = useRef<HTMLDivElement>(null);
  const focusInRow = useRef(false);
  useEffect(() => {
    // (Chrome moves focus off a button that turned disabled only at its next rendering step, so "still on a
    // disabled button" counts as fallen too.)
    const at = document.activeElement;
    if (!focusInRow.current || (at && at !== document.body && !(at as HTMLButtonElement).disabled)) return;
    buttons.current?.querySelector<HTMLButtonElement>('button:not(:disabled)')?.focus();
  }, [active, r.stopping, r.pausing, canStart]);
  const startAndList = async () => {
    void askPersistence(store);
    await startTraining(client, store);
    await refreshRuns(client, store); // the run is now a saved run (or, stopped before a checkpoint, not)
  };
  return (
    <section className="panel train-panel" data-testid="train-panel" data-run-id={r.runId}>
      <h2 className="with-badge">
        Fine-tune{' '}
        <span className={`badge ${word}`} data-testid="train-status" role="status">
          {word}
        </span>
      </h2>
      {!ready && <p className="muted">Load a model to fine-tune it.</p>}
      <fieldset disabled={!ready}>
        <div className="train-setup">
          <div>
            <h3>Data</h3>
            <Data data={data} enabled={ready} file={file} onFile={setFile} plainChat={form.plainChat} onPlainChat={onPlainChat} />
            <Calibration
              calibration={calibration}
              enabled={ready && !!file && dataReady && !active}
              onCalibrate={() => void calibrateOnData(client, store)}
              onCancel={() => cancelCalibration(store)}
              onSave={() => void saveCalibration(client, (f) => saveBlob(f.blob, f.name)).catch((err: unknown) => console.error(err))}
            />
          </div>
          <div>
            <h3>Method</h3>
            <fieldset disabled={active}>
              <Settings form={form} facts={facts} error={fieldError} onChange={onForm} />
            </fieldset>
            {budgetShown && (
              <fieldset disabled={active}>
                <BudgetPlan budget={form.budget} plan={budget} onBudget={onBudget} />
              </fieldset>
            )}
            <fieldset disabled={active}>
              <Repair
                form={form}
                teacher={teacher}
                selfRefused={selfRefused}
                modeNote={form.repair ? repairNote : null}
                onChange={onForm}
                onTeacherFiles={(files) => void loadTeacher(client, store, files)}
              />
            </fieldset>
            <Plan plan={plan} />
            <ExportFormatsHint />
            <div
              className="buttons left train-buttons"
              ref={buttons}
              onFocus={() => (focusInRow.current = true)}
              onBlur={(ev) => {
                // Leaving for another element ends it; falling to nothing (a button turned disabled) does not.
                if (ev.relatedTarget) focusInRow.current = buttons.current?.contains(ev.relatedTarget as Node) ?? false;
              }}
            >
              <button type="button" className="primary" data-testid="train-start" disabled={!canStart} onClick={() => void startAndList()}>
                Start
              </button>
              <button
                type="button"
                data-testid="train-pause"
                disabled={!active || r.stopping || r.pausing}
                onClick={() => void pauseTraining(client, store, r.status !== 'paused')}
              >
                {r.status === 'paused' ? 'Resume' : 'Pause'}
              </button>
              <button type="button" data-testid="train-stop" disabled={!active || r.stopping} onClick={() => stopTraining(store)}>
                Stop
              </button>
            </div>
          </div>
        </div>
      </fieldset>
      <TrainRun r={r} />
    </section>
  );
}
