// Runs that survive a kill: `sub4 tune` with checkpoints is SIGKILLed mid-run,
// resumed, SIGKILLed again in the middle of a checkpoint write (the test stall
// SUB4_TEST_CHECKPOINT_STALL holds the write open with the partial file on
// disk), resumed again, and its trained.safetensors must equal an
// uninterrupted run's byte for byte, for PEQA and for LoRA. A checkpoint is
// never continued on another model or other data (typed error naming the
// checkpoint); a full disk is a typed error that keeps the previous
// checkpoint; --resume refuses run flags; Ctrl-C leaves a checkpoint that resumes
// to the same result; --early-stop ends on the best state.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';
import { decodeCheckpoint } from '../../src/train/checkpoint/format.ts';
import { decodeTrainedState, STATE_MANIFEST_FILE, STATE_TENSORS_FILE } from '../../src/train/state.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const q4 = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
const q41 = fixture('models/stories260K-quantized/stories260K-q4_1.gguf');
const shakespeare = fixture('data/tinyshakespeare/input.txt');
const ready = () => q4 !== null && shakespeare !== null && gpuReady();

function setup(): { dir: string; data: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sub4-resume-'));
  const data = join(dir, 'shakespeare.txt');
  writeFileSync(data, readFileSync(shakespeare!, 'utf8').slice(0, 12000));
  return { dir, data };
}

const fail = (args: string[]) => run('node', [BIN, ...args], { timeout: 120_000 }).then(() => ({ code: 0, stderr: '' }), (e) => e as { code: number; stderr: string });

/** Run sub4 until `until` holds (checked on every output chunk and every 20 ms), then SIGKILL it. */
function runUntilKilled(args: string[], until: (stdout: string) => boolean, env: Record<string, string> = {}): Promise<{ stdout: string; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const p = spawn('node', [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    const check = () => {
      if (!killed && until(stdout)) {
        killed = true;
        p.kill('SIGKILL');
      }
    };
    const timer = setInterval(check, 20);
    p.stdout.on('data', (d) => {
      stdout += d;
      check();
    });
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearInterval(timer);
      if (killed && signal === 'SIGKILL') resolve({ stdout, killed });
      else reject(new Error(`sub4 ${args.join(' ')} ended (code ${code}, signal ${signal}) before it was killed:\n${stderr}`));
    });
  });
}

const stepsOf = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.type === 'step').map((l) => l.step as number);
const checkpointStep = async (dir: string) => (await decodeCheckpoint(readFileSync(join(dir, 'checkpoint.safetensors')), 'checkpoint')).progress.step;

