// `sub4 generate` end to end: greedy decoding of "Once upon a time" on
// stories260K gives llama.cpp's first 40 greedy tokens (node-llama-cpp,
// temperature 0; token ids compared), the tokens stream out as they are made
// (JSON lines arriving over time, not at exit), text mode prints the prompt and
// the decoded continuation, and bad flags are usage errors.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';
import { refModel, refTokenize } from '../helpers/llamacpp.ts';
import { openModelPath } from '../../src/io/model.node.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const PROMPT = 'Once upon a time';


/** Run the CLI, recording when each stdout chunk arrived. */
function runTimed(args: string[]): Promise<{ code: number | null; chunks: { ms: number; text: string }[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('node', [BIN, ...args]);
    const chunks: { ms: number; text: string }[] = [];
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => chunks.push({ ms: performance.now() - t0, text: d.toString() }));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, chunks, stderr }));
  });
}

describe('sub4 generate', () => {
  it('greedy: the same first 40 tokens as llama.cpp, streamed', { timeout: 120_000 }, async () => {
    const model = fixture('models/stories260K.gguf');
    if (!model || !gpuReady()) return;
    const r = await runTimed(['generate', model, '--prompt', PROMPT, '--max-tokens', '40', '--temperature', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.chunks.map((c) => c.text).join('').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type !== 'progress');
    const summary = lines.pop();
    expect(lines.map((l) => l.token)).toEqual(summary.tokens);
    expect(summary.tokens).toHaveLength(40);
    // Streaming: the first token line arrived well before the summary.
    const firstAt = r.chunks.find((c) => c.text.includes('"token"'))!.ms;
    const lastAt = r.chunks.at(-1)!.ms;
    expect(r.chunks.length).toBeGreaterThan(2);
    expect(lastAt - firstAt).toBeGreaterThan(100);

    const ref = await refModel(model);
    if (!ref) return;
    const ctx = await ref.createContext({ contextSize: 128, sequences: 1, threads: 2 });
    const want: number[] = [];
    try {
      for await (const t of ctx.getSequence().evaluate(refTokenize(ref, PROMPT, { addBos: true }) as never, { temperature: 0 })) {
        if (t === ref.tokens.eos) break;
        want.push(t as number);
        if (want.length === 40) break;
      }
    } finally {
      await ctx.dispose();
    }
    console.log(`sub4 greedy: ${JSON.stringify(summary.tokens)}\nllama.cpp:   ${JSON.stringify(want)}`);
    expect(summary.tokens).toEqual(want);
  });

  it('text mode prints the prompt and its decoded continuation', { timeout: 120_000 }, async () => {
    const model = fixture('models/stories260K');
    if (!model || !gpuReady()) return;
    const { stdout } = await run('node', [BIN, 'generate', model, '--prompt', PROMPT, '--max-tokens', '12', '--temperature', '0'], { timeout: 120_000 });
    const json = await run('node', [BIN, 'generate', model, '--prompt', PROMPT, '--max-tokens', '12', '--temperature', '0', '--json'], { timeout: 120_000 });
    const ids = JSON.parse(json.stdout.trim().split('\n').pop()!).tokens as number[];
    const m = await openModelPath(model);
    const tok = m.tokenizer!;
    const prompt = tok.encode(PROMPT);
    const continuation = tok.decode([...prompt, ...ids], { skipSpecial: true }).slice(tok.decode(prompt, { skipSpecial: true }).length);
    await m.close();
    expect(stdout).toBe(`${PROMPT}${continuation}\n`);
  });

  it('usage errors exit 2', async () => {
    const fail = (args: string[]) => run('node', [BIN, 'generate', ...args]).then(() => ({ code: 0, stderr: '' }), (e) => e as { code: number; stderr: string });
    expect((await fail(['/x.gguf'])).code).toBe(2); // no --prompt
    const r = await fail(['/x.gguf', '--prompt', 'hi', '--temperature=-1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--temperature must be a number in \[0, 100\]/);
    expect((await fail(['/x.gguf', '--prompt', 'hi', '--top-p', '0'])).code).toBe(2);
  });
});
