// Training data readers fuzzed like the model readers (tests/fuzz/gguf.test.ts):
// 24,000 seeded mutations of small valid files — plain text, JSONL and JSON
// arrays in every row layout (text rows, Alpaca, seed tasks, OpenAI chat,
// ShareGPT with DPO "chosen", KTO labels), from synthetic seeds and from the
// real Alpaca / seed-task / DPO / KTO fixtures when present — by character
// edits, JSON-token splices, field renames, truncation, deep nesting and odd
// Unicode, under each file extension. parseDataset must return rows and
// problems whose line numbers lie in the file, or throw a DatasetError naming
// the file; nothing else, and no input may take a second. Every 8th input also
// goes through tokenization and windowing (buildDataset) with the stories260K
// tokenizer, with the same rule.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rng as prng } from '../../src/gpu/random.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import type { Tokenizer } from '../../src/io/tokenizer/types.ts';
import { buildDataset, DatasetError, parseDataset } from '../../src/train/data/index.ts';
import { fixture } from '../helpers/fixtures.ts';

const N_INPUTS = 24_000;
const TOKENIZE_EVERY = 8;

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <V>(r: Rand, xs: readonly V[]): V => xs[int(r, xs.length)];

const alpaca = [
  { instruction: 'Give three tips for staying healthy.', input: '', output: 'Eat well.\nSleep.\nMove.' },
  { instruction: 'Translate to French.', input: 'Good morning', output: 'Bonjour' },
  { instruction: 'Sum the numbers.', input: '2, 3', output: '5' },
];
const chat = [
  { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi?' }, { role: 'assistant', content: 'Hello.' }] },
  { messages: [{ role: 'user', content: 'Capital of France?' }, { role: 'assistant', content: 'Paris.' }, { role: 'user', content: 'And Spain?' }, { role: 'assistant', content: 'Madrid.' }], label: true },
  { messages: [{ role: 'user', content: 'Bad?' }, { role: 'assistant', content: 'Yes.' }], label: false },
];
const sharegpt = [
  { conversations: [{ from: 'human', value: 'Name a colour.' }], chosen: { from: 'gpt', value: 'Blue.' }, rejected: { from: 'gpt', value: 'Dog.' } },
  { system: 'You are kind.', conversations: [{ from: 'human', value: 'Hello' }, { from: 'gpt', value: 'Hi!' }] },
];
const seedTasks = [
  { id: 'seed_task_0', name: 'x', instruction: 'Is it true?', instances: [{ input: 'The sky is green.', output: 'No.' }, { input: '1+1=2', output: 'Yes.' }] },
];
const textRows = [{ text: 'Once upon a time there was a cat.' }, { text: 'The end.' }];

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const array = (rows: unknown[]) => JSON.stringify(rows, null, 2);

interface Seed {
  name: string;
  file: string;
  text: string;
}

function seeds(): Seed[] {
  const out: Seed[] = [
    { name: 'txt', file: 'd.txt', text: 'First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n' },
    { name: 'alpaca.jsonl', file: 'a.jsonl', text: jsonl(alpaca) },
    { name: 'alpaca.json', file: 'a.json', text: array(alpaca) },
    { name: 'chat.jsonl', file: 'c.jsonl', text: jsonl(chat) },
    { name: 'chat.json', file: 'c.json', text: array(chat) },
    { name: 'sharegpt.json', file: 's.json', text: array(sharegpt) },
    { name: 'seed-tasks.jsonl', file: 't.jsonl', text: jsonl(seedTasks) },
    { name: 'text-rows.jsonl', file: 'r.jsonl', text: jsonl(textRows) },
    { name: 'one-object.json', file: 'o.json', text: JSON.stringify(alpaca[0]) },
  ];
  // The real files' first rows, when the fixtures are here.
  const real: [string, string, 'array' | 'jsonl'][] = [['data/alpaca/alpaca_5000.json', 'alpaca_5000.json', 'array'], ['data/alpaca/seed_tasks.jsonl', 'seed_tasks.jsonl', 'jsonl'], ['data/chat/dpo_en_demo.json', 'dpo.json', 'array'], ['data/chat/kto_en_demo.json', 'kto.json', 'array']];
  for (const [rel, file, kind] of real) {
    const p = fixture(rel);
    if (!p) continue;
    const text = readFileSync(p, 'utf8');
    const rows = kind === 'array' ? (JSON.parse(text) as unknown[]).slice(0, 3) : text.split('\n').slice(0, 3).map((l) => JSON.parse(l));
    out.push({ name: `real ${file}`, file, text: kind === 'array' ? array(rows) : jsonl(rows) });
  }
  return out;
}

const CHARS = ['{', '}', '[', ']', '"', ',', ':', '\\', '\n', '\r', '\t', ' ', '0', '-', 'e', 'a', '\u0000', '\u0007', '\ufffd', '\ud800', '\udc00', '\ufeff', '😀', '\u2028', 'é'];
const TOKENS = ['null', 'true', 'false', '[]', '{}', '""', '"role"', '"assistant"', '"user"', '"content"', '"messages"', '"conversations"', '"from"', '"value"', '"gpt"', '"instruction"', '"output"', '"input"', '"instances"', '"text"', '"chosen"', '"label"', '1e999', '-0', '1.5', '9007199254740993', '"\\u0000"', '"\\ud800"', '{"role":"assistant","content":""}', '[{"from":"human","value":"x"}]'];
const FIELDS = ['instruction', 'input', 'output', 'messages', 'role', 'content', 'conversations', 'from', 'value', 'text', 'instances', 'chosen', 'system', 'label'];
const EXTS = ['.txt', '.jsonl', '.json', '.ndjson', '.md', '', '.csv'];

/** One mutation of `text`, and its name (for the slowest-input report). */
function mutate(r: Rand, text: string): { text: string; how: string } {
  const at = () => int(r, text.length + 1);
  switch (int(r, 11)) {
    case 0: {
      const i = at();
      return { text: text.slice(0, i) + pick(r, CHARS) + text.slice(i + 1), how: 'char replaced' };
    }
    case 1: {
      const i = at();
      return { text: text.slice(0, i) + pick(r, CHARS) + text.slice(i), how: 'char inserted' };
    }
    case 2: {
      const i = at();
      return { text: text.slice(0, i) + text.slice(i + 1 + int(r, 40)), how: 'range deleted' };
    }
    case 3:
      return { text: text.slice(0, at()), how: 'truncated' };
    case 4: {
      const i = at();
      return { text: text.slice(0, i) + pick(r, TOKENS) + text.slice(i), how: 'token spliced' };
    }
    case 5: {
      const f = pick(r, FIELDS);
      return { text: text.split(`"${f}"`).join(`"${pick(r, FIELDS)}"`), how: `field ${f} renamed` };
    }
    case 6: {
      const i = at();
      const n = int(r, 60);
      return { text: text.slice(0, i) + text.slice(i, i + n).repeat(1 + int(r, 50)) + text.slice(i + n), how: 'range repeated' };
    }
    case 7: {
      // Values of the wrong type: every string of one row replaced.
      const v = pick(r, TOKENS);
      return { text: text.replace(/"(?:[^"\\\n]|\\.)*"(?=\s*[,}\]])/g, () => (r() < 0.3 ? v : '$&')).replace(/\$&/g, '"x"'), how: 'values retyped' };
    }
    case 8: {
      const depth = 1 + int(r, 20000);
      const open = r() < 0.5 ? '[' : '{"messages":';
      return { text: text.slice(0, at()) + open.repeat(depth) + (r() < 0.5 ? ']'.repeat(depth) : ''), how: `nested ${depth} deep` };
    }
    case 9: {
      const lines = text.split('\n');
      const i = int(r, lines.length);
      lines.splice(i, 0, lines[int(r, lines.length)] ?? '');
      return { text: lines.join(r() < 0.3 ? '\r\n' : '\n'), how: 'line duplicated' };
    }
    default:
      return { text: String.fromCharCode(...Array.from({ length: int(r, 200) }, () => int(r, 0x10000))), how: 'random code units' };
  }
}

/** Lines in the file, counted as the readers count them (\n ends a line). */
const lineCount = (text: string) => text.split('\n').length;

describe('dataset readers fuzz', () => {
  it(`${N_INPUTS} mutated txt / JSONL / JSON-array inputs: rows, problems with lines in the file, or a DatasetError`, { timeout: 180_000 }, async () => {
    const base = seeds();
    const tokPath = fixture('models/stories260K.gguf');
    let tok: Tokenizer | null = null;
    let close = async () => {};
    if (tokPath) {
      const m = await openModelPath(tokPath);
      tok = m.tokenizer;
      close = () => m.close();
    }
    try {
      const r = prng(18);
      const outcomes = new Map<string, number>();
      const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
      let slowest = { ms: 0, what: '' };
      const t0 = performance.now();
      let tokenized = 0;
      for (let n = 0; n < N_INPUTS; n++) {
        const seed = pick(r, base);
        let m = { text: seed.text, how: 'seed' };
        const rounds = 1 + int(r, 3);
        const hows: string[] = [];
        for (let k = 0; k < rounds; k++) {
          m = mutate(r, m.text);
          hows.push(m.how);
        }
        const file = r() < 0.8 ? seed.file : `fuzz${pick(r, EXTS)}`;
        const what = `#${n} ${seed.name} as ${file}: ${hows.join(', ')} (${m.text.length} chars)`;
        const s = performance.now();
        const check = (run: () => void) => {
          try {
            run();
            count('ok');
          } catch (e) {
            if (!(e instanceof DatasetError)) throw new Error(`${what}: threw ${(e as Error).name}: ${(e as Error).message}\ninput: ${JSON.stringify(m.text.slice(0, 400))}`, { cause: e });
            expect(e.message.startsWith(`${file}: `)).toBe(true);
            for (const [, l] of e.message.matchAll(/\bline (\d+)/g)) expect(Number(l), what).toBeLessThanOrEqual(lineCount(m.text));
            count('DatasetError');
          }
        };
        check(() => {
          const p = parseDataset(m.text, file);
          for (const q of p.problems) if (!(Number.isInteger(q.line) && q.line >= 1 && q.line <= lineCount(m.text))) throw new Error(`${what}: problem on line ${q.line} of a ${lineCount(m.text)}-line file: ${q.message}`);
        });
        if (tok && n % TOKENIZE_EVERY === 0) {
          tokenized++;
          check(() => {
            const ds = buildDataset(m.text, file, tok!, { seqLen: 16, seed: n, plainChatFallback: true });
            for (const q of ds.problems) if (!(q.line >= 1 && q.line <= lineCount(m.text))) throw new Error(`${what}: tokenize problem on line ${q.line}: ${q.message}`);
          });
        }
        const dt = performance.now() - s;
        if (dt > slowest.ms) slowest = { ms: dt, what };
      }
      const total = performance.now() - t0;
      console.log(`dataset fuzz: ${N_INPUTS} inputs (${tokenized} also tokenized) from ${base.length} seeds in ${(total / 1000).toFixed(1)} s; ${JSON.stringify(Object.fromEntries(outcomes))}; slowest ${slowest.ms.toFixed(1)} ms: ${slowest.what}`);
      expect(slowest.ms).toBeLessThan(1000);
      // Both outcomes happen: the mutations reach past the first check, and they break files.
      expect(outcomes.get('ok')).toBeGreaterThan(N_INPUTS / 20);
      expect(outcomes.get('DatasetError')).toBeGreaterThan(N_INPUTS / 20);
    } finally {
      await close();
    }
  });
});
