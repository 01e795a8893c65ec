// Loss masks on a toy tokenizer whose merges are known ("\n\n" and "ab" are one
// token each), so prefix alignment, its straddling-token fallback and every
// template case can be driven on purpose: text (loss on all), Alpaca (loss on the
// output + EOS), chat (loss on each assistant turn + its end token, not the header).
import { describe, expect, test } from 'vitest';
import type { ChatMessage, ChatTemplateOptions, Tokenizer } from '../../src/io/tokenizer/types.ts';
import { tokenBoundary } from '../../src/train/data/align.ts';
import { DatasetError } from '../../src/train/data/errors.ts';
import { tokenizeExamples } from '../../src/train/data/tokenize.ts';
import type { Example, TokenizedExample } from '../../src/train/data/types.ts';

const SPECIAL = ['<bos>', '<eos>', '<|end|>', '<|user|>', '<|assistant|>'];
const MERGES: Record<string, number> = { '\n\n': 6, ab: 7 };
const MERGED = Object.fromEntries(Object.entries(MERGES).map(([k, v]) => [v, k]));

type Template = (m: readonly ChatMessage[], o: ChatTemplateOptions) => string;
const chatml: Template = (messages, { addGenerationPrompt }) =>
  messages.map((m) => `<|${m.role}|>\n${m.content}<|end|>\n`).join('') + (addGenerationPrompt ? '<|assistant|>\n' : '');

/** Specials 1..5, merges 6..7, every other character 100 + its code unit. Greedy left-to-right merging. */
function toyTokenizer(opts: { template?: Template; bos?: boolean; eos?: boolean } = {}): Tokenizer {
  const { bos = true, eos = true } = opts;
  const split = new RegExp(`(${SPECIAL.map((s) => s.replace(/[|<>]/g, '\\$&')).join('|')})`);
  return {
    kind: 'hf',
    vocabSize: 100 + 0x10000,
    bosId: bos ? 1 : null,
    eosIds: eos ? [2, 3] : [],
    addBosDefault: bos,
    encode(text, o = {}) {
      const ids: number[] = (o.addBos ?? bos) ? [1] : [];
      for (const part of text.split(split)) {
        const sp = SPECIAL.indexOf(part);
        if (sp >= 0) ids.push(sp + 1);
        else
          for (let i = 0; i < part.length; ) {
            const m = MERGES[part.slice(i, i + 2)];
            ids.push(m ?? 100 + part.charCodeAt(i));
            i += m ? 2 : 1;
          }
      }
      return ids;
    },
    decode: (ids) => ids.map((id) => (id <= 5 ? SPECIAL[id - 1] : MERGED[id] ?? String.fromCharCode(id - 100))).join(''),
    tokenText: (id) => (id <= 5 ? SPECIAL[id - 1] : String.fromCharCode(id - 100)),
    ...(opts.template ? { applyChatTemplate: opts.template } : {}),
  };
}

const text = (t: string, line = 1): Example => ({ kind: 'text', line, index: line - 1, text: t });
const instr = (instruction: string, input: string, output: string, line = 1): Example => ({ kind: 'instruction', line, index: line - 1, instruction, input, output });
const chat = (messages: ChatMessage[], line = 1): Example => ({ kind: 'chat', line, index: line - 1, messages });

/** The decoded runs of mask 1 and of mask 0. */
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

describe('token boundaries', () => {
  const tok = toyTokenizer({ bos: false });
  const enc = (s: string) => tok.encode(s);
  test('exact where the prefix tokenizes alone, snapped to the straddler where a merge crosses', () => {
    const t = 'xa\n\nby';
    const ids = enc(t); // x a \n\n b y
    expect(ids).toHaveLength(5);
    expect(tokenBoundary(t, ids, 2, 'start', enc, tok.decode)).toEqual({ token: 2, exact: true });
    // Offset 3 splits "\n\n": the straddler goes after a start and before an end.
    expect(tokenBoundary(t, ids, 3, 'start', enc, tok.decode)).toEqual({ token: 2, exact: false });
    expect(tokenBoundary(t, ids, 3, 'end', enc, tok.decode)).toEqual({ token: 3, exact: false });
    expect(tokenBoundary(t, ids, 0, 'end', enc, tok.decode)).toEqual({ token: 0, exact: true });
    expect(tokenBoundary(t, ids, t.length, 'start', enc, tok.decode)).toEqual({ token: 5, exact: true });
  });
});

