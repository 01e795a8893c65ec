// `sub4 tune <model> --data <file> --method peqa|lora|peqa+lora|lqlora`: fine-tune on
// the GPU with the engine's trainer (src/train/trainer.ts), print one line per
// step (JSON lines with --json) and the held-out perplexity before and after,
// and save the trained state (src/train/state.ts) to --out. The memory planner
// refuses a run the device cannot hold before anything is allocated; Ctrl-C
// stops between steps and still saves what was trained.
import { mkdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Command } from './args.ts';
import { UsageError } from './args.ts';
import { readTextFile } from './eval.ts';
import { intFlag, numFlag, openWithTokenizer } from './model_gpu.ts';
import { createNodeGpuContext, type NodeGpuContext } from '../gpu/node.ts';
import { fileSink } from '../io/sink.node.ts';
import { LlamaModel } from '../model/llama.ts';
import { checkPlanFits, planStep } from '../model/planner.ts';
import { createTrainable, type PeqaKind, type Trainable } from '../model/trainable.ts';
import { loadWeights, type ModelWeights } from '../model/weights.ts';
import { buildDataset } from '../train/data/index.ts';
import { runWarnings } from '../train/outcome.ts';
import type { LrSchedule } from '../train/schedule.ts';
import { encodeTrainedState, STATE_MANIFEST_FILE, STATE_TENSORS_FILE } from '../train/state.ts';
import { Trainer, type TrainEvent } from '../train/trainer.ts';
import { EXPORT_FORMATS, type ExportFormat } from '../export/export.ts';
import { plannedExports } from '../export/plan.ts';
import { ExportError } from '../export/target.ts';
import { paramSpec } from '../arch/params.ts';
import { exportStateFolder } from './export.ts';
import type { QuantizeOptions } from '../train/quantize_model.ts';
import { applyLoraStart, planStorage, quantizeForTuning, trainConfig, TUNE_METHODS as METHODS, type TuneMethod as Method } from '../train/setup.ts';

const PEQA_KINDS: readonly PeqaKind[] = ['auto', 'scale', 'scale+offset', 'gguf-superblock'];

// peqaRoles moved to src/train/setup.ts (the studio's worker builds runs the same way); re-exported for callers.
export { peqaRoles } from '../train/setup.ts';

