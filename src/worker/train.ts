// The training requests of the studio, built the way `sub4 tune` builds a run
// (src/train/setup.ts is shared with it):
//   train-data     the dropped file → dataset report (preview, counts, problems by line)
//   train-plan     the memory planner's peak for the chosen settings (nothing allocated)
//   train          fine-tune the current model: on its resident weights, or on a base
//                  built here (train_base.ts: --bits, LQ-LoRA, ReALLM's learned codebooks); streams step
//                  points, evals, samples
//   train-control  pause / resume between steps
// Stop is the request's cancel: the trainer stops between steps, evaluates and samples
// once more, and the request resolves with what was trained; an error after some
// steps ends the run the same way, saying what happened. The trained state stays
// in the model slot's TrainSlot for export; the page only gets numbers and text. A
// run stopped before its first step stops within one eval batch and keeps nothing.
import type { GpuContext } from '../gpu/device.ts';
import { checkPlanFits, planStep, PlanRefusedError } from '../model/planner.ts';
import { LlamaModel } from '../model/llama.ts';
import { createTrainable, type Trainable } from '../model/trainable.ts';
import { loadWeights, type ModelWeights } from '../model/weights.ts';
import { buildDataset, promptIds, promptText } from '../train/data/index.ts';
import { applyLoraStart, planStorage } from '../train/setup.ts';
import { runWarnings } from '../train/outcome.ts';
import { CheckpointError } from '../train/checkpoint/errors.ts';
import { Trainer, type TrainEvent } from '../train/trainer.ts';
import { CancelledError, intParam, NoModelError, RequestParamError } from './errors.ts';
import { buildRunBase } from './train_base.ts';
import type { HandlerEnv, HandlerIO } from './handler_env.ts';
import { NEW_MODEL_REASON, placedBy, type ModelFileJob } from './model_slot.ts';
import { assertPlainData } from './plain_data.ts';
import type { EngineRequest, TrainDataReport, TrainPlanReport, TrainReport, TrainSettings } from './protocol.ts';
import { buildsOwnBase, checkSeqLenFits, checkSettings, checkTrainable, dataName, dataReport, plannedQuant, quantOf, readDataText, runConfig, type CheckedSettings } from './train_data.ts';
import { resetBaseScales, restoreBaseScales, RunGate, TrainedRun } from './train_slot.ts';
import { newRunStore, openSavedRun } from './runs.ts';
import { RunCheckpoints } from './train_checkpoints.ts';
import { checkIdentity, dataIdentity, modelIdentity, type RunIdentity } from '../train/checkpoint/identity.ts';
import { runWithRecovery, RunDeviceLostError, type RunParts } from '../train/checkpoint/recover.ts';
import { StreamOut, throttled } from './train_stream.ts';
import { checkResumeTeacher, planRepair, RepairTrainer, repairReport, teacherKeyOf, teacherOf, teacherParts, type RepairEval, type TeacherParts } from './repair.ts';

/** Held-out share of the data, as `sub4 tune` holds out without --eval-data. */
const EVAL_FRACTION = 0.1;

export async function trainData(req: EngineRequest<'train-data'>, io: HandlerIO<'train-data'>, env: HandlerEnv): Promise<TrainDataReport> {
  const name = dataName(req);
  const seqLen = intParam(req.seqLen, 'seq len', 2, 1 << 16);
  const seed = intParam(req.seed, 'seed', 0, 0xffffffff);
  const model = env.models.current;
  if (!model?.tokenizer) throw new NoModelError('No model with a tokenizer is loaded: the data is read with the model\'s tokenizer, so load the model first.');
  const text = await readDataText(req.file, name, io.progress);
  const ds = buildDataset(text, name, model.tokenizer, {
    seqLen,
    seed,
    evalFraction: EVAL_FRACTION,
    plainChatFallback: req.plainChat === true,
    onProgress: (d, t) => io.progress('tokenizing', d, t),
  });
  return assertPlainData(dataReport(ds, req.file.size, seqLen), 'train-data');
}

