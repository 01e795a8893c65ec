// Training-data parsing on hand-made inputs: format detection, each row layout,
// and malformed rows reported with their line (the rest still loads), whole
// files that are unusable refused with a DatasetError naming the file.
import { describe, expect, test } from 'vitest';
import { DatasetError } from '../../src/train/data/errors.ts';
import { jsonArrayRows } from '../../src/train/data/json_rows.ts';
import { detectSource, parseDataset } from '../../src/train/data/parse.ts';
import { rowPlace } from '../../src/train/data/place.ts';
import { MAX_TURNS } from '../../src/train/data/rows.ts';
import { rng } from '../../src/gpu/random.ts';

const jsonl = (...rows: unknown[]) => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n');

describe('format detection', () => {
  test('by extension, then by the first character', () => {
    expect(detectSource('[{"text":"a"}]', 'x.txt')).toBe('txt');
    expect(detectSource('{"text":"a"}', 'x.jsonl')).toBe('jsonl');
    expect(detectSource('{"text":"a"}', 'x.NDJSON')).toBe('jsonl');
    expect(detectSource('  \n[1]', 'x.json')).toBe('json-array');
    expect(detectSource('{"a":1}\n{"a":2}', 'x.json')).toBe('jsonl');
    expect(detectSource('[1]', 'noext')).toBe('json-array');
    expect(detectSource('Once upon a time', 'story')).toBe('txt');
    expect(() => detectSource('hello', 'x.json')).toThrow(DatasetError);
  });

  test('a .txt file is one document, kept verbatim (BOM dropped)', () => {
    const p = parseDataset('\uFEFFline one\r\nline two\n', 'a.txt');
    expect(p).toMatchObject({ source: 'txt', kind: 'text', problems: [] });
    expect(p.examples).toEqual([{ kind: 'text', line: 1, index: 0, text: 'line one\r\nline two\n' }]);
  });
});

describe('row layouts', () => {
  test('Alpaca rows, with and without input; missing input means none', () => {
    const p = parseDataset(jsonl({ instruction: 'I1', input: 'X', output: 'O1' }, { instruction: 'I2', output: 'O2' }), 'a.jsonl');
    expect(p.kind).toBe('instruction');
    expect(p.examples).toEqual([
      { kind: 'instruction', line: 1, index: 0, instruction: 'I1', input: 'X', output: 'O1' },
      { kind: 'instruction', line: 2, index: 1, instruction: 'I2', input: '', output: 'O2' },
    ]);
  });

  test('seed tasks: one example per instance; a bad instance is reported, the good ones kept', () => {
    const row = { instruction: 'Add', instances: [{ input: '1 2', output: '3' }, { input: 4, output: '5' }, { input: '', output: 'x' }] };
    const p = parseDataset(jsonl(row), 's.jsonl');
    expect(p.examples.map((e) => e.kind === 'instruction' && e.input)).toEqual(['1 2', '']);
    expect(p.problems).toHaveLength(1);
    expect(p.problems[0]).toMatchObject({ line: 1, index: 0, kept: true });
    expect(p.problems[0].message).toContain('instances[1]."input" must be a string, not number');
  });

  test('OpenAI messages, ShareGPT (human/gpt/system + row "system"), DPO chosen appended', () => {
    const p = parseDataset(
      jsonl(
        { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }], label: false },
        { conversations: [{ from: 'system', value: 's' }, { from: 'human', value: 'q' }, { from: 'gpt', value: 'a' }] },
        { system: 'S', conversations: [{ from: 'human', value: 'q' }], chosen: { from: 'gpt', value: 'good' }, rejected: { from: 'gpt', value: 'bad' } },
      ),
      'c.jsonl',
    );
    expect(p.kind).toBe('chat');
    expect(p.problems).toEqual([]);
    expect(p.examples.map((e) => e.kind === 'chat' && e.messages)).toEqual([
      [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }],
      [{ role: 'system', content: 's' }, { role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }],
      [{ role: 'system', content: 'S' }, { role: 'user', content: 'q' }, { role: 'assistant', content: 'good' }],
    ]);
    expect(p.notes.join('\n')).toMatch(/1 rows have "label": false/);
    expect(p.notes.join('\n')).toMatch(/"rejected" is not used/);
  });
});

