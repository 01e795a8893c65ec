// What the engine does for each request, as a table keyed by request type. The
// table is plain engine code: it gets the GPU context through `getContext`, so
// the same handlers run in the browser worker and could run in Node tests.
import { matmulSelfTest, SELFTEST_TOLERANCE } from '../gpu/selftest.ts';
import { exportChoicesRequest, exportRequest } from './export.ts';
import { budgetPlan, calibrate, calibrationSave } from './calibrate.ts';
import { generateText } from './generate.ts';
import { checkModelFiles, loadModel } from './load_model.ts';
import type { HandlerTable } from './handler_env.ts';
import { hubCache, hubCacheDelete, hubDownload, hubList } from './hub.ts';
import { perplexity } from './perplexity.ts';
import { teacherLoad } from './repair.ts';
import { runsDelete, runsList } from './runs.ts';
import { train, trainControl, trainData, trainPlan } from './train.ts';

export const handlers: HandlerTable = {
  async 'gpu-info'(_req, io, env) {
    const ctx = await env.getContext(io.progress);
    return { adapter: ctx.adapter, limits: ctx.limits, features: ctx.features };
  },

  async selftest(_req, io, env) {
    const ctx = await env.getContext(io.progress);
    io.progress('selftest', 0, 1);
    // The default shape in selftest.ts is the one `sub4 gpu` prints, so the two agree.
    const result = await matmulSelfTest(ctx);
    io.progress('selftest', 1, 1);
    return { ...result, tolerance: SELFTEST_TOLERANCE };
  },

  'load-model'(req, io, env) {
    // Structured clone may hand over anything; a missing list is the caller's bug, said plainly.
    if (!Array.isArray(req.files)) throw new TypeError('load-model needs `files`: an array of { path, file } with File objects.');
    return loadModel(req.files, env.models, io.progress, io.signal);
  },

  async 'check-model-files'(req) {
    if (!Array.isArray(req.files)) throw new TypeError('check-model-files needs `files`: an array of { path, file } with File objects.');
    return checkModelFiles(req.files);
  },

  generate: generateText,
  perplexity,
  'train-data': trainData,
  'train-plan': trainPlan,
  calibrate,
  'calibration-save': calibrationSave,
  'budget-plan': budgetPlan,
  'teacher-load': teacherLoad,
  train,
  'train-control': trainControl,
  'runs-list': () => runsList(),
  'runs-delete': (req) => runsDelete(req),
  'export-choices': exportChoicesRequest,
  export: exportRequest,
  'hub-list': hubList,
  'hub-download': hubDownload,
  'hub-cache': hubCache,
  'hub-cache-delete': hubCacheDelete,
};
