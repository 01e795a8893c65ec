// `sub4 tune <model> --data <file> --method peqa|lora|peqa+lora|lqlora`: fine-tune on
// the GPU with the engine's trainer (src/train/trainer.ts), print one line per
// step (JSON lines with --json) and the held-out perplexity before and after,
// and save the trained state (src/train/state.ts) to --out. The memory planner
// refuses a run the device cannot hold before anything is allocated; Ctrl-C
// stops between steps and still saves what was trained. Checkpoints go into
// --out (every --checkpoint-every steps, else about every minute, and at the
// end or Stop); --resume DIR continues from one, bit for bit as if never
// stopped; a lost GPU device is replaced and the run goes on
// (src/train/checkpoint/). Flags → settings: tune_settings.ts. With --distill the
// loss is KL to a live teacher beside the student (tune_distill.ts, src/train/distill/).
import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Command } from './args.ts';
import { UsageError } from './args.ts';
import { readTextFile } from './eval.ts';
import { openWithTokenizer } from './model_gpu.ts';
import { resumeSettings, tuneSettings, type TuneSettings } from './tune_settings.ts';
import type { GpuContext } from '../gpu/device.ts';
import { createNodeGpuContext, type NodeGpuContext } from '../gpu/node.ts';
import { fileSink } from '../io/sink.node.ts';
import { LlamaModel } from '../model/llama.ts';
import { planStep } from '../model/planner.ts';
import { CliProgress } from './progress.ts';
import { createTrainable, type Trainable } from '../model/trainable.ts';
import { loadWeights, type ModelWeights } from '../model/weights.ts';
import { buildDataset, promptIds, rowPlace } from '../train/data/index.ts';
import { runWarnings } from '../train/outcome.ts';
import type { LrSchedule } from '../train/schedule.ts';
import { encodeTrainedState, STATE_MANIFEST_FILE, STATE_TENSORS_FILE } from '../train/state.ts';
import { Trainer, type TrainEvent } from '../train/trainer.ts';
import { plannedExports } from '../export/plan.ts';
import { ExportError } from '../export/target.ts';
import { paramSpec } from '../arch/params.ts';
import { exportStateFolder } from './export.ts';
import type { QuantizeOptions } from '../train/quantize_model.ts';
import { applyLoraStart, planStorage, quantizeForTuning, reallmForTuning, trainConfig } from '../train/setup.ts';
import { ReallmError } from '../train/reallm.ts';
import { gpuAssigner } from '../gpu/kernels/vq_assign.ts';
import { CheckpointError } from '../train/checkpoint/errors.ts';
import type { Checkpoint } from '../train/checkpoint/format.ts';
import { checkIdentity, dataIdentity, modelIdentity, type RunIdentity } from '../train/checkpoint/identity.ts';
import { runWithRecovery, RunDeviceLostError, type RunParts } from '../train/checkpoint/recover.ts';
import { Checkpointer, readCheckpoint } from '../train/checkpoint/session.ts';
import { LATEST_CHECKPOINT } from '../train/checkpoint/store.ts';
import { folderStore } from '../train/checkpoint/store.node.ts';
import { klGuard, openTeacher, planDistillRun, prepareTeacherCache, printDistillEval, teacherModeFlags, type TeacherFile, type TeacherModeFlags } from './tune_distill.ts';
import { CachedTeacher } from '../train/distill/cache.ts';
import { LiveTeacher } from '../train/distill/teacher.ts';
import type { BudgetPlan } from '../train/budget/plan.ts';
import { withGgufLayers, type GgufLayer } from '../train/budget/overlay.ts';
import type { QTensor } from '../quant/qtensor.ts';
import type { LoadedModel } from '../io/loaded_model.ts';
import type { LoraStart } from '../train/setup.ts';
import { evaluateDistill, evaluateHeldOut, type DistillEval } from '../train/distill/eval.ts';
import { lqloraWeighting, prepareBudget, prepareReallmBudget, readImatrixFile } from './tune_base.ts';
import type { VqTensor } from '../quant/vq/vqtensor.ts';