describe('malformed rows are reported by line and the rest loads', () => {
  test('JSONL: bad JSON, missing fields, wrong types, non-objects, unknown fields, blank lines', () => {
    const text = [
      '{"instruction": "ok", "output": "fine"}', // 1
      '{"instruction": "broken", "output": ', // 2 bad JSON
      '', // 3 blank: skipped, not a row
      '{"instruction": "no output"}', // 4
      '{"instruction": 7, "output": "x"}', // 5 wrong type
      '"just a string"', // 6
      '{"foo": 1, "bar": 2}', // 7 unknown layout
      '{"instruction": "", "output": "x"}', // 8 empty instruction
      '{"instruction": "ok2", "input": null, "output": "y"}\r', // 9 null input, CRLF
      '{"instruction": "last", "output": "z"}', // 10
    ].join('\n');
    const p = parseDataset(text, 'rows.jsonl');
    expect(p.examples.map((e) => e.line)).toEqual([1, 10]);
    const byLine = Object.fromEntries(p.problems.map((q) => [q.line, q.message]));
    expect(Object.keys(byLine).map(Number)).toEqual([2, 4, 5, 6, 7, 8, 9]);
    expect(byLine[2]).toMatch(/not valid JSON/);
    expect(byLine[4]).toBe('"output" is missing');
    expect(byLine[5]).toBe('"instruction" must be a string, not number');
    expect(byLine[6]).toBe('a row must be a JSON object, not string');
    expect(byLine[7]).toMatch(/no known fields .*its fields: foo, bar/);
    expect(byLine[8]).toBe('"instruction" is empty');
    expect(byLine[9]).toBe('"input" must be a string, not null');
    expect(p.problems.every((q) => !q.kept)).toBe(true);
    // index counts non-blank rows: line 4 is row 2.
    expect(p.problems.find((q) => q.line === 4)?.index).toBe(2);
  });

  test('chat rows: bad roles, non-string content, no assistant turn, unknown ShareGPT speaker', () => {
    const p = parseDataset(
      jsonl(
        { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] },
        { messages: [{ role: 'user', content: 'q' }] },
        { messages: [{ role: 'tool', content: 'q' }, { role: 'assistant', content: 'a' }] },
        { messages: [{ role: 'user', content: [{ type: 'text', text: 'q' }] }, { role: 'assistant', content: 'a' }] },
        { messages: 'hello' },
        { conversations: [{ from: 'human', value: 'q' }, { from: 'bot', value: 'a' }] },
        { conversations: [{ from: 'human', value: 'q' }], chosen: { from: 'human', value: 'a' } },
      ),
      'chat.jsonl',
    );
    expect(p.examples.map((e) => e.line)).toEqual([1]);
    expect(p.problems.map((q) => [q.line, q.message])).toEqual([
      [2, 'no assistant turn: nothing to learn'],
      [3, 'messages[0].role "tool" is not one of system, user, assistant'],
      [4, 'messages[0]."content" must be a string, not an array'],
      [5, '"messages" must be a list of {role, content}, not string'],
      [6, 'conversations[1].from "bot" is not one of human, gpt, system'],
      [7, '"chosen" must be an assistant (gpt) turn, not user'],
    ]);
  });

  test('a mixed file keeps the majority kind and reports the others', () => {
    const p = parseDataset(jsonl({ text: 'a' }, { instruction: 'i', output: 'o' }, { instruction: 'j', output: 'p' }), 'm.jsonl');
    expect(p.kind).toBe('instruction');
    expect(p.problems).toEqual([{ line: 1, index: 0, kept: false, message: 'a JSON text rows {text} row in a file of instruction rows; mixed files are not supported' }]);
  });

  test('JSON array: each element parsed alone, reported by index and starting line', () => {
    const text = [
      '[', // 1
      '  {"text": "one"},', // 2
      '  {"text": "two", "x": [1, 2}, ', // 3 broken element
      '  {"text":', // 4 element spanning lines 4-5 with an escaped quote and a "]" in a string
      '    "th\\"r]ee"},', // 5
      '  {"text": 4},', // 6
      '  ,', // 7 empty element
      '  {"text": "five"}', // 8
      ']', // 9
      'trailing', // 10
    ].join('\n');
    const p = parseDataset(text, 'arr.json');
    expect(p.source).toBe('json-array');
    expect(p.examples.map((e) => (e.kind === 'text' ? [e.line, e.index, e.text] : null))).toEqual([
      [2, 0, 'one'],
      [4, 2, 'th"r]ee'],
      [8, 5, 'five'],
    ]);
    expect(p.problems.map((q) => [q.line, q.index])).toEqual([
      [3, 1],
      [6, 3],
      [7, 4],
      [10, undefined],
    ]);
    expect(p.problems[0].message).toMatch(/not valid JSON/);
    expect(p.problems[1].message).toBe('"text" must be a string, not number');
    expect(p.problems[2].message).toMatch(/empty element/);
    expect(p.problems[3].message).toMatch(/after the closing "\]"/);
  });

  test('JSON array: a file cut short reports the unfinished element; the complete ones load', () => {
    const p = parseDataset('[\n{"text": "a"},\n{"text": "b"},\n{"text": "c', 'cut.json');
    expect(p.examples.map((e) => e.line)).toEqual([2, 3]);
    expect(p.problems.map((q) => q.line)).toEqual([4, 4]);
    expect(p.problems.map((q) => q.message).join('|')).toMatch(/ends inside this element.*\|the file ends inside a string/);
  });

  test('scanner: empty array, nested arrays and a trailing comma', () => {
    expect(jsonArrayRows('[]')).toEqual({ rows: [], structure: [] });
    expect(jsonArrayRows('[[1,[2]],{"a":"]"}]').rows.map((r) => r.value)).toEqual([[1, [2]], { a: ']' }]);
    const t = jsonArrayRows('[1,]');
    expect(t.rows.map((r) => r.error ?? r.value)).toEqual([1, expect.stringMatching(/empty element/)]);
  });
});