export async function trainPlan(req: EngineRequest<'train-plan'>, io: HandlerIO<'train-plan'>, env: HandlerEnv): Promise<TrainPlanReport> {
  const s = checkSettings(req);
  const file = env.models.current;
  if (!file) throw new NoModelError('No model is loaded: open a .gguf file or a Hugging Face model folder first.');
  checkSeqLenFits(s.seqLen, file);
  // A repair without a teacher to use is refused before anything else (the plan then counts the teacher too).
  const teacher = teacherOf(file, s);
  const { cfg, notes } = runConfig(file, s);
  const ctx = await env.getContext(io.progress);
  const planned = plannedQuant(s);
  const prompt = s.samplePrompt && file.tokenizer ? file.tokenizer.encode(s.samplePrompt, { addBos: true }).length : 0;
  const run = { sampleLength: prompt ? prompt + s.sampleTokens : 0 };
  const studentPlan = planStep({ config: file.config, storage: planStorage(file, planned), train: cfg, B: s.batch, T: s.seqLen, f16: ctx.features.f16, run });
  // A repair's live teacher adds its weights, activations and logit rows (the plan says which mode and why).
  const repair = teacher && planRepair(studentPlan, teacher, s.batch, s.seqLen, ctx.limits);
  if (repair) notes.push(repair.why);
  const plan = repair?.plan ?? studentPlan;
  let refused: string | null = null;
  try {
    checkPlanFits(plan, ctx.limits);
  } catch (e) {
    if (!(e instanceof PlanRefusedError)) throw e;
    refused = e.message;
  }
  return assertPlainData({ total: plan.total, parts: { ...plan.parts }, largest: { ...plan.largest }, refused, notes }, 'train-plan');
}

export async function trainControl(req: EngineRequest<'train-control'>, _io: HandlerIO<'train-control'>, env: HandlerEnv): Promise<{ running: boolean }> {
  const slot = env.models.training;
  const gate = slot.gate;
  if (req.action !== 'pause' && req.action !== 'resume' && req.action !== 'checkpoint')
    throw new TypeError(`train-control: action must be pause, resume or checkpoint, got ${String(req.action)}`);
  if (gate && req.action === 'pause') gate.pause();
  else if (gate && req.action === 'resume') gate.resume();
  else if (req.action === 'checkpoint') await slot.checkpointNow?.();
  return { running: gate !== null };
}

export async function train(req: EngineRequest<'train'>, io: HandlerIO<'train'>, env: HandlerEnv): Promise<TrainReport> {
  // A resumed run takes every setting from its checkpoint: the page's form may say anything by now.
  const saved = req.resume === undefined ? null : await openSavedRun(req.resume);
  const s = checkSettings(saved ? (saved.checkpoint.settings as unknown as TrainSettings) : req);
  const name = dataName(req);
  const ctx = await env.getContext(io.progress);
  const tio: HandlerIO<'train'> & { survivesLoss: true } = { ...io, progress: throttled(io.progress), survivesLoss: true };
  const job = (j: ModelFileJob, resident: LlamaModel | null) => runTraining(ctx, s, req.file, name, req.plainChat === true, saved, j, resident, tio, env);
  try {
    // A quantized base is uploaded by the job itself; the resident float weights make room for it.
    return await (buildsOwnBase(s) ? env.models.runOwnWeights(ctx, tio, (j) => job(j, null)) : env.models.run(ctx, tio, async (j) => ({ ...(await job(j, j.llama)), ...placedBy(j) })));
  } catch (e) {
    if (e instanceof RunDeviceLostError && e.savedTo) throw new RunDeviceLostError(`${e.message}: reload the page and choose Resume under "Saved runs"`, e.step, e.savedTo, { cause: e });
    throw e;
  }
}

/** One build of the run on a device: what runWithRecovery rebuilds after a loss. */
interface Parts extends RunParts {
  tr: Trainable;
  llama: LlamaModel;
  /** Weights this build uploaded; null when it borrowed the model slot's resident ones. */
  weights: ModelWeights | null;
  /** A repair's live teacher on this device. */
  teacher: TeacherParts | null;
}