export const tuneCommand: Command = {
  name: 'tune',
  summary: 'fine-tune a model on a data file (PEQA scales and/or LoRA) and save the trained state',
  usage: [
    'usage: sub4 tune <file.gguf | hf-folder> --data <file> [--method peqa|lora|peqa+lora] [options]',
    '  --data        training data: .txt, JSONL or a JSON array (instructions, chat, text rows)',
    '  --method      peqa (quantization scales; the default), lora, peqa+lora, or lqlora (LoRA started from',
    '                LQ-LoRA\'s quantize / low-rank split; needs --bits and float weights)',
    '  --bits        quantize the float weights to 2, 3 or 4 bits first (--group N or channel, default 64)',
    '  --peqa        what PEQA trains: auto (the view that exports exactly to the layer\'s own type; the default),',
    '                scale, scale+offset (free per-group values), gguf-superblock (K-quant d and dmin)',
    '  --rank        LoRA rank (default 8); --alpha LoRA alpha (default = rank)',
    '  --steps       optimizer steps (default 100)',
    '  --lr          peak learning rate (default 1e-3), --warmup steps (default steps/10), cosine to lr/10',
    '  --batch       windows per micro-batch (default 4); --accum micro-batches per step (default 1)',
    '  --seq         tokens per window (default 128)',
    '  --eval-data   held-out file (default: the last 10 % of --data); --eval-every N steps (default 0: before/after)',
    '  --eval-windows  at most this many held-out windows are scored (default 32)',
    '  --seed        data order and LoRA init (default 0); the same seed repeats a run exactly',
    '  --out         folder for the trained state (default ./sub4-run)',
    '  --format      also export into --out when training ends: gguf, gguf-lora, peft, gptq or mlx (as sub4 export;',
    '                a format the run cannot write exactly is refused before training starts)',
    '  --sample      a prompt continued greedily (16 tokens) before and after training',
    '  --json        one JSON object per line: steps, evals, samples, then a summary',
  ].join('\n'),
  options: {
    data: { type: 'string' }, method: { type: 'string' }, rank: { type: 'string' }, alpha: { type: 'string' }, steps: { type: 'string' },
    lr: { type: 'string' }, warmup: { type: 'string' }, batch: { type: 'string' }, accum: { type: 'string' }, seq: { type: 'string' },
    'eval-data': { type: 'string' }, 'eval-every': { type: 'string' }, 'eval-windows': { type: 'string' }, seed: { type: 'string' },
    out: { type: 'string' }, sample: { type: 'string' }, json: { type: 'boolean' }, bits: { type: 'string' }, group: { type: 'string' }, format: { type: 'string' }, peqa: { type: 'string' },
  },
  async run(values, positionals) {
    if (positionals.length !== 1) throw new UsageError(`tune takes one model path\n\n${this.usage}`);
    if (typeof values.data !== 'string') throw new UsageError(`tune needs --data <file>\n\n${this.usage}`);
    const method = (values.method ?? 'peqa') as Method;
    if (!METHODS.includes(method)) throw new UsageError(`--method must be ${METHODS.join(', ')}, got ${JSON.stringify(values.method)}`);
    const rank = intFlag(values.rank, 'rank', 8);
    const alpha = numFlag(values.alpha, 'alpha', rank, 1e-6, 1e6);
    const steps = intFlag(values.steps, 'steps', 100, 0);
    const lr = numFlag(values.lr, 'lr', 1e-3, 0, 10);
    const warmup = intFlag(values.warmup, 'warmup', Math.floor(steps / 10), 0);
    if (warmup > steps) throw new UsageError(`--warmup ${warmup} is more than --steps ${steps}`);
    const batch = intFlag(values.batch, 'batch', 4);
    const accumulate = intFlag(values.accum, 'accum', 1);
    const seqLen = intFlag(values.seq, 'seq', 128, 2);
    const evalEvery = intFlag(values['eval-every'], 'eval-every', 0, 0);
    const evalWindows = intFlag(values['eval-windows'], 'eval-windows', 32, 0);
    const seed = intFlag(values.seed, 'seed', 0, 0);
    const bits = values.bits === undefined ? null : intFlag(values.bits, 'bits', 4, 2);
    if (bits !== null && ![2, 3, 4].includes(bits)) throw new UsageError(`--bits must be 2, 3 or 4, got ${bits}`);
    if (method === 'lqlora' && bits === null) throw new UsageError('--method lqlora needs --bits (it builds the quantized base itself)');
    const group = values.group === 'channel' ? 'channel' : intFlag(values.group, 'group', 64, 1);
    const quant: QuantizeOptions | null = bits === null ? null : { bits: bits as 2 | 3 | 4, groupSize: group };
    const out = resolve(typeof values.out === 'string' ? values.out : 'sub4-run');
    const format = values.format as ExportFormat | undefined;
    const peqaKind = (values.peqa ?? 'auto') as PeqaKind;
    if (!PEQA_KINDS.includes(peqaKind)) throw new UsageError(`--peqa must be ${PEQA_KINDS.join(', ')}, got ${JSON.stringify(values.peqa)}`);
    if (format !== undefined && !EXPORT_FORMATS.includes(format)) throw new UsageError(`--format must be ${EXPORT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
    const json = values.json === true;
    const log = (line: string) => console.error(`sub4 tune: ${line}`);

    const text = await readTextFile(values.data);
    const evalText = typeof values['eval-data'] === 'string' ? await readTextFile(values['eval-data']) : null;
    const dataBytes = (await stat(values.data)).size;
    const m = await openWithTokenizer(positionals[0]);
    let ctx: NodeGpuContext | undefined;
    let weights: ModelWeights | undefined;
    let tr: Trainable | undefined;
    let trainer: Trainer | undefined;
    const stop = new AbortController();
    const onSigint = () => stop.abort();
    try {
      const file = basename(values.data);
      const ds = buildDataset(text, file, m.tokenizer, { seqLen, seed, evalFraction: evalText === null ? 0.1 : 0 });
      const evalWins = evalText === null ? ds.eval : buildDataset(evalText, basename(values['eval-data'] as string), m.tokenizer, { seqLen, seed, evalFraction: 0 }).train;
      for (const p of ds.problems.slice(0, 5)) log(`${file}:${p.line}: ${p.message}`);
      log(`${ds.counts.trainWindows} train windows, ${evalWins.count} held-out windows of ${seqLen} tokens`);
      if (format) {
        const linearTypes = paramSpec(m.file.config).filter((p) => p.kind === 'linear' && p.layer !== null).map((p) => m.file.tensors.get(p.name)?.type ?? 'missing');
        const planned = plannedExports({ method, quant, peqa: peqaKind, base: { format: m.file.format, linearTypes } }).find((p) => p.format === format)!;
        if (!planned.exact) throw new ExportError(format, `${planned.why} (refused before training; see sub4 export --list after a run)`);
      }
      const { cfg, notes } = trainConfig(m.file, method, rank, alpha, seed, quant !== null);
      if (peqaKind !== 'auto') cfg.peqa = peqaKind;
      notes.forEach(log);

      ctx = await createNodeGpuContext();
      const plan = checkPlanFits(planStep({ config: m.file.config, storage: planStorage(m.file, quant), train: cfg, B: batch, T: seqLen }), ctx.limits);
      log(`planned peak ${(plan.total / 2 ** 20).toFixed(1)} MiB on ${ctx.adapter.description || ctx.adapter.vendor}`);
      const prepared = quant ? await quantizeForTuning(m.file, method, quant, { rank, alpha, seed }, log) : null;
      weights = await loadWeights(ctx, m.file, { quantized: prepared?.quantized });
      const model = new LlamaModel(ctx, weights);
      tr = await createTrainable(model, m.file, cfg);
      if (prepared?.factors) applyLoraStart(tr, prepared.factors);
      const schedule: LrSchedule = { kind: 'cosine', peak: lr, warmupSteps: warmup, totalSteps: steps, floor: lr / 10 };
      const samplePrompts = typeof values.sample === 'string' ? [m.tokenizer.encode(values.sample, { addBos: true })] : [];
      trainer = new Trainer(model, tr, { train: ds.train, eval: evalWins }, { batch, accumulate, steps, schedule, evalEvery, evalWindows, samplePrompts, sampleTokens: 16 });
      process.once('SIGINT', onSigint);
      const print = (e: TrainEvent) => {
        if (e.type === 'sample') {
          const text = m.tokenizer.decode([...e.prompt, ...e.tokens], { skipSpecial: true });
          return console.log(json ? JSON.stringify({ ...e, text }) : `sample ${e.when}: ${JSON.stringify(text)}`);
        }
        if (json) return console.log(JSON.stringify(e));
        if (e.type === 'step')
          console.log(`step ${e.step}/${steps}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  ${e.tokensPerSecond.toFixed(0)} tok/s  ${(e.gpuBytes / 2 ** 20).toFixed(1)} MiB${e.event ? `  ${e.event.message}` : ''}`);
        else if (e.type === 'eval') console.log(`eval at step ${e.step}: loss ${e.evalLoss.toFixed(4)}  perplexity ${e.evalPpl.toFixed(3)} (${e.tokens} tokens)`);
      };
      const s = await trainer.run(print, stop.signal);

      await mkdir(out, { recursive: true });
      const state = await encodeTrainedState(tr, {
        method,
        quant: quant && { bits: quant.bits, groupSize: quant.groupSize },
        base: { path: resolve(positionals[0]), name: m.file.name },
        data: { file, bytes: dataBytes },
        seed, steps: s.steps, batch, seqLen, lr,
        perplexity: { before: s.before?.evalPpl ?? null, after: s.after?.evalPpl ?? null },
        losses: { first: s.losses[0] ?? null, last: s.losses.at(-1) ?? null },
      }, prepared?.quantized);
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
      if (format) {
        const res = await exportStateFolder(out, format, out, undefined, log);
        log(`exported ${format}: ${res.files.join(', ')}`);
      }
      if (s.failure) log(`step ${s.steps + 1} failed (${s.failure.name}: ${s.failure.message}); the ${s.steps} steps before it are saved`);
      const ev = (e: typeof s.before) => e && { loss: e.evalLoss, ppl: e.evalPpl };
      runWarnings({ steps: s.steps, lr, evalBefore: ev(s.before), evalAfter: ev(s.after) }).forEach((w) => log(`warning: ${w}`));
      const summary = { type: 'summary', stop: s.stop, steps: s.steps, pplBefore: s.before?.evalPpl ?? null, pplAfter: s.after?.evalPpl ?? null, tokensPerSecond: s.tokensPerSecond, peakGpuBytes: s.peakGpuBytes, out };
      if (json) console.log(JSON.stringify(summary));
      else console.log(`perplexity ${summary.pplBefore?.toFixed(3) ?? '–'} → ${summary.pplAfter?.toFixed(3) ?? '–'} after ${s.steps} steps (${s.stop}); saved to ${out}`);
      return s.stop === 'bad-steps' || s.stop === 'failed' ? 1 : 0;
    } finally {
      process.off('SIGINT', onSigint);
      trainer?.destroy();
      tr?.destroy();
      weights?.destroy();
      ctx?.destroy();
      await m.file.close();
    }
  },
};