describe('text', () => {
  test('loss on every token but the first; BOS per the tokenizer; EOS only for rows', () => {
    const tok = toyTokenizer();
    const [a] = tokenizeExamples([text('hello')], tok, 't.txt').examples;
    expect(a.ids).toEqual([1, ...[...'hello'].map((c) => 100 + c.charCodeAt(0))]);
    expect([...a.mask]).toEqual([0, 1, 1, 1, 1, 1]);
    const [b] = tokenizeExamples([text('hi')], tok, 't.jsonl', { eosAfterText: true }).examples;
    expect(b.ids.at(-1)).toBe(2);
    const [c] = tokenizeExamples([text('hi')], toyTokenizer({ bos: false }), 't.txt').examples;
    expect([...c.mask]).toEqual([0, 1]); // nothing predicts the first token without a BOS
  });

  test('a row of fewer than 2 tokens is a problem, and a file of only those a DatasetError', () => {
    const tok = toyTokenizer({ bos: false });
    const r = tokenizeExamples([text('x', 1), text('yz', 2)], tok, 'r.jsonl');
    expect(r.examples.map((e) => e.line)).toEqual([2]);
    expect(r.problems).toEqual([{ line: 1, index: 0, kept: false, message: 'it tokenizes to fewer than 2 tokens: nothing to predict' }]);
    expect(() => tokenizeExamples([text('x')], tok, 'r.jsonl')).toThrow(/r\.jsonl: no example could be tokenized: line 1/);
  });
});

describe('Alpaca', () => {
  const tok = toyTokenizer();
  test('the standard template, with and without input; only output + EOS in the loss', () => {
    const r = tokenizeExamples([instr('Name a color.', '', 'Blue.'), instr('Add them.', '1 2', '3')], tok, 'a.json');
    expect(r.problems).toEqual([]);
    const [a, b] = r.examples;
    expect(runs(tok, a, 0)).toEqual([
      '<bos>Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nName a color.\n\n### Response:\n',
    ]);
    expect(runs(tok, a, 1)).toEqual(['Blue.<eos>']);
    expect(runs(tok, b, 0)).toEqual([
      '<bos>Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\nAdd them.\n\n### Input:\n1 2\n\n### Response:\n',
    ]);
    expect(runs(tok, b, 1)).toEqual(['3<eos>']);
  });

  test('"$&" and friends in the data stay text', () => {
    const [a] = tokenizeExamples([instr('say $& and $1', '', 'ok')], tok, 'a.json').examples;
    expect(runs(tok, a, 0)[0]).toContain('say $& and $1');
  });

  test('an output whose first character merges with the prompt\'s last: row kept, straddler in the loss, problem reported', () => {
    const r = tokenizeExamples([instr('I', '', '\nfoo', 7)], tok, 'a.json');
    expect(r.problems).toEqual([{ line: 7, index: 6, kept: true, message: 'the end of the prompt falls inside a token; the straddling token is counted with the response' }]);
    expect(runs(tok, r.examples[0], 1)).toEqual(['\n\nfoo<eos>']);
  });

  test('no EOS in the vocabulary: a note, and examples end at the output', () => {
    const t = toyTokenizer({ eos: false });
    const r = tokenizeExamples([instr('I', '', 'o')], t, 'a.json');
    expect(runs(t, r.examples[0], 1)).toEqual(['o']);
    expect(r.notes.join()).toMatch(/no EOS token/);
  });
});