async function runTraining(
  ctx: GpuContext,
  s: CheckedSettings,
  data: Blob,
  name: string,
  plainChat: boolean,
  saved: Awaited<ReturnType<typeof openSavedRun>> | null,
  { file, tokenizer, signal }: ModelFileJob,
  resident: LlamaModel | null,
  io: HandlerIO<'train'>,
  env: HandlerEnv,
): Promise<TrainReport> {
  const slot = env.models.training;
  slot.keep(null); // the previous run's state, and any tuned scales it left, go now
  const max = file.config.maxPositions;
  if (s.seqLen > max) throw new RequestParamError('seq len', `${file.name} reads at most ${max} positions, so seq len must be at most ${max}`);
  const text = await readDataText(data, name, io.progress);
  // Checked before anything is built: a checkpoint never continues on another model or other data.
  const identity: RunIdentity = { model: await modelIdentity(file), data: [await dataIdentity('train', name, text)] };
  if (saved) checkIdentity(saved.checkpoint.identity, identity, saved.file);
  io.progress('tokenizing', 0, 1);
  const ds = buildDataset(text, name, tokenizer, {
    seqLen: s.seqLen,
    seed: s.seed,
    evalFraction: EVAL_FRACTION,
    plainChatFallback: plainChat,
    onProgress: (d, t) => io.progress('tokenizing', d, t),
  });
  checkTrainable(ds, s.seqLen);
  const quant = quantOf(s);
  const { cfg, notes } = runConfig(file, s);
  const promptLength = s.samplePrompt ? tokenizer.encode(s.samplePrompt, { addBos: true }).length : 0;
  const run = { sampleLength: promptLength ? promptLength + s.sampleTokens : 0 };
  const studentPlan = planStep({ config: file.config, storage: planStorage(file, plannedQuant(s)), train: cfg, B: s.batch, T: s.seqLen, f16: ctx.features.f16, run });
  // Repair quantization: the loss is KL to the teacher (live beside the student; repair.ts), checked before any work.
  const teacher = teacherOf(file, s);
  const repair = teacher && planRepair(studentPlan, teacher, s.batch, s.seqLen, ctx.limits);
  if (repair) notes.push(repair.why);
  else checkPlanFits(studentPlan, ctx.limits);

  // The quantized base (ReALLM's codebooks, a budget plan, --bits), built as `sub4 tune` builds it (train_base.ts).
  const { base, prepared, budgetRun, reallmRun, baseKey } = await buildRunBase(ctx, file, s, notes, io, signal);
  if (prepared) stopIfReplaced(signal);
  const savedKey = saved ? ((saved.checkpoint.settings as { baseKey?: unknown }).baseKey ?? null) : null;
  if (saved && savedKey !== baseKey)
    throw new CheckpointError(
      saved.file,
      `was trained on a base built ${savedKey ? `by a ${String(savedKey).startsWith('budget') ? 'bit-budget plan' : 'calibrated split'}` : 'without the calibration'} that this page ${baseKey ? 'now builds differently' : 'no longer has'}: load the same model and data, ${savedKey ? 'Calibrate on this data again (and set the same bit budget), ' : 'clear the calibration, '}then Resume`,
    );

  const out = new StreamOut(io);
  const runStore = saved ?? (await newRunStore());
  const teacherKey = await teacherKeyOf(teacher);
  if (saved) checkResumeTeacher(saved.file, (saved.checkpoint.settings as { teacherKey?: unknown }).teacherKey, teacherKey);
  const savedSettings = { ...s, ...(baseKey ? { baseKey } : {}), ...(teacherKey ? { teacherKey } : {}) } as CheckedSettings;
  const cps = new RunCheckpoints({ store: runStore.store, settings: savedSettings, identity, send: (e) => out.send(e), notes });
  if (runStore.memoryOnly) cps.note(`Checkpoints stay in memory: ${runStore.memoryOnly}. A reload loses this run.`, 'storage');
  out.send({ type: 'run', id: runStore.id, resumedFrom: saved?.checkpoint.progress.step ?? null, losses: saved?.checkpoint.progress.losses ?? [], repair: teacher !== null });

  // The sample prompt in the data's own layout (Alpaca template, chat template), as the run trains the model to read it.
  const prompt = s.samplePrompt ? promptIds(tokenizer, s.samplePrompt, ds.parsed.kind, { plainChat, what: 'the sample prompt' }) : [];
  const trainerOptions = {
    batch: s.batch,
    steps: s.steps,
    schedule: { kind: 'cosine' as const, peak: s.lr, warmupSteps: Math.floor(s.steps / 10), totalSteps: s.steps, floor: s.lr / 10 },
    evalEvery: s.evalEvery,
    evalWindows: s.evalWindows,
    samplePrompts: prompt.length ? [prompt] : [],
    sampleTokens: s.sampleTokens,
  };
  // The whole run on one device. After a lost device it is built again on the new one with weights of its own
  // (the resident ones died with the device); recover.ts puts the last good state back on it.
  const build = async (c: GpuContext, borrowed: LlamaModel | null): Promise<Parts> => {
    let weights: ModelWeights | null = null;
    let tr: Trainable | null = null;
    let tp: TeacherParts | null = null;
    try {
      let llama = borrowed;
      if (!llama) {
        io.progress('uploading weights', 0, 1);
        weights = await loadWeights(c, base, { quantized: prepared?.quantized, onProgress: (d, t) => io.progress('uploading weights', d, t) });
        llama = new LlamaModel(c, weights);
      }
      io.progress('preparing', 0, 1);
      tr = await createTrainable(llama, base, cfg);
      if (prepared?.factors) applyLoraStart(tr, prepared.factors);
      if (teacher) {
        io.progress('uploading the teacher', 0, 1);
        tp = await teacherParts(c, teacher, s.batch, s.seqLen, (d, t) => io.progress('uploading the teacher', d, t));
      }
      const data = { train: ds.train, eval: ds.eval };
      const trainer = tp ? new RepairTrainer(llama, tr, data, { ...trainerOptions, distill: tp.source }, tp.model) : new Trainer(llama, tr, data, trainerOptions);
      const [t, w, tt] = [tr, weights, tp];
      return {
        trainer, tr: t, llama, weights: w, teacher: tt,
        destroy: () => {
          trainer.destroy();
          tt?.destroy();
          // Borrowed weights outlive the run: the base's scales go back into them (a no-op on a lost device).
          if (!w) resetBaseScales(t);
          t.destroy();
          w?.destroy();
        },
      };
    } catch (e) {
      tp?.destroy();
      if (tr && !weights) resetBaseScales(tr);
      tr?.destroy();
      weights?.destroy();
      throw e;
    }
  };

  const first = await build(ctx, buildsOwnBase(s) ? null : resident);
  const gate = new RunGate(signal, (state) => {
    out.send({ type: 'state', state });
    if (state === 'paused') void cps.saveNow();
  });
  slot.gate = gate;
  slot.checkpointNow = () => cps.saveNow();
  // What the samples were prompted with, as shown: the typed text for plain-text data, else its rendered layout
  // (template control tokens included), so the page shows what the model read.
  const shownPrompt = s.samplePrompt ? promptText(tokenizer, s.samplePrompt, ds.parsed.kind, { plainChat }) : '';
  const samples: TrainReport['samples'] = { prompt: shownPrompt, before: null, after: null };
  const sampleText = (p: readonly number[], tokens: readonly number[]) => {
    const head = tokenizer.decode([...p], { skipSpecial: true });
    const whole = tokenizer.decode([...p, ...tokens], { skipSpecial: true });
    return whole.startsWith(head) ? whole.slice(head.length) : whole;
  };
  if (saved) for (const e of saved.checkpoint.progress.samples) samples[e.when] = sampleText(e.prompt, e.tokens);
  const onEvent = (e: TrainEvent) => {
    if (e.type === 'step') {
      out.step({ step: e.step, loss: e.loss, lr: e.lr, tokensPerSecond: e.tokensPerSecond, gpuBytes: e.gpuBytes, elapsedMs: gate.elapsed(), ...(e.event && !e.applied ? { skipped: e.event.message } : {}) });
      io.progress(e.step >= s.steps || gate.aborted ? 'finishing' : 'training', e.step, s.steps);
    } else if (e.type === 'eval') {
      const gap = (e as RepairEval).gap;
      out.send({ type: 'eval', step: e.step, loss: e.evalLoss, ppl: e.evalPpl, tokens: e.tokens, ...(gap ? { gap: { ...gap } } : {}) });
      if (e.step === 0) io.progress('training', 0, s.steps);
    } else {
      const text = sampleText(e.prompt, e.tokens);
      samples[e.when] = text;
      out.send({ type: 'sample', when: e.when, prompt: shownPrompt, text });
      if (e.when === 'before') io.progress('evaluating', 0, 1);
    }
  };
  io.progress(saved ? 'training' : prompt.length ? 'sampling' : 'evaluating', saved?.checkpoint.progress.step ?? 0, saved ? s.steps : 1);
  const t0 = performance.now();
  let r;
  try {
    r = await runWithRecovery(
      {
        build: (c) => build(owners.get(c) ?? c, null),
        newContext: async () => shared(await env.getContext(io.progress)),
        checkpointer: cps.checkpointer,
        log: (line) => cps.note(line, 'device'),
      },
      { ctx: shared(ctx), parts: first, resume: saved && { state: saved.checkpoint, file: saved.file } },
      onEvent,
      gate,
    );
  } finally {
    out.flush();
    slot.gate = null;
    slot.checkpointNow = null;
  }
  const parts = r.parts as Parts;
  const sum = r.summary;
  let kept = false;
  try {
    stopIfReplaced(signal);
    const ev = (e: typeof sum.before) => (e ? { loss: e.evalLoss, ppl: e.evalPpl } : null);
    const repaired = teacher && repair ? repairReport(teacher, repair.why, sum.before, sum.after) : null;
    const report = (): TrainReport =>
      assertPlainData(
        {
          stop: sum.stop, failure: sum.failure, steps: sum.steps, totalSteps: s.steps, evalBefore: ev(sum.before), evalAfter: ev(sum.after),
          warnings: [...runWarnings({ steps: sum.steps, lr: s.lr, evalBefore: ev(sum.before), evalAfter: ev(sum.after) }), ...(repaired?.guard ? [repaired.guard] : [])],
          tokensPerSecond: sum.tokensPerSecond, peakGpuBytes: sum.peakGpuBytes, seconds: (performance.now() - t0) / 1000, samples, notes,
          runId: runStore.id, recoveries: r.recoveries, repair: repaired,
        },
        'train',
      );
    // Nothing was trained (stopped before the first step): nothing to keep, export or generate with.
    if (sum.steps === 0) return report();
    parts.trainer.destroy();
    parts.teacher?.destroy(); // the kept run is the student alone
    // Generate runs on the resident weights: their scales go back to the base's (the trained θ stays in tr).
    if (!parts.weights) await restoreBaseScales(parts.tr);
    slot.keep(
      new TrainedRun(file, parts.llama, parts.tr, prepared?.quantized ?? null, {
        method: s.method,
        // A budget run's base is the plan's (as `sub4 tune --budget` records it), not one grid.
        quant: budgetRun ? null : quant && { bits: quant.bits, groupSize: quant.groupSize },
        budget: budgetRun?.plan ?? null,
        ...(reallmRun ? { reallm: { dim: reallmRun.codebook.dim, bits: reallmRun.codebook.bits, rank: s.rank, bitsPerWeight: reallmRun.bitsPerWeight } } : {}),
        base: { path: file.name, name: file.name },
        data: { file: name, bytes: data.size },
        seed: s.seed, steps: sum.steps, batch: s.batch, seqLen: s.seqLen, lr: s.lr,
        perplexity: { before: sum.before?.evalPpl ?? null, after: sum.after?.evalPpl ?? null },
        losses: { first: sum.losses[0] ?? null, last: sum.losses.at(-1) ?? null },
      }, parts.weights, budgetRun?.ggufLayers, reallmRun?.vq),
    );
    kept = true;
    return report();
  } finally {
    if (!kept) parts.destroy();
  }
}

/**
 * The worker's device as runWithRecovery sees it: the worker owns it (other
 * requests use it too), so a failed run must not destroy it; a lost one is gone anyway.
 */
function shared(ctx: GpuContext): GpuContext {
  const view = { ...ctx, destroy: () => {} };
  owners.set(view, ctx);
  return view;
}

/** Builds run on the device itself, so the kept run's model is on the context later requests get. */
const owners = new WeakMap<GpuContext, GpuContext>();

/** A new model replaced this one mid-run: nothing trained on it is worth keeping. */
function stopIfReplaced(signal: AbortSignal): void {
  if (signal.aborted && signal.reason === NEW_MODEL_REASON) throw new CancelledError(`Training stopped: ${NEW_MODEL_REASON}.`);
}
