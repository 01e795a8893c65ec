// `sub4 tune --distill` end to end through the bin entry:
//  - stories260K Q4_0 distilled from its F32 GGUF with PEQA: held-out KL falls,
//    `--format gguf` is written, llama.cpp loads it and its held-out perplexity
//    equals `sub4 eval` of the tuned state within 0.5 %; `sub4 eval --teacher`
//    scores the same windows against the teacher;
//  - cached mode (stories260K f32 folder, --bits 2, --distill self, jsd): the
//    held-out KL, top-1 agreement and guard are there as in live mode, and its
//    held-out KL before training equals a live run's (K = V: the exact KL; that
//    live run trains a step with --hidden-loss);
//  - teachers refused before any GPU work: a quantized teacher (naming both
//    models), `--distill self` without --bits, --topk without --distill;
//    --distill-loss without --distill, --hidden-loss in cached mode.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';
import { refLogits, refModel, refTokenize } from '../helpers/llamacpp.ts';
import { perplexity, pplWindows } from '../helpers/perplexity.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const sub4 = (args: string[]) => run('node', [BIN, ...args], { timeout: 400_000 });
const fails = (args: string[]) => sub4(args).then(() => null, (err) => err as { code: number; stderr: string });
const shakespeare = fixture('data/tinyshakespeare/input.txt');
const student = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
const teacher = fixture('models/stories260K.gguf');
const floatFolder = fixture('models/stories260K/config.json')?.replace(/\/config\.json$/, '');
const CTX = 128;

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'sub4-distill-'));
  const text = readFileSync(shakespeare!, 'utf8');
  const cut = Math.floor(text.length * 0.9);
  writeFileSync(join(dir, 'train.txt'), text.slice(0, 16000));
  writeFileSync(join(dir, 'heldout.txt'), text.slice(cut, cut + 20000));
  return { dir, train: join(dir, 'train.txt'), heldout: join(dir, 'heldout.txt') };
}