describe('where a problem is, in words a user can find it by', () => {
  test('a one-line JSON array names records by index, not "line 1"; JSON Lines and text by line', () => {
    const text = JSON.stringify([{ instruction: 'a', output: 'b' }, { instruction: 'c' }, { instruction: 'd', output: 'e' }, { instruction: 'f', output: '' }]);
    const ds = parseDataset(text, 'one-line.json');
    expect(ds.problems.map((p) => rowPlace(ds.source, p.line, p.index))).toEqual(['record 1', 'record 3']);
    const multi = parseDataset('[\n{"instruction": "a", "output": "b"},\n{"instruction": "c"}\n]', 'multi.json');
    expect(multi.problems.map((p) => rowPlace(multi.source, p.line, p.index))).toEqual(['record 1 (line 3)']);
    const lines = parseDataset(jsonl({ instruction: 'a', output: 'b' }, '', { instruction: 'c' }), 'rows.jsonl');
    expect(lines.problems.map((p) => rowPlace(lines.source, p.line, p.index))).toEqual(['line 3']);
  });

  test("Alpaca's <nooutput> rows are left out, not trained on", () => {
    const ds = parseDataset(JSON.stringify([{ instruction: 'draw a cat', input: '', output: '<nooutput>' }, { instruction: 'a', output: 'b' }, { instruction: 'c', output: ' <nooutput> ' }]), 'a.json');
    expect(ds.examples.map((e) => e.index)).toEqual([1]);
    expect(ds.problems).toEqual([
      { line: 1, index: 0, kept: false, message: expect.stringContaining('"output" is <nooutput>') },
      { line: 1, index: 2, kept: false, message: expect.stringContaining('nothing to learn') },
    ]);
  });
});

