// `npx tsx bench/quality.ts [--steps N] [--out dir]`: the quality table of the
// training issue. Every row is one `sub4 tune` run on stories260K with the same
// data (tinyshakespeare: the first 90 % trains, the last 10 % is held out),
// seed, steps, batch, sequence length (128) and learning rate; only the method
// and the quantization grid differ. Prints one JSON line per run, then a
// Markdown table with each run's held-out perplexity against the f32 LoRA
// baseline's. Not a test: a run takes minutes on SwiftShader.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '80' },
    batch: { type: 'string', default: '4' },
    lr: { type: 'string', default: '3e-3' },
    seed: { type: 'string', default: '0' },
    'eval-windows': { type: 'string', default: '64' },
    out: { type: 'string', default: 'bench-out/quality' },
    only: { type: 'string' },
  },
});
const shared = resolve(process.env.SUB4_FIXTURES ?? resolve(import.meta.dirname, '../../shared'));
const model = `${shared}/models/stories260K`;
const data = `${shared}/data/tinyshakespeare/input.txt`;

interface Row {
  name: string;
  args: string[];
}
const rows: Row[] = [
  { name: 'LoRA r8, f32 model (baseline)', args: ['--method', 'lora'] },
  ...[4, 3, 2].flatMap((bits) =>
    ['channel', '32'].map((group) => ({ name: `PEQA ${bits}-bit ${group === 'channel' ? 'per-channel' : 'g32'}`, args: ['--method', 'peqa', '--bits', `${bits}`, '--group', group] })),
  ),
  { name: 'QLoRA r8, 4-bit g32', args: ['--method', 'lora', '--bits', '4', '--group', '32'] },
  { name: 'QLoRA r8, 2-bit g32', args: ['--method', 'lora', '--bits', '2', '--group', '32'] },
  { name: 'LQ-LoRA r8, 2-bit g32', args: ['--method', 'lqlora', '--bits', '2', '--group', '32'] },
];

function tune(row: Row, i: number): Promise<Record<string, unknown>> {
  const args = ['tsx', 'src/cli/sub4.ts', 'tune', model, '--data', data, ...row.args, '--rank', '8', '--steps', values.steps!, '--batch', values.batch!, '--seq', '128',
    '--lr', values.lr!, '--seed', values.seed!, '--eval-windows', values['eval-windows']!, '--out', `${values.out}/${i}`, '--json'];
  return new Promise((done, fail) => {
    const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.on('close', (code) => {
      const summary = out.trim().split('\n').map((l) => JSON.parse(l)).find((l) => l.type === 'summary');
      if (code !== 0 || !summary) fail(new Error(`${row.name}: sub4 tune exited ${code}`));
      else done(summary);
    });
  });
}

const results: { name: string; before: number; after: number }[] = [];
for (const [i, row] of rows.entries()) {
  if (values.only && !row.name.includes(values.only)) continue;
  const s = await tune(row, i);
  const r = { name: row.name, before: s.pplBefore as number, after: s.pplAfter as number };
  results.push(r);
  console.log(JSON.stringify({ bench: 'quality', ...r, args: row.args.join(' '), steps: s.steps, tokensPerSecond: s.tokensPerSecond }));
}
const base = results.find((r) => r.name.includes('baseline'));
console.log(`\n| run | held-out ppl before | after | after / f32 LoRA |\n|---|---|---|---|`);
for (const r of results) console.log(`| ${r.name} | ${r.before.toFixed(2)} | ${r.after.toFixed(2)} | ${base ? (r.after / base.after).toFixed(3) : '–'} |`);