describe('sub4 tune --resume', () => {
  for (const method of ['peqa', 'lora'] as const)
    it(`${method}: killed mid-run and mid-checkpoint-write, resumed twice, ends byte-identical to an uninterrupted run`, { timeout: 180_000 }, async () => {
      if (!ready()) return;
      const { dir, data } = setup();
      const args = (out: string) => ['tune', q4!, '--data', data, '--method', method, '--rank', '2', '--steps', '8', '--batch', '2', '--seq', '32', '--eval-windows', '2', '--eval-every', '3', '--checkpoint-every', '2', '--seed', '3', '--json', '--out', out];
      const whole = join(dir, 'whole');
      const { stdout: wholeOut } = await run('node', [BIN, ...args(whole)], { timeout: 120_000 });
      expect(stepsOf(wholeOut)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);

      // 1. SIGKILL once step 5 is printed: the checkpoint of step 4 is the last complete one.
      const cut = join(dir, 'cut');
      const first = await runUntilKilled(args(cut), (s) => stepsOf(s).includes(5));
      expect(first.killed).toBe(true);
      expect(existsSync(join(cut, STATE_TENSORS_FILE))).toBe(false);
      expect(await checkpointStep(cut)).toBe(4);

      // 2. Resume; SIGKILL while the step-6 checkpoint is half written (its .partial on disk).
      const partial = join(cut, 'checkpoint.safetensors.partial');
      const second = await runUntilKilled(['tune', '--resume', cut, '--json'], () => existsSync(partial), { SUB4_TEST_CHECKPOINT_STALL: '20000' });
      expect(stepsOf(second.stdout)).toEqual([5, 6]);
      expect(await checkpointStep(cut)).toBe(4); // the old checkpoint survived the torn write

      // 3. Resume to the end.
      const { stdout: lastOut } = await run('node', [BIN, 'tune', '--resume', cut, '--json'], { timeout: 120_000 });
      expect(stepsOf(lastOut)).toEqual([5, 6, 7, 8]);
      expect(Buffer.compare(readFileSync(join(cut, STATE_TENSORS_FILE)), readFileSync(join(whole, STATE_TENSORS_FILE)))).toBe(0);
      const a = await decodeTrainedState(readFileSync(join(whole, STATE_MANIFEST_FILE), 'utf8'), readFileSync(join(whole, STATE_TENSORS_FILE)));
      const b = await decodeTrainedState(readFileSync(join(cut, STATE_MANIFEST_FILE), 'utf8'), readFileSync(join(cut, STATE_TENSORS_FILE)));
      expect(b.manifest.perplexity).toEqual(a.manifest.perplexity);
      expect(b.manifest.losses).toEqual(a.manifest.losses);
      // The same losses step by step: the resumed steps are the uninterrupted run's.
      const loss = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'step').map((l) => l.loss);
      expect(loss(lastOut)).toEqual(loss(wholeOut).slice(4));
    });

  it('Ctrl-C writes a checkpoint at the step it stops on (no --checkpoint-every); resuming it ends equal to the whole run', { timeout: 120_000 }, async () => {
    if (!ready()) return;
    const { dir, data } = setup();
    const args = (out: string) => ['tune', q4!, '--data', data, '--method', 'peqa', '--steps', '6', '--batch', '2', '--seq', '32', '--eval-windows', '2', '--seed', '5', '--json', '--out', out];
    const whole = join(dir, 'whole');
    await run('node', [BIN, ...args(whole)], { timeout: 120_000 });
    const cut = join(dir, 'cut');
    const stopped = await new Promise<string>((resolve, reject) => {
      const p = spawn('node', [BIN, ...args(cut)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let sent = false;
      p.stdout.on('data', (d) => {
        out += d;
        if (!sent && stepsOf(out).includes(2)) {
          sent = true;
          p.kill('SIGINT');
        }
      });
      p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}`))));
    });
    const summary = JSON.parse(stopped.trim().split('\n').at(-1)!);
    expect(summary.stop).toBe('stopped');
    expect(summary.steps).toBeLessThan(6);
    expect(await checkpointStep(cut)).toBe(summary.steps);
    const { stdout } = await run('node', [BIN, 'tune', '--resume', cut, '--json'], { timeout: 120_000 });
    expect(stepsOf(stdout)[0]).toBe(summary.steps + 1);
    expect(Buffer.compare(readFileSync(join(cut, STATE_TENSORS_FILE)), readFileSync(join(whole, STATE_TENSORS_FILE)))).toBe(0);
  });

  it('--early-stop: stops once held-out loss stalls and ends on the best evaluation\'s state', { timeout: 120_000 }, async () => {
    if (!ready()) return;
    const { dir, data } = setup();
    const out = join(dir, 'early');
    // lr 0.05 overshoots after a few steps, so held-out loss stops improving (the run is deterministic).
    const args = ['tune', q4!, '--data', data, '--method', 'lora', '--rank', '2', '--steps', '12', '--batch', '2', '--seq', '32', '--eval-windows', '2', '--eval-every', '1', '--early-stop', '2', '--lr', '0.05', '--warmup', '0', '--json', '--out', out];
    const { stdout } = await run('node', [BIN, ...args], { timeout: 120_000 });
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    const summary = lines.at(-1);
    expect(summary).toMatchObject({ type: 'summary', stop: 'early-stop' });
    const evals = lines.filter((l) => l.type === 'eval');
    const during = evals.slice(0, -1); // the last one scores the final state
    const best = during.reduce((a, b) => (b.evalLoss < a.evalLoss ? b : a));
    expect(summary.bestStep).toBe(best.step);
    expect(summary.steps).toBe(best.step + 2); // two evaluations without improvement, then stop
    expect(during.filter((e) => e.step > best.step).every((e) => e.evalLoss >= best.evalLoss)).toBe(true);
    // The result is the best step's state: its held-out loss, and the best checkpoint's values.
    expect(evals.at(-1).evalLoss).toBe(best.evalLoss);
    expect(summary.pplAfter).toBe(best.evalPpl);
    const { tensors } = await decodeTrainedState(readFileSync(join(out, STATE_MANIFEST_FILE), 'utf8'), readFileSync(join(out, STATE_TENSORS_FILE)));
    const bestCk = await decodeCheckpoint(readFileSync(join(out, 'best.safetensors')), 'best');
    expect(bestCk.progress.step).toBe(best.step);
    for (const [name, v] of tensors) expect(v, name).toEqual(bestCk.tensors.get(`param/${name}`));
    expect((await checkpointStep(out))).toBe(summary.steps); // the latest checkpoint is the last step's

    // Killed after step 3 and resumed: the guard's count and best values travel in the checkpoint.
    const cut = join(dir, 'early-cut');
    const cutArgs = args.map((a) => (a === out ? cut : a));
    await runUntilKilled([...cutArgs, '--checkpoint-every', '1'], (s) => stepsOf(s).includes(3));
    const resumed = await run('node', [BIN, 'tune', '--resume', cut, '--json'], { timeout: 120_000 });
    expect(JSON.parse(resumed.stdout.trim().split('\n').at(-1)!)).toMatchObject({ stop: 'early-stop', steps: summary.steps, bestStep: summary.bestStep, pplAfter: summary.pplAfter });
    expect(Buffer.compare(readFileSync(join(cut, STATE_TENSORS_FILE)), readFileSync(join(out, STATE_TENSORS_FILE)))).toBe(0);

    const r = await fail(['tune', q4!, '--data', data, '--early-stop', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--early-stop needs --eval-every/);
  });

  it('a checkpoint is not continued on other data or another model; a full disk keeps the old one; --resume takes no run flags', { timeout: 180_000 }, async () => {
    if (!ready() || !q41) return;
    const { dir, data } = setup();
    const out = join(dir, 'run');
    await run('node', [BIN, 'tune', q4!, '--data', data, '--method', 'peqa', '--steps', '2', '--batch', '1', '--seq', '16', '--eval-windows', '1', '--checkpoint-every', '1', '--out', out], { timeout: 120_000 });
    const ckpt = join(out, 'checkpoint.safetensors');
    expect(existsSync(ckpt)).toBe(true);

    const other = join(dir, 'other.txt');
    writeFileSync(other, readFileSync(data, 'utf8').replace('First', 'Fifth'));
    let r = await fail(['tune', '--resume', out, '--data', other]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`CheckpointMismatchError: ${ckpt}: was made with the train data shakespeare.txt`);
    expect(r.stderr).toMatch(/other\.txt \(12000 bytes, sha256 [0-9a-f]{12}…\) is different data/);

    r = await fail(['tune', q41!, '--resume', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`CheckpointMismatchError: ${ckpt}: was made with the model stories260K-q4_0.gguf`);
    expect(r.stderr).toContain('stories260K-q4_1.gguf');

    r = await fail(['tune', '--resume', out, '--steps', '9']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--resume continues a run with its own settings; drop --steps/);

    // A full disk (the partial file is /dev/full): a typed error, and the previous checkpoint survives.
    const before = readFileSync(ckpt);
    symlinkSync('/dev/full', `${ckpt}.partial`);
    r = await fail(['tune', '--resume', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`CheckpointWriteError: ${ckpt}: the checkpoint could not be written: the disk is full (ENOSPC); the previous checkpoint is kept`);
    expect(Buffer.compare(readFileSync(ckpt), before)).toBe(0);
    expect(existsSync(`${ckpt}.partial`)).toBe(false);
    expect(await checkpointStep(out)).toBe(2);

    r = await fail(['tune', '--resume', join(dir, 'nothing-here')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CheckpointError: .*nothing-here\/checkpoint\.safetensors: does not exist/);
  });
});
