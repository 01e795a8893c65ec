// The data pipeline on the real files of shared/data with the SmolLM2-135M-Instruct
// tokenizer and chat template: tinyshakespeare (plain text, positional split),
// Alpaca (the standard prompt, loss on the response only), self-instruct seed
// tasks, and the LLaMA-Factory KTO / DPO chat demos (loss exactly on the assistant
// turns + <|im_end|>); plus stories260K's GGUF tokenizer (BOS, no chat template).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { readGguf } from '../../src/io/gguf/reader.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { tokenizerFromGguf } from '../../src/io/tokenizer/gguf.ts';
import { tokenizerFromHf } from '../../src/io/tokenizer/hf.ts';
import type { Tokenizer } from '../../src/io/tokenizer/types.ts';
import { buildDataset, type PreparedDataset } from '../../src/train/data/dataset.ts';
import { DatasetError } from '../../src/train/data/errors.ts';
import { windowAt } from '../../src/train/data/pack.ts';
import { parseDataset } from '../../src/train/data/parse.ts';
import { rowPlace } from '../../src/train/data/place.ts';
import type { Example, TokenizedExample } from '../../src/train/data/types.ts';
import { fixture } from '../helpers/fixtures.ts';

let smol: Tokenizer | null | undefined;
function smolLm(): Tokenizer | null {
  if (smol !== undefined) return smol;
  const dir = fixture('tokenizers/SmolLM2-135M-Instruct');
  smol = dir
    ? tokenizerFromHf({ tokenizerJson: readFileSync(join(dir, 'tokenizer.json'), 'utf8'), tokenizerConfig: readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'), name: 'SmolLM2-135M-Instruct' })
    : null;
  return smol;
}

function data(rel: string): { text: string; file: string } | null {
  const p = fixture(`data/${rel}`);
  return p ? { text: readFileSync(p, 'utf8'), file: rel } : null;
}

/** Decoded runs of tokens whose mask is `want`. */
function runs(tok: Tokenizer, e: TokenizedExample, want: 0 | 1): string[] {
  const out: string[] = [];
  for (let a = 0; a < e.ids.length; a++) {
    if (e.mask[a] !== want) continue;
    let b = a;
    while (b < e.ids.length && e.mask[b] === want) b++;
    out.push(tok.decode(e.ids.slice(a, b)));
    a = b;
  }
  return out;
}

function report(ds: PreparedDataset): void {
  const c = ds.counts;
  console.log(
    `${ds.file}: ${ds.parsed.detail}; ${c.examples} examples (${c.trainExamples} train / ${c.evalExamples} held out), ${c.tokens} tokens, ` +
      `${c.lossTokens} in the loss, ${c.trainWindows} + ${c.evalWindows} windows of ${ds.train.seqLen}, ${c.padTokens} pad; ` +
      `${ds.problems.length} problems (${c.rowsLeftOut} rows left out, ${c.rowsWithWarnings} kept with a warning)`,
  );
}

/** Every window's loss total equals the examples' (each loss token in exactly one window). */
function checkWindows(ds: PreparedDataset): void {
  const sum = (ex: TokenizedExample[]) => ex.reduce((s, e) => s + e.mask.reduce((a, m) => a + m, 0), 0);
  expect(ds.train.lossTokens).toBe(sum(ds.trainExamples));
  expect(ds.eval.lossTokens).toBe(sum(ds.evalExamples));
  expect(ds.train.inputs.length).toBe(ds.train.count * ds.train.seqLen);
  const x = windowAt(ds.train, ds.train.count - 1);
  for (let t = 0; t + 1 < ds.train.seqLen; t++) expect(x.targets[t]).toBe(x.inputs[t + 1]);
}

const ALPACA_NO_INPUT = (i: string) =>
  `Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n${i}\n\n### Response:\n`;
const ALPACA_INPUT = (i: string, x: string) =>
  `Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n${i}\n\n### Input:\n${x}\n\n### Response:\n`;

describe('SmolLM2 tokenizer on shared/data', () => {
  test('tinyshakespeare: positional 90/10 split, loss on every token, deterministic for a seed', (ctx) => {
    const tok = smolLm();
    const d = data('tinyshakespeare/input.txt');
    if (!tok || !d) return ctx.skip();
    const a = buildDataset(d.text, d.file, tok, { seqLen: 256, seed: 1 });
    report(a);
    expect(a.parsed.source).toBe('txt');
    expect(a.packing).toBe('concat');
    // The held-out part is the file's tail, from a line start at or after 90 % of it.
    const cut = d.text.length - a.heldOutText!.length;
    expect(d.text.slice(cut)).toBe(a.heldOutText);
    expect(d.text[cut - 1]).toBe('\n');
    expect(cut).toBeGreaterThanOrEqual(Math.floor(d.text.length * 0.9));
    expect(cut - d.text.length * 0.9).toBeLessThan(200);
    // SmolLM2 adds no BOS: loss on every token of each part but its first.
    expect(a.counts.lossTokens).toBe(a.counts.tokens - 2);
    expect(tok.decode(a.trainExamples[0].ids)).toBe(d.text.slice(0, cut));
    expect(a.train.count).toBe(Math.ceil((a.trainExamples[0].ids.length - 1) / 256));
    checkWindows(a);
    expect(a.problems).toEqual([]);
    expect(a.preview[0].segments.map((s) => s.loss)).toEqual([false, true]);

    const b = buildDataset(d.text, d.file, tok, { seqLen: 256, seed: 1 });
    expect(b.train.inputs).toEqual(a.train.inputs);
    const c = buildDataset(d.text, d.file, tok, { seqLen: 256, seed: 2 });
    expect(c.heldOutText).toBe(a.heldOutText); // the split does not depend on the seed
    expect(c.eval.inputs).toEqual(a.eval.inputs);
    expect(c.train.inputs).not.toEqual(a.train.inputs); // the train-window order does
    expect([...c.train.targets].sort()).toEqual([...a.train.targets].sort());
  });

  test('alpaca_5000.json: the standard template; only the response and EOS in the loss', (ctx) => {
    const tok = smolLm();
    const d = data('alpaca/alpaca_5000.json');
    if (!tok || !d) return ctx.skip();
    const ds = buildDataset(d.text, d.file, tok, { seqLen: 512, seed: 3 });
    report(ds);
    expect(ds.parsed).toMatchObject({ source: 'json-array', kind: 'instruction' });
    // Two records of the original data have an empty output, and two Alpaca's <nooutput> mark (a task with no text answer).
    const noOutput = '"output" is <nooutput> (Alpaca\'s mark for a task without a text answer): nothing to learn';
    expect(ds.problems).toEqual([
      { line: 1, index: 1275, kept: false, message: noOutput },
      { line: 1, index: 2335, kept: false, message: '"output" is empty: nothing to learn' },
      { line: 1, index: 4361, kept: false, message: noOutput },
      { line: 1, index: 4658, kept: false, message: '"output" is empty: nothing to learn' },
    ]);
    // The file is one line: each problem is named by its record, not "line 1".
    expect(ds.problems.map((p) => rowPlace(ds.parsed.source, p.line, p.index))).toEqual(['record 1275', 'record 2335', 'record 4361', 'record 4658']);
    expect(ds.counts).toMatchObject({ examples: 4996, trainExamples: 4496, evalExamples: 500, rowsLeftOut: 4 });
    expect(ds.preview[0].segments).toEqual([
      { loss: false, text: ALPACA_INPUT('Are the two sentences below grammatically correct? Output yes or no.', 'Sentence 1: I am going to the store.\nSentence 2: I goes to the store.') },
      { loss: true, text: 'No<|im_end|>' },
    ]);
    const rows = JSON.parse(d.text) as { instruction: string; input: string; output: string }[];
    let withInput = 0;
    for (const e of [...ds.trainExamples, ...ds.evalExamples]) {
      const r = rows[e.index];
      if (r.input !== '') withInput++;
      expect(runs(tok, e, 0), `row ${e.index}`).toEqual([r.input === '' ? ALPACA_NO_INPUT(r.instruction) : ALPACA_INPUT(r.instruction, r.input)]);
      expect(runs(tok, e, 1), `row ${e.index}`).toEqual([`${r.output}<|im_end|>`]);
    }
    expect(withInput).toBeGreaterThan(1000);
    checkWindows(ds);
  });

  test('seed_tasks.jsonl: one Alpaca example per instance; deterministic shuffle and split for a seed', (ctx) => {
    const tok = smolLm();
    const d = data('alpaca/seed_tasks.jsonl');
    if (!tok || !d) return ctx.skip();
    const a = buildDataset(d.text, d.file, tok, { seqLen: 256, seed: 11 });
    report(a);
    expect(a.parsed).toMatchObject({ source: 'jsonl', kind: 'instruction', problems: [] });
    expect(a.counts).toMatchObject({ examples: 175, trainExamples: 157, evalExamples: 18 });
    const first = JSON.parse(d.text.split('\n')[0]);
    expect(a.preview[0].segments.map((s) => s.text)).toEqual([ALPACA_NO_INPUT(first.instruction), `${first.instances[0].output}<|im_end|>`]);
    checkWindows(a);
    const b = buildDataset(d.text, d.file, tok, { seqLen: 256, seed: 11 });
    expect(b.evalExamples.map((e) => e.index)).toEqual(a.evalExamples.map((e) => e.index));
    expect(b.train.inputs).toEqual(a.train.inputs);
    const c = buildDataset(d.text, d.file, tok, { seqLen: 256, seed: 12 });
    expect(c.evalExamples.map((e) => e.index)).not.toEqual(a.evalExamples.map((e) => e.index));
    // Train and held out are disjoint and cover every row.
    const all = [...c.trainExamples, ...c.evalExamples].map((e) => e.index).sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 175 }, (_, i) => i));
  });

  test.for([
    ['chat/kto_en_demo.json', 300],
    ['chat/dpo_en_demo.json', 300],
  ] as const)('%s: the loss covers exactly each assistant turn + <|im_end|>', ([rel, rows], ctx) => {
    const tok = smolLm();
    const d = data(rel);
    if (!tok || !d) return ctx.skip();
    const ds = buildDataset(d.text, d.file, tok, { seqLen: 1024, seed: 5 });
    report(ds);
    expect(ds.parsed).toMatchObject({ source: 'json-array', kind: 'chat' });
    expect(ds.problems).toEqual([]);
    expect(ds.counts.examples).toBe(rows);
    const parsed = parseDataset(d.text, d.file).examples as Extract<Example, { kind: 'chat' }>[];
    let turns = 0;
    for (const e of [...ds.trainExamples, ...ds.evalExamples]) {
      const msgs = parsed[e.index].messages;
      const want = msgs.filter((m) => m.role === 'assistant').map((m) => `${m.content}<|im_end|>`);
      expect(runs(tok, e, 1), `row ${e.index}`).toEqual(want);
      // The unmasked part is the template's system prompt, the user turns and the assistant headers.
      const prompt = runs(tok, e, 0).join('');
      expect(prompt.startsWith('<|im_start|>system\n')).toBe(true);
      expect(prompt.split('<|im_start|>assistant\n').length - 1).toBe(want.length);
      turns += want.length;
    }
    if (rel.includes('dpo')) {
      const raw = JSON.parse(d.text) as { chosen: { value: string } }[];
      for (const e of ds.trainExamples.slice(0, 20)) expect(runs(tok, e, 1).at(-1)).toBe(`${raw[e.index].chosen.value}<|im_end|>`);
    }
    console.log(`${rel}: ${turns} assistant turns`);
    checkWindows(ds);
    expect(ds.packing).toBe('packed');
  });

  test('a broken element in the middle of kto_en_demo.json is reported by line; the other 299 load', (ctx) => {
    const d = data('chat/kto_en_demo.json');
    if (!d) return ctx.skip();
    // Corrupt element 150's first role (a wrong type) and element 200's JSON (a missing comma).
    const lines = d.text.split('\n');
    const starts = lines.flatMap((l, i) => (l === '  {' ? [i] : []));
    expect(starts).toHaveLength(300);
    const roleLine = lines.findIndex((l, i) => i > starts[150] && l.includes('"role": "user"'));
    lines[roleLine] = lines[roleLine].replace('"role": "user"', '"role": 5');
    const contentLine = lines.findIndex((l, i) => i > starts[200] && l.includes('"content": '));
    lines[contentLine] = lines[contentLine].replace(/,$/, '');
    const p = parseDataset(lines.join('\n'), 'kto_broken.json');
    expect(p.examples).toHaveLength(298);
    expect(p.problems.map((q) => [q.line, q.index])).toEqual([
      [starts[150] + 1, 150],
      [starts[200] + 1, 200],
    ]);
    expect(p.problems[0].message).toBe('messages[0]."role" must be a string, not number');
    expect(p.problems[1].message).toMatch(/not valid JSON/);
  });
});