describe('hostile input', () => {
  test('conversations longer than MAX_TURNS are refused by row', () => {
    const messages = Array.from({ length: MAX_TURNS + 2 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'x' }));
    const p = parseDataset(jsonl({ messages }, { messages: messages.slice(0, 2) }), 'long.jsonl');
    expect(p.examples).toHaveLength(1);
    expect(p.problems[0].message).toBe(`${MAX_TURNS + 2} turns, more than the ${MAX_TURNS} one conversation may have`);
  });

  test('1000 random mutations of a valid file: every one parses or is a DatasetError', () => {
    const good = JSON.stringify(
      [
        { messages: [{ role: 'user', content: 'q "1"' }, { role: 'assistant', content: 'a [1]' }] },
        { conversations: [{ from: 'human', value: 'q\\n' }], chosen: { from: 'gpt', value: '{}' } },
        { instruction: 'i', input: '', output: 'o' },
      ],
      null,
      1,
    );
    const r = rng(11);
    const pick = (s: string) => s[Math.floor(r() * s.length)];
    let loaded = 0;
    for (let k = 0; k < 1000; k++) {
      let t = good;
      for (let m = 0; m < 1 + Math.floor(r() * 4); m++) {
        const i = Math.floor(r() * t.length);
        const op = Math.floor(r() * 3);
        t = op === 0 ? t.slice(0, i) + pick('[]{},:"\\\n x0') + t.slice(i) : op === 1 ? t.slice(0, i) + t.slice(i + 1) : t.slice(0, i);
      }
      for (const file of ['m.json', 'm.jsonl']) {
        try {
          const p = parseDataset(t, file);
          expect(p.examples.length).toBeGreaterThan(0);
          for (const q of p.problems) expect(q.line).toBeGreaterThanOrEqual(1);
          loaded++;
        } catch (e) {
          if (!(e instanceof DatasetError)) throw new Error(`mutation ${k} (${file}) threw ${String(e)} for ${JSON.stringify(t)}`);
        }
      }
    }
    console.log(`mutations: ${loaded} of 2000 parses loaded some rows, the rest were DatasetErrors`);
  });
});

describe('unusable files are a DatasetError naming the file and why', () => {
  const fails = (text: string, file: string, why: RegExp) => {
    let err: unknown;
    try {
      parseDataset(text, file);
    } catch (e) {
      err = e;
    }
    expect(err, file).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).file).toBe(file);
    expect((err as Error).message).toMatch(why);
  };

  test('empty, whitespace, binary, wrong format, no usable row', () => {
    fails('', 'empty.jsonl', /the file is empty/);
    fails(' \n\t\n', 'blank.txt', /only whitespace/);
    const r = rng(3);
    const bytes = Uint8Array.from({ length: 4096 }, () => Math.floor(r() * 256));
    fails(new TextDecoder().decode(bytes), 'garbage.bin', /does not look like text/);
    fails(new TextDecoder().decode(bytes), 'garbage.jsonl', /does not look like text/);
    fails('a,b,c\n1,2,3\n', 'table.json', /is not JSON: it starts with "a,b,c/);
    fails('[1, 2, 3]', 'numbers.json', /none of its 3 rows is usable: record 0: a row must be a JSON object, not number; record 1: /);
    fails('[]', 'none.json', /it holds no rows/);
    fails('{"a": 1}\n{"b": 2}\n', 'unknown.jsonl', /none of its 2 rows is usable/);
    fails('{not json\n{also not\n', 'bad.jsonl', /line 1: not valid JSON.*line 2: not valid JSON/);
  });

  test('a few stray control characters in real text are fine', () => {
    expect(parseDataset('form\ffeed and a bell\u0007 in a long enough line of ordinary text '.repeat(2) + 'plain words '.repeat(20), 'ok.txt').examples).toHaveLength(1);
  });
});