// peqaRoles moved to src/train/setup.ts (the studio's worker builds runs the same way); re-exported for callers.
export { peqaRoles } from '../train/setup.ts';

export const tuneCommand: Command = {
  name: 'tune',
  summary: 'fine-tune a model on a data file (PEQA scales and/or LoRA) and save the trained state',
  usage: [
    'usage: sub4 tune <file.gguf | hf-folder> --data <file> [--method peqa|lora|peqa+lora] [options]',
    '  --data        training data: .txt, JSONL or a JSON array (instructions, chat, text rows)',
    '  --method      peqa (quantization scales; the default), lora, peqa+lora, or lqlora (LoRA started from',
    '                LQ-LoRA\'s quantize / low-rank split; needs --bits or --budget, and float weights), or reallm',
    '                (ReALLM: a learned vector-quantized codebook base + a low-rank part the LoRA factors start from;',
    '                --bits B: k = B·d-bit codes of d weights, d the largest of 8, 4, 2 with k ≤ 16 dividing every',
    '                layer; --vq-dim D --vq-bits K override; --imatrix F weights it; exports as aqlm (+ PEFT);',
    '                --train-codebooks also trains every table entry and row scale, the codes frozen: the VQ PEQA)',
    '  --bits        quantize the float weights to 2, 3 or 4 bits first (--group N or channel, default 64)',
    '  --budget      with --method lqlora or reallm: bits per linear weight (LoRA factors included, at 16 bits per value);',
    '                each matrix gets the quantization type that minimises the total LQ-LoRA error within it',
    '                (exact knapsack over GGUF types and sub4 grids; GGUF types only with --format gguf/gguf-lora)',
    '                and, without --rank, its LoRA rank among 0, 8, 16, 32, 64 (0: no LoRA; scale alpha / r).',
    '                The plan is printed before training. --imatrix F weights the errors and quantizers by an',
    '                importance matrix (or --weighting fisher by the Fisher estimate); --types T1,T2 restricts the',
    '                candidates (Q4_K, IQ4_XS, sub4-3bit-g64, ...)',
    '                With --method reallm the candidates are learned-codebook shapes per matrix (d = 2, 4, 8 dividing its',
    '                inputs; k = 1..4 bits per weight times d, k <= 16, 2^k < its vectors; errors estimated on a row sample)',
    '                × the ranks; --format aqlm holds the plan to one shape (AQLM has one per model)',
    '  --weighting   with --method lqlora --bits or --budget: data-aware split (LQ-LoRA §3.3), none (default), imatrix',
    '                (--imatrix F: per-column mean x²) or fisher (--calib TEXT [--calib-windows N, default 32]:',
    '                the diagonal empirical Fisher over N windows of --seq tokens); per-layer weighted errors are printed',
    '  --peqa        what PEQA trains: auto (the view that exports exactly to the layer\'s own type; the default),',
    '                scale, scale+offset (free per-group values), gguf-superblock (K-quant d and dmin)',
    '  --rank        LoRA rank (default 8); --alpha LoRA alpha (default = rank)',
    '  --dora        with --method lora, lqlora or reallm: DoRA (PEFT\'s): a magnitude per output row trained with',
    '                the LoRA factors, W\' = m ⊙ (W + s·BA) / ‖W + s·BA‖ (row norms, detached in the backward)',
    '  --steps       optimizer steps (default 100)',
    '  --lr          peak learning rate (default 1e-3), --warmup steps (default steps/10), cosine to lr/10',
    '  --batch       windows per micro-batch (default 4); --accum micro-batches per step (default 1)',
    '  --seq         tokens per window (default 128)',
    '  --eval-data   held-out file (default: the last 10 % of --data); --eval-every N steps (default 0: before/after)',
    '  --eval-windows  at most this many held-out windows are scored (default 32)',
    '  --seed        data order and LoRA init (default 0); the same seed repeats a run exactly',
    '  --plain-chat  chat data on a model without a chat template: render it as plain "User:/Assistant:" turns',
    '  --out         folder for the trained state (default ./sub4-run)',
    '  --format      also export into --out when training ends: gguf, gguf-lora, peft or gptq (as sub4 export;',
    '                a format the run cannot write exactly is refused before training starts)',
    '  --sample      a prompt continued greedily (16 tokens) before and after training (in the data\'s layout:',
    '                the Alpaca template for instructions, the chat template for chats)',
    '  --json        one JSON object per line: steps, evals, samples, then a summary',
    '  --checkpoint-every  write a checkpoint (checkpoint.safetensors in --out) every N steps; default: about',
    '                every minute of training; 0: only at the end or Stop. A new one replaces the old only when complete',
    '  --resume      continue the run whose checkpoint is in DIR (sub4 tune --resume DIR): settings come from the',
    '                checkpoint; give the model path, --data or --eval-data only if those files moved (they must be',
    '                the same files). The result equals the run never interrupted, byte for byte',
    '  --distill     distill from a teacher instead of the labels: KL(teacher ‖ student) on any text. The teacher is',
    '                an unquantized model with the same tokenizer (float HF folder, F16/BF16/F32 or Q8_0 GGUF), or',
    '                `self` (or the model\'s own path) with --bits on a float model: that float model, no second file.',
    '                Runs live beside the student; held-out KL, top-1 agreement and perplexities before and after',
    '  --topk        teacher tokens kept per position (default: the whole vocabulary, the exact KL); the rest',
    '                is one tail bucket of the teacher\'s remaining mass',
    '  --loss        with --distill: kl (the default) distills; label trains on the labels as without a teacher',
    '                and only scores against it (the baseline a distillation is compared with)',
    '  --temperature of teacher and student in the loss (default 1; the loss is scaled by T²)',
    '  --distill-loss  the divergence over the same top-K + tail buckets: kl (default, KL(teacher ‖ student)),',
    '                skl (KL both ways) or jsd (Jensen–Shannon)',
    '  --hidden-loss W  add W · mean |h_teacher − h_student| of the residual stream after every quarter of the',
    '                depth (DWQ; live teacher only, same hidden width)',
    '  --teacher-mode  live: the teacher runs beside the student; cached: it runs once alone over the train windows',
    '                into a cache of its top-K (read back each step); auto (default): cached when it does not fit',
    '  --cache-dir   where the teacher cache goes (default: --out/teacher-cache); reused when teacher, data and K match',
    '  --early-stop  stop when the held-out loss has not improved for N evaluations (needs --eval-every); the run',
    '                ends with the best evaluation\'s trained values (best.safetensors keeps that checkpoint)',
  ].join('\n'),
  options: {
    data: { type: 'string' }, method: { type: 'string' }, rank: { type: 'string' }, alpha: { type: 'string' }, steps: { type: 'string' },
    lr: { type: 'string' }, warmup: { type: 'string' }, batch: { type: 'string' }, accum: { type: 'string' }, seq: { type: 'string' },
    'eval-data': { type: 'string' }, 'eval-every': { type: 'string' }, 'eval-windows': { type: 'string' }, seed: { type: 'string' },
    out: { type: 'string' }, sample: { type: 'string' }, json: { type: 'boolean' }, bits: { type: 'string' }, budget: { type: 'string' }, imatrix: { type: 'string' }, types: { type: 'string' }, 'vq-dim': { type: 'string' }, 'vq-bits': { type: 'string' }, 'train-codebooks': { type: 'boolean' }, group: { type: 'string' }, format: { type: 'string' }, peqa: { type: 'string' },
    'plain-chat': { type: 'boolean' }, dora: { type: 'boolean' }, weighting: { type: 'string' }, calib: { type: 'string' }, 'calib-windows': { type: 'string' },
    'checkpoint-every': { type: 'string' }, resume: { type: 'string' }, 'early-stop': { type: 'string' },
    distill: { type: 'string' }, topk: { type: 'string' }, temperature: { type: 'string' }, loss: { type: 'string' }, 'distill-loss': { type: 'string' }, 'hidden-loss': { type: 'string' },
    'teacher-mode': { type: 'string' }, 'cache-dir': { type: 'string' },
  },
  async run(values, positionals) {
    const json = values.json === true;
    const log = (line: string) => console.error(`sub4 tune: ${line}`);
    let s: TuneSettings;
    let out: string;
    let resume: { state: Checkpoint; file: string } | null = null;
    if (typeof values.resume === 'string') {
      out = resolve(values.resume);
      const file = folderStore(out).describe(LATEST_CHECKPOINT);
      const state = await readCheckpoint(folderStore(out));
      if (!state) throw new CheckpointError(file, 'does not exist: no checkpoint to resume in this folder');
      s = resumeSettings(state.settings, values, positionals, file);
      resume = { state, file };
      log(`resuming from step ${state.progress.step} of ${s.steps} (${file})`);
    } else {
      s = tuneSettings(values, positionals, this.usage);
      out = resolve(typeof values.out === 'string' ? values.out : 'sub4-run');
      const old = folderStore(out).describe(LATEST_CHECKPOINT);
      if (existsSync(old)) log(`${old} holds another run's checkpoint; this new run replaces it (sub4 tune --resume ${out} continues that one instead)`);
    }
    try {
      return await runTune(s, out, json, resume, log, teacherModeFlags(values, out, (s.distill ?? null) !== null));
    } catch (e) {
      if (e instanceof RunDeviceLostError && e.savedTo) throw new RunDeviceLostError(`${e.message}: sub4 tune --resume ${out}`, e.step, e.savedTo, { cause: e });
      throw e;
    }
  },
};