describe('stories260K GGUF tokenizer (BOS by default, no chat template)', () => {
  async function stories(): Promise<Tokenizer | null> {
    const path = fixture('models/stories260K.gguf');
    if (!path) return null;
    const src = await fileSource(path);
    try {
      return tokenizerFromGguf((await readGguf(src)).kv, path);
    } finally {
      await src.close?.();
    }
  }

  test('text windows start from a BOS; chat data needs a template or the plain fallback', async (ctx) => {
    const tok = await stories();
    const d = data('chat/kto_en_demo.json');
    const s = data('alpaca/seed_tasks.jsonl');
    if (!tok || !d || !s) return ctx.skip();
    const text = buildDataset('Once upon a time there was a cat.\nThe end.\n', 'tiny.txt', tok, { seqLen: 8, evalFraction: 0 });
    expect(text.trainExamples[0].ids[0]).toBe(tok.bosId);
    expect(text.trainExamples[0].mask[0]).toBe(0);
    expect(text.counts.lossTokens).toBe(text.counts.tokens - 1);

    // The refusal names the controls that exist: the studio's box and the CLI flag.
    expect(() => buildDataset(d.text, d.file, tok, { seqLen: 256 })).toThrow(DatasetError);
    expect(() => buildDataset(d.text, d.file, tok, { seqLen: 256 })).toThrow(/"Plain User:\/Assistant: chats" box, or sub4 tune --plain-chat/);
    const ds = buildDataset(d.text, d.file, tok, { seqLen: 256, plainChatFallback: true });
    report(ds);
    expect(ds.problems).toEqual([]);
    const e = ds.trainExamples[0];
    expect(e.ids[0]).toBe(tok.bosId);
    const msgs = (parseDataset(d.text, d.file).examples[e.index] as Extract<Example, { kind: 'chat' }>).messages;
    expect(runs(tok, e, 1)).toEqual(msgs.filter((m) => m.role === 'assistant').map((m) => `${m.content}</s>`));

    const si = buildDataset(s.text, s.file, tok, { seqLen: 256 });
    report(si);
    expect(si.problems).toEqual([]);
    expect(si.trainExamples.every((x) => x.ids[0] === tok.bosId && x.ids.at(-1) === tok.eosIds[0])).toBe(true);
  });
});