describe('chat', () => {
  const conv: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello!' },
    { role: 'user', content: 'Bye' },
    { role: 'assistant', content: 'See you.' },
  ];

  test('every assistant turn + its end token is in the loss; headers and separators are not', () => {
    const tok = toyTokenizer({ template: chatml });
    const r = tokenizeExamples([chat(conv)], tok, 'c.json');
    expect(r.problems).toEqual([]);
    const [e] = r.examples;
    expect(runs(tok, e, 1)).toEqual(['Hello!<|end|>', 'See you.<|end|>']);
    expect(runs(tok, e, 0)).toEqual(['<bos><|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n', '\n<|user|>\nBye<|end|>\n<|assistant|>\n', '\n']);
  });

  test('a template that spells the BOS itself gets no second one', () => {
    const tok = toyTokenizer({ template: (m, o) => '<bos>' + chatml(m, o) });
    const [e] = tokenizeExamples([chat(conv)], tok, 'c.json').examples;
    expect(e.ids.filter((id) => id === 1)).toHaveLength(1);
    expect(runs(tok, e, 1)).toEqual(['Hello!<|end|>', 'See you.<|end|>']);
  });

  test('content merging with the header: kept with a problem, straddler in the loss', () => {
    const tok = toyTokenizer({ template: chatml });
    const r = tokenizeExamples([chat([{ role: 'user', content: 'q' }, { role: 'assistant', content: '\nA' }], 3)], tok, 'c.json');
    expect(r.problems).toEqual([{ line: 3, index: 2, kept: true, message: 'the start of assistant turn 1 falls inside a token; the straddling token is counted with the response' }]);
    expect(runs(tok, r.examples[0], 1)).toEqual(['\n\nA<|end|>']);
  });

  test('a generation prompt that is not how the template opens an assistant turn: row left out', () => {
    const odd: Template = (m, o) => chatml(m, { addGenerationPrompt: false }) + (o.addGenerationPrompt ? '<|assistant|>\n<think>' : '');
    const tok = toyTokenizer({ template: odd });
    expect(() => tokenizeExamples([chat(conv, 4)], tok, 'c.json')).toThrow(
      /c\.json: no example could be tokenized: line 4: the chat template does not render assistant turn 2 as a continuation/,
    );
    // Read from a JSON array, the row is named by its record.
    expect(() => tokenizeExamples([chat(conv, 4)], tok, 'c.json', { source: 'json-array' })).toThrow(/c\.json: no example could be tokenized: record \d+ \(line 4\): /);
  });

  test('a template error on one row costs that row only', () => {
    const strict: Template = (m, o) => {
      if (m[0]?.role === 'system') throw new Error('system messages are not supported');
      return chatml(m, o);
    };
    const tok = toyTokenizer({ template: strict });
    const r = tokenizeExamples([chat(conv, 1), chat(conv.slice(1), 2)], tok, 'c.json');
    expect(r.examples.map((e) => e.line)).toEqual([2]);
    expect(r.problems).toEqual([{ line: 1, index: 0, kept: false, message: 'the chat template cannot render it: system messages are not supported' }]);
  });

  test('a template with no end-of-turn token: the whole turn is in the loss, with a note', () => {
    const bare: Template = (m, o) => m.map((x) => `${x.role}: ${x.content}\n`).join('') + (o.addGenerationPrompt ? 'assistant: ' : '');
    const tok = toyTokenizer({ template: bare });
    const r = tokenizeExamples([chat(conv)], tok, 'c.json');
    expect(runs(tok, r.examples[0], 1)).toEqual(['Hello!\n', 'See you.\n']);
    expect(r.notes.join()).toMatch(/2 assistant turns have no end-of-turn token/);
  });

  test('no chat template: a DatasetError, or the plain fallback when allowed', () => {
    const tok = toyTokenizer();
    expect(() => tokenizeExamples([chat(conv)], tok, 'c.json')).toThrow(DatasetError);
    expect(() => tokenizeExamples([chat(conv)], tok, 'c.json')).toThrow(/c\.json: is chat data.*has none/);
    const r = tokenizeExamples([chat(conv)], tok, 'c.json', { plainChatFallback: true });
    expect(r.notes.join()).toMatch(/plain "User:\/Assistant:" layout/);
    const [e] = r.examples;
    expect(runs(tok, e, 0)[0]).toBe('<bos>System:\nBe brief.\n\nUser:\nHi\n\nAssistant:\n');
    // The fallback closes assistant turns with the EOS text, parsed back to the EOS id.
    expect(runs(tok, e, 1)).toEqual(['Hello!<eos>', 'See you.<eos>']);
  });

  test('progress is reported up to the total', () => {
    const seen: number[] = [];
    tokenizeExamples(Array.from({ length: 130 }, (_, i) => text(`row ${i}`, i + 1)), toyTokenizer(), 'p.jsonl', { onProgress: (d) => seen.push(d) });
    expect(seen).toEqual([0, 64, 128, 130]);
  });
});