async function runTune(s: TuneSettings, out: string, json: boolean, resume: { state: Checkpoint; file: string } | null, log: (line: string) => void, teacherMode: TeacherModeFlags): Promise<number> {
  // ReALLM's --bits is the learned codebook's (reallmForTuning), not a scalar grid.
  const quant: QuantizeOptions | null = s.bits === null || s.method === 'reallm' ? null : { bits: s.bits, groupSize: s.group };
  const text = await readTextFile(s.data);
  const evalText = s.evalData !== null ? await readTextFile(s.evalData) : null;
  const dataBytes = (await stat(s.data)).size;
  const m = await openWithTokenizer(s.model);
  let ctx: NodeGpuContext | undefined;
  // distill.teacher null: cached mode, scored against the teacher's held-out rows taken before the student loaded.
  type Parts = RunParts & { tr: Trainable; distill: { student: LlamaModel; teacher: LlamaModel | null } | null };
  let parts: Parts | undefined;
  let teacherFile: TeacherFile | null = null;
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  try {
    const file = basename(s.data);
    const plainChatFallback = s.plainChat === true; // absent in checkpoints written before the flag
    const ds = buildDataset(text, file, m.tokenizer, { seqLen: s.seqLen, seed: s.seed, evalFraction: evalText === null ? 0.1 : 0, plainChatFallback });
    const evalWins =
      evalText === null ? ds.eval : buildDataset(evalText, basename(s.evalData!), m.tokenizer, { seqLen: s.seqLen, seed: s.seed, evalFraction: 0, plainChatFallback }).train;
    for (const p of ds.problems.slice(0, 5)) log(`${file}: ${rowPlace(ds.parsed.source, p.line, p.index)}: ${p.message}`);
    log(`${ds.counts.trainWindows} train windows, ${evalWins.count} held-out windows of ${s.seqLen} tokens`);
    if (s.earlyStop > 0 && evalWins.count === 0) throw new UsageError('--early-stop needs held-out windows, and this data gives none (add --eval-data)');
    const identity: RunIdentity = {
      model: await modelIdentity(m.file),
      data: [await dataIdentity('train', file, text), ...(evalText === null ? [] : [await dataIdentity('eval', basename(s.evalData!), evalText)])],
    };
    if (resume) checkIdentity(resume.state.identity, identity, resume.file);
    const budget = s.budget ?? null;
    if (budget !== null && s.method !== 'reallm' && (s.format === 'gptq' || s.format === 'mlx')) throw new UsageError(`--budget puts layers in GGUF block types, which --format ${s.format} cannot hold; use gguf, gguf-lora or peft`);
    // A budget run's export is exact by construction: its GGUF layers are written as their blocks, LoRA trains alone.
    // ReALLM's (learned codebooks) has ReALLM's formats; --format aqlm holds its plan to one shape (prepareReallmBudget).
    if (s.format && (budget === null || s.method === 'reallm')) {
      const linearTypes = paramSpec(m.file.config).filter((p) => p.kind === 'linear' && p.layer !== null).map((p) => m.file.tensors.get(p.name)?.type ?? 'missing');
      const planned = plannedExports({ method: s.method, quant, peqa: s.peqa, dora: s.dora, base: { format: m.file.format, linearTypes } }).find((p) => p.format === s.format)!;
      if (!planned.exact) throw new ExportError(s.format, `${planned.why} (refused before training; see sub4 export --list after a run)`);
    }
    teacherFile = await openTeacher(s, m);
    const topK = teacherFile ? (s.topK ?? m.file.config.vocabSize) : 0;
    if (teacherFile && topK > m.file.config.vocabSize) throw new UsageError(`--topk ${topK} is more than the vocabulary of ${m.file.config.vocabSize} tokens`);
    if (teacherFile) log(`distilling from ${teacherFile.implicit ? `${m.file.name} itself (float weights)` : teacherFile.m.file.name}${s.distillLoss === 'label' ? ' (scoring only: --loss label trains on the labels)' : ''}, top-${topK} of ${m.file.config.vocabSize} tokens, temperature ${s.temperature ?? 1}`);
    const { cfg, notes } = trainConfig(m.file, s.method, s.rank, s.alpha, s.seed, quant !== null);
    if (s.peqa !== 'auto') cfg.peqa = s.peqa;
    if (s.dora) cfg.lora = { ...cfg.lora!, dora: true };
    if (s.trainCodebooks) cfg.codebooks = true;
    notes.forEach(log);

    const progress = CliProgress.for(json);
    ctx = await createNodeGpuContext();
    // Data-aware LQ-LoRA: the importance of every layer linear (imatrix or the Fisher estimate on the GPU).
    const lqWeights = s.weighting && s.weighting !== 'none' ? await lqloraWeighting(s, ctx, m, log, progress) : undefined;
    // LQ-LoRA under a bit budget: measure, solve and print the plan, then split every layer as planned
    // (its errors weighted by the Fisher estimate with --weighting fisher, else by --imatrix when given).
    let budgetRun: { plan: BudgetPlan; quantized: Map<string, QTensor>; ggufLayers: Map<string, GgufLayer>; vq?: Map<string, VqTensor>; factors: LoraStart } | null = null;
    if (budget !== null) {
      const fisher = s.weighting === 'fisher' ? lqWeights : undefined;
      const r = s.method === 'reallm' ? await prepareReallmBudget(s, budget, m.file, json, log, progress, gpuAssigner(ctx), fisher) : await prepareBudget(s, budget, m.file, json, log, progress, fisher);
      budgetRun = r;
      if (s.rankPerMatrix) cfg.lora = { ...cfg.lora!, ranks: r.loraRanks };
    }
    let base: LoadedModel = budgetRun ? withGgufLayers(m.file, budgetRun.ggufLayers, budgetRun.vq) : m.file;
    // A resumed budget run re-measures its plan (deterministic): it must be the plan the checkpoint trained on,
    // else the float model or the --imatrix file changed since (neither is re-planned silently).
    const budgetPlanKey = budgetRun && budgetRun.plan.rows.map((r) => `${r.name}:${r.type}:${r.rank}:${r.error}`).join('|');
    const savedPlanKey = resume ? (resume.state.settings as { budgetPlan?: unknown }).budgetPlan : undefined;
    if (resume && budgetPlanKey && savedPlanKey !== undefined && savedPlanKey !== budgetPlanKey)
      throw new CheckpointError(resume.file, 'was trained on another budget plan than the one measured now: the model, the --imatrix file or the --calib text changed since the run started');

    // ReALLM: every layer linear split into a learned codebook + a low-rank start of its LoRA factors (GPU assignment).
    let reallmRun: Awaited<ReturnType<typeof reallmForTuning>> | null = null;
    if (s.method === 'reallm' && budget === null) {
      const imatrix = s.imatrix ? await readImatrixFile(s.imatrix) : null;
      try {
        reallmRun = await reallmForTuning(m.file, { bits: s.bits, vqDim: s.vqDim, vqBits: s.vqBits, imatrix, assign: gpuAssigner(ctx) }, { rank: s.rank, alpha: s.alpha, seed: s.seed }, log, (d, t) => progress.update('quantize', d, t, 'layers'));
      } catch (e) {
        if (e instanceof ReallmError) throw new UsageError(e.message);
        throw e;
      }
      progress.end();
      base = withGgufLayers(m.file, new Map(), reallmRun.vq);
    }
    // In the data's own layout (Alpaca or chat template), as the studio's samples: what the run teaches the model to read.
    const samplePrompts = s.sample !== null ? [promptIds(m.tokenizer, s.sample, ds.parsed.kind, { plainChat: plainChatFallback, what: '--sample' })] : [];
    const run = { sampleLength: samplePrompts.length ? samplePrompts[0].length + 16 : 0 };
    const studentPlan = planStep({ config: m.file.config, storage: planStorage(base, quant), train: cfg, B: s.batch, T: s.seqLen, f16: ctx.features.f16, run });
    const { plan, mode: tMode, why: tWhy, teacherBytes } = planDistillRun(studentPlan, teacherFile, { B: s.batch, T: s.seqLen, topK, mode: teacherMode.mode, limits: ctx.limits, hidden: (s.hiddenLoss ?? 0) > 0 });
    if (tMode) log(`teacher ${tMode}: ${tWhy}`);
    log(`planned peak ${(plan.total / 2 ** 20).toFixed(1)} MiB${tMode ? ` (the teacher ${(teacherBytes / 2 ** 20).toFixed(1)} MiB of it)` : ''} on ${ctx.adapter.description || ctx.adapter.vendor}`);
    const cached = tMode === 'cached' && s.distillLoss !== 'label' ? await prepareTeacherCache(ctx, teacherFile!, ds.train, evalWins, { B: s.batch, topK, temperature: s.temperature ?? 1, dir: teacherMode.cacheDir, evalWindows: s.evalWindows }, log) : null;
    const teacherCache = cached?.reader ?? null;
    const prepared = quant
      ? await quantizeForTuning(m.file, s.method, quant, { rank: s.rank, alpha: s.alpha, seed: s.seed }, log, (d, t) => progress.update('quantize', d, t, 'layers'), lqWeights)
      : (reallmRun && { quantized: new Map<string, QTensor>(), factors: reallmRun.factors }) ?? budgetRun;
    progress.end();
    const schedule: LrSchedule = { kind: 'cosine', peak: s.lr, warmupSteps: s.warmup, totalSteps: s.steps, floor: s.lr / 10 };
    // The whole run on one device; called again on a new device after a loss (src/train/checkpoint/recover.ts).
    const tf = teacherFile;
    const build = async (c: GpuContext): Promise<Parts> => {
      let weights: ModelWeights | undefined;
      let tw: ModelWeights | undefined;
      let live: LiveTeacher | CachedTeacher | undefined;
      let tr: Trainable | undefined;
      try {
        weights = await loadWeights(c, base, { quantized: prepared?.quantized, onBytes: (d, t) => progress.update('load', d, t, 'bytes') });
        progress.end();
        const model = new LlamaModel(c, weights);
        // The teacher as loaded: the student's own file without --bits' quantization when implicit.
        // Cached: the teacher stays off the GPU (its rows come from the cache, its held-out side from cached.heldOut).
        if (tf && !teacherCache) tw = await loadWeights(c, tf.m.file);
        if (teacherCache) live = new CachedTeacher(c, teacherCache, s.temperature ?? 1, s.divergence ?? 'kl');
        const teacher = tw && new LlamaModel(c, tw);
        if (teacher) live = new LiveTeacher(teacher, s.batch, s.seqLen, { topK, temperature: s.temperature ?? 1, divergence: s.divergence ?? 'kl', hiddenLoss: s.hiddenLoss ?? 0 });
        tr = await createTrainable(model, base, cfg);
        if (prepared?.factors) applyLoraStart(tr, prepared.factors);
        const trainer = new Trainer(model, tr, { train: ds.train, eval: evalWins }, { batch: s.batch, accumulate: s.accumulate, steps: s.steps, schedule, evalEvery: s.evalEvery, evalWindows: s.evalWindows, samplePrompts, sampleTokens: 16, distill: s.distillLoss === 'label' ? undefined : live });
        const [w, t, l, x] = [weights, tr, live, tw];
        return { trainer, tr, distill: teacher ? { student: model, teacher } : cached?.heldOut ? { student: model, teacher: null } : null, destroy: () => [trainer, t, l, x, w].forEach((y) => y?.destroy()) };
      } catch (e) {
        tr?.destroy();
        live?.destroy();
        tw?.destroy();
        weights?.destroy();
        throw e;
      }
    };
    parts = await build(ctx);
    const scoreDistill = async (p: Parts, when: 'before' | 'after'): Promise<DistillEval | null> => {
      if (!p?.distill) return null;
      const { student, teacher } = p.distill;
      const e = teacher ? await evaluateDistill(student, p.tr, teacher, evalWins, s.batch, s.evalWindows) : await evaluateHeldOut(student, p.tr, cached!.heldOut!, evalWins, s.batch);
      if (e) printDistillEval(e, when, json);
      return e;
    };
    const distillBefore = resume ? null : await scoreDistill(parts, 'before');
    const checkpointer = new Checkpointer({ store: folderStore(out), settings: { ...s, ...(budgetPlanKey ? { budgetPlan: budgetPlanKey } : {}) }, identity, everySteps: s.checkpointEvery, earlyStop: s.earlyStop, log });
    process.once('SIGINT', onSigint);
    const print = (e: TrainEvent) => {
      // JSON step lines say it already; on a terminal, a line rewritten in place instead of one line per step.
      const perStep = s.batch * s.accumulate * s.seqLen;
      if (e.type === 'step' && !json && progress.mode === 'tty') return progress.update('train', e.step * perStep, s.steps * perStep, 'tokens');
      progress.end();
      if (e.type === 'sample') {
        const text = m.tokenizer.decode([...e.prompt, ...e.tokens], { skipSpecial: true });
        return console.log(json ? JSON.stringify({ ...e, text }) : `sample ${e.when}: ${JSON.stringify(text)}`);
      }
      if (json) return console.log(JSON.stringify(e));
      if (e.type === 'step')
        console.log(`step ${e.step}/${s.steps}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  ${e.tokensPerSecond.toFixed(0)} tok/s  ${(e.gpuBytes / 2 ** 20).toFixed(1)} MiB${e.event ? `  ${e.event.message}` : ''}`);
      else if (e.type === 'eval') console.log(`eval at step ${e.step}: loss ${e.evalLoss.toFixed(4)}  perplexity ${e.evalPpl.toFixed(3)} (${e.tokens} tokens)`);
    };
    const startCtx = ctx;
    const startParts = parts;
    // runWithRecovery owns the device and the run from here (it may replace them); it frees them on failure.
    ctx = undefined;
    parts = undefined;
    const r = await runWithRecovery(
      { build, newContext: () => createNodeGpuContext(), checkpointer, log },
      { ctx: startCtx, parts: startParts, resume: resume && { state: resume.state, file: resume.file } },
      print,
      stop.signal,
    );
    ctx = r.ctx as NodeGpuContext;
    const done = r.parts as Parts;
    parts = done;
    const sm = r.summary;
    progress.end();
    const distillAfter = sm.steps > 0 ? await scoreDistill(done, 'after') : null;
    // The guard is a distillation's: a label-loss baseline (--loss label) may well move away from the teacher.
    const guard = s.distillLoss === 'label' ? null : klGuard(distillBefore, distillAfter);

    await mkdir(out, { recursive: true });
    const state = await encodeTrainedState(parts.tr, {
      method: s.method,
      quant: quant && { bits: quant.bits, groupSize: quant.groupSize },
      budget: budgetRun?.plan ?? null,
      ...(reallmRun ? { reallm: { dim: reallmRun.codebook.dim, bits: reallmRun.codebook.bits, rank: s.rank, bitsPerWeight: reallmRun.bitsPerWeight } } : {}),
      base: { path: s.model, name: m.file.name },
      data: { file, bytes: dataBytes },
      seed: s.seed, steps: sm.steps, batch: s.batch, seqLen: s.seqLen, lr: s.lr,
      perplexity: { before: sm.before?.evalPpl ?? null, after: sm.after?.evalPpl ?? null },
      losses: { first: sm.losses[0] ?? null, last: sm.losses.at(-1) ?? null },
    }, prepared?.quantized, budgetRun?.ggufLayers, reallmRun?.vq ?? budgetRun?.vq);
    for (const [name, bytes] of [[STATE_TENSORS_FILE, state.safetensors], [STATE_MANIFEST_FILE, new TextEncoder().encode(state.json)]] as const) {
      const sink = await fileSink(join(out, name));
      try {
        await sink.write(bytes);
        await sink.commit();
      } catch (e) {
        await sink.abort();
        throw e;
      }
    }
    if (guard) log(`refused: ${guard}; the trained state is in ${out} for inspection${s.format ? `, and --format ${s.format} was not written` : ''}`);
    if (s.format && !guard) {
      const res = await exportStateFolder(out, s.format, out, undefined, log);
      log(`exported ${s.format}: ${res.files.join(', ')}`);
    }
    if (sm.failure) log(`step ${sm.steps + 1} failed (${sm.failure.name}: ${sm.failure.message}); the ${sm.steps} steps before it are saved`);
    const ev = (e: typeof sm.before) => e && { loss: e.evalLoss, ppl: e.evalPpl };
    runWarnings({ steps: sm.steps, lr: s.lr, evalBefore: ev(sm.before), evalAfter: ev(sm.after) }).forEach((w) => log(`warning: ${w}`));
    const summary = { type: 'summary', stop: sm.stop, steps: sm.steps, pplBefore: sm.before?.evalPpl ?? null, pplAfter: sm.after?.evalPpl ?? null, tokensPerSecond: sm.tokensPerSecond, peakGpuBytes: sm.peakGpuBytes, recoveries: r.recoveries, bestStep: checkpointer.guardState?.bestStep ?? null, out, distill: done.distill ? { before: distillBefore, after: distillAfter, refused: guard !== null } : undefined };
    if (json) console.log(JSON.stringify(summary));
    else console.log(`perplexity ${summary.pplBefore?.toFixed(3) ?? '–'} → ${summary.pplAfter?.toFixed(3) ?? '–'} after ${sm.steps} steps (${sm.stop}); saved to ${out}`);
    return sm.stop === 'bad-steps' || sm.stop === 'failed' || guard ? 1 : 0;
  } finally {
    process.off('SIGINT', onSigint);
    parts?.destroy();
    ctx?.destroy();
    await teacherFile?.close();
    await m.file.close();
  }
}
