// What goes from the screen when the model or the training data changes. A new
// model: every result of the previous one (the run's chart, samples and outcome,
// its export, Generate's and perplexity's output) is of a model no longer loaded,
// and the worker frees the kept run with it. A new data file: the last run was
// trained on the other file, so its panel empties (the worker still keeps the
// run until the next one starts). Counters (runId, jobId) carry on, so a late
// answer of an older request is still dropped by its number.
import type { AppState } from '../store.ts';
import { initialExportJob } from './export.ts';
import { initialGenerateState } from './generate.ts';
import { initialPerplexityState } from './perplexity.ts';
import { initialTrainRun, type TrainRunState } from './train.ts';

const active = (r: TrainRunState) => r.status === 'running' || r.status === 'paused';

/** The run panel emptied; a run still going is left alone (its own events end it). */
function clearedRun(s: AppState): TrainRunState {
  return active(s.train.run) ? s.train.run : { ...initialTrainRun, runId: s.train.run.runId };
}

/** A new model load began: everything shown about the previous model goes. */
export function withoutModelResults(s: AppState): Partial<AppState> {
  const exporting = s.export.job.status === 'exporting';
  return {
    // The report was tokenized with the previous model's tokenizer; the panel reads the file again once the model is ready.
    // The worker's importance matrix and budget plan were of the previous model: they go with it (numbers move on).
    train: {
      ...s.train,
      run: clearedRun(s),
      data: { ...s.train.data, report: null, status: 'idle', progress: null, error: null },
      calibration: { reqId: s.train.calibration.reqId + 1, status: 'idle', progress: null, report: null, error: null },
      budget: { reqId: s.train.budget.reqId + 1, status: 'idle', progress: null, report: null, error: null },
      // The worker keeps a repair's teacher file per model: a new model has none yet.
      teacher: { reqId: s.train.teacher.reqId + 1, status: 'idle', progress: null, report: null, error: null },
    },
    export: {
      choices: { ...s.export.choices, status: 'idle', report: null, error: null },
      job: exporting ? s.export.job : { ...initialExportJob, jobId: s.export.job.jobId },
    },
    // Numbers move on so the previous model's late tokens or scores are dropped.
    generation: { ...initialGenerateState, runId: s.generation.runId + 1 },
    perplexity: { ...initialPerplexityState, runId: s.perplexity.runId + 1 },
  };
}

/** A different data file was chosen: the last run (trained on the other file) leaves the panel. */
export function withoutDataResults(s: AppState): Partial<AppState> {
  return { train: { ...s.train, run: clearedRun(s) } };
}