describe.skipIf(!shakespeare || !student || !teacher)('sub4 tune --distill', () => {
  it('Q4_0 distilled from F32: held-out KL falls, the GGUF export loads in llama.cpp and scores as sub4 eval', { timeout: 900_000 }, async () => {
    if (!gpuReady()) return;
    const { dir, train, heldout } = setup();
    const state = join(dir, 'state');
    const r = await sub4(['tune', student!, '--distill', teacher!, '--topk', '64', '--data', train, '--eval-data', heldout, '--steps', '12', '--batch', '2', '--seq', '64', '--lr', '1e-4', '--eval-windows', '4', '--format', 'gguf', '--json', '--out', state]);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const ev = (when: string) => lines.find((l) => l.type === 'distill-eval' && l.when === when);
    console.log(`distill: held-out KL ${ev('before').kl.toFixed(4)} → ${ev('after').kl.toFixed(4)}, top-1 ${ev('before').top1.toFixed(3)} → ${ev('after').top1.toFixed(3)}`);
    expect(ev('after').kl).toBeLessThan(ev('before').kl);
    expect(lines.at(-1).distill.refused).toBe(false);
    const gguf = readdirSync(state).filter((n) => n.endsWith('.gguf'));
    expect(gguf).toHaveLength(1); // named after the model, method and bits

    const text = readFileSync(heldout, 'utf8');
    const evalLines = (await sub4(['eval', state, '--data', heldout, '--ctx', `${CTX}`, '--windows', '4', '--teacher', teacher!, '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    const tuned = evalLines.find((l) => l.type !== 'progress' && typeof l.ppl === 'number').ppl as number; // progress lines come first
    // eval --teacher scores the same windows: its student perplexity is eval's own, its KL that of a model that is not its teacher.
    const vsTeacher = evalLines.find((l) => l.type === 'teacher');
    expect(Math.abs(vsTeacher.pplStudent / tuned - 1)).toBeLessThanOrEqual(1e-6);
    expect(vsTeacher.kl).toBeGreaterThan(0.01);
    expect(vsTeacher.top1).toBeLessThan(1);
    const ref = await refModel(join(state, gguf[0]));
    if (!ref) throw new Error('node-llama-cpp is not available');
    const exported = (await perplexity(pplWindows(refTokenize(ref, text), ref.tokens.bos as number, CTX, 4), (t) => refLogits(ref, t))).ppl;
    const diff = exported / tuned - 1;
    console.log(`distilled Q4_0: sub4 eval ${tuned.toFixed(4)}, llama.cpp on the export ${exported.toFixed(4)} (${(100 * diff).toFixed(3)} %)`);
    expect(Math.abs(diff)).toBeLessThanOrEqual(0.005);
  });

  it('refuses a quantized teacher (naming both), --distill self without --bits, and --topk without --distill', { timeout: 120_000 }, async () => {
    const { dir, train } = setup();
    const q = await fails(['tune', student!, '--distill', student!.replace('q4_0', 'q4_1'), '--data', train, '--out', join(dir, 'a')]);
    expect(q?.code).toBe(1);
    expect(q?.stderr).toMatch(/teacher stories260K-q4_1\.gguf cannot distill into student stories260K-q4_0\.gguf: it is quantized \(.* is Q4_1\)/);
    const self = await fails(['tune', student!, '--distill', 'self', '--data', train, '--out', join(dir, 'b')]);
    expect(self?.code).toBe(2);
    expect(self?.stderr).toMatch(/--distill self uses the student's own float weights .* needs --bits/);
    const topk = await fails(['tune', student!, '--topk', '64', '--data', train, '--out', join(dir, 'c')]);
    expect(topk?.code).toBe(2);
    expect(topk?.stderr).toMatch(/--topk and --temperature belong to --distill/);
  });

  it.skipIf(!floatFolder)('cached mode scores the held-out KL, top-1 and guard as live mode does (jsd, --bits 2, --distill self)', { timeout: 300_000 }, async () => {
    if (!gpuReady()) return;
    const { dir, heldout } = setup();
    const train = join(dir, 'train-short.txt'); // a short cache build
    writeFileSync(train, readFileSync(shakespeare!, 'utf8').slice(0, 4000));
    const common = [floatFolder!, '--bits', '2', '--group', '32', '--distill', 'self', '--data', train, '--eval-data', heldout, '--batch', '2', '--seq', '32', '--eval-windows', '4', '--lr', '1e-4', '--json'];
    const parse = (out: string) => out.trim().split('\n').map((l) => JSON.parse(l));
    const cached = parse((await sub4(['tune', ...common, '--teacher-mode', 'cached', '--distill-loss', 'jsd', '--steps', '3', '--out', join(dir, 'cached')])).stdout);
    // The live run also takes DWQ's hidden-state term (its held-out figures before training do not depend on it).
    const live = parse((await sub4(['tune', ...common, '--teacher-mode', 'live', '--hidden-loss', '0.5', '--steps', '1', '--out', join(dir, 'live')])).stdout);
    const ev = (lines: { type: string; when?: string; kl: number; top1: number; tokens: number }[], when: string) => lines.find((l) => l.type === 'distill-eval' && l.when === when)!;
    const [before, after, liveBefore] = [ev(cached, 'before'), ev(cached, 'after'), ev(live, 'before')];
    console.log(`cached: held-out KL ${before.kl.toFixed(6)} → ${after.kl.toFixed(6)}, top-1 ${before.top1.toFixed(4)} → ${after.top1.toFixed(4)}; live before ${liveBefore.kl.toFixed(6)} (${before.tokens} tokens)`);
    expect(before.tokens).toBe(liveBefore.tokens);
    expect(Math.abs(before.kl / liveBefore.kl - 1)).toBeLessThanOrEqual(1e-4);
    expect(before.top1).toBe(liveBefore.top1);
    expect(before.kl).toBeGreaterThan(0.01); // 2 bits: far from the teacher
    const summary = cached.at(-1);
    expect(summary.distill.refused).toBe(after.kl > before.kl);
    const step = live.find((l) => l.type === 'step') as unknown as { loss: number };
    expect(Number.isFinite(step.loss) && step.loss > 0).toBe(true);
  });

  it('refuses --distill-loss without --distill, an unknown divergence, and --hidden-loss in cached mode (naming why)', { timeout: 120_000 }, async () => {
    const { dir, train } = setup();
    const a = await fails(['tune', student!, '--distill-loss', 'jsd', '--data', train, '--out', join(dir, 'a')]);
    expect(a?.code).toBe(2);
    expect(a?.stderr).toMatch(/--distill-loss .* needs --distill/);
    const b = await fails(['tune', student!, '--distill', teacher!, '--distill-loss', 'tv', '--data', train, '--out', join(dir, 'b')]);
    expect(b?.code).toBe(2);
    expect(b?.stderr).toMatch(/--distill-loss must be kl, skl, jsd/);
    const c = await fails(['tune', student!, '--distill', teacher!, '--hidden-loss', '0.5', '--teacher-mode', 'cached', '--data', train, '--out', join(dir, 'c')]);
    expect(c?.code).toBe(2);
    expect(c?.stderr).toMatch(/--hidden-loss .* live teacher/);
  });
});
