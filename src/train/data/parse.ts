// A dropped data file (its text and name) → examples + problems. The format is
// chosen from the name and the first character: .txt (or anything not starting
// like JSON) is one plain-text document; .jsonl/.ndjson, or JSON text starting
// with "{", is JSON Lines; text starting with "[" is one JSON array. Each row's
// layout is recognized from its fields (rows.ts); a file mixing kinds keeps the
// majority kind and reports the other rows.
import { DatasetError } from './errors.ts';
import { jsonArrayRows, jsonlRows, type RawRow } from './json_rows.ts';
import { rowPlace } from './place.ts';
import { LAYOUT_KIND, LAYOUT_NAME, rowExamples, type RowLayout } from './rows.ts';
import type { Example, ExampleKind, ParsedDataset, Problem, SourceFormat } from './types.ts';

/** At most this share of control characters / U+FFFD in the sampled text before it counts as binary. */
const BINARY_SHARE = 0.01;
const SAMPLE = 65536;

/** Refuses text that is really bytes: NULs, other C0 controls, or U+FFFD (what invalid UTF-8 decodes to). */
function checkLooksLikeText(text: string, file: string): void {
  const n = Math.min(text.length, SAMPLE);
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x0c) || c === 0xfffd) bad++;
  }
  if (bad > 0 && bad >= n * BINARY_SHARE)
    throw new DatasetError(file, `does not look like text: ${bad} of the first ${n} characters are control characters or invalid UTF-8 (is it a binary file?)`);
}

function extension(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  const dot = base.lastIndexOf('.');
  return dot < 0 ? '' : base.slice(dot + 1).toLowerCase();
}

/** How to read the file: by extension first, then by its first non-blank character. */
export function detectSource(text: string, file: string): SourceFormat {
  const ext = extension(file);
  if (ext === 'txt' || ext === 'text' || ext === 'md') return 'txt';
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  const first = text.trimStart()[0];
  if (first === '[') return 'json-array';
  if (first === '{') return 'jsonl'; // a single object, or JSON Lines named .json
  if (ext === 'json') throw new DatasetError(file, `is not JSON: it starts with ${JSON.stringify(text.trimStart().slice(0, 20))}, not "[" or "{"`);
  return 'txt';
}

/** Problems in file order; on one line, row problems before whole-file ones (no index). */
export function byLine(a: Problem, b: Problem): number {
  return a.line - b.line || (a.index ?? Number.MAX_SAFE_INTEGER) - (b.index ?? Number.MAX_SAFE_INTEGER);
}

function summarize(problems: readonly Problem[], source: SourceFormat): string {
  const shown = problems.slice(0, 3).map((p) => `${rowPlace(source, p.line, p.index)}: ${p.message}`);
  return shown.join('; ') + (problems.length > 3 ? `; and ${problems.length - 3} more` : '');
}

function parseRows(rows: RawRow[], structure: { line: number; message: string }[], file: string, source: SourceFormat): ParsedDataset {
  const problems: Problem[] = structure.map((s) => ({ line: s.line, message: s.message, kept: false }));
  const results: { row: RawRow; layout?: RowLayout; examples: Example[]; label?: boolean }[] = [];
  for (const row of rows) {
    if (row.error !== undefined) {
      problems.push({ line: row.line, index: row.index, message: row.error, kept: false });
      continue;
    }
    const r = rowExamples(row.value, { line: row.line, index: row.index });
    if (r.errors.length) problems.push({ line: row.line, index: row.index, message: r.errors.join('; '), kept: r.examples.length > 0 });
    if (r.examples.length) results.push({ row, layout: r.layout, examples: r.examples, label: r.label });
  }
  if (results.length === 0) {
    const why = rows.length === 0 ? 'it holds no rows' : `none of its ${rows.length} rows is usable: ${summarize(problems, source)}`;
    throw new DatasetError(file, why);
  }

  // The majority kind wins; a tie goes to the kind seen first.
  const counts = new Map<ExampleKind, number>();
  for (const r of results) counts.set(LAYOUT_KIND[r.layout!], (counts.get(LAYOUT_KIND[r.layout!]) ?? 0) + 1);
  let kind = LAYOUT_KIND[results[0].layout!];
  for (const [k, n] of counts) if (n > counts.get(kind)!) kind = k;

  const examples: Example[] = [];
  const layouts = new Map<RowLayout, number>();
  let undesirable = 0;
  for (const r of results) {
    if (LAYOUT_KIND[r.layout!] !== kind) {
      problems.push({ line: r.row.line, index: r.row.index, message: `a ${LAYOUT_NAME[r.layout!]} row in a file of ${kind} rows; mixed files are not supported`, kept: false });
      continue;
    }
    layouts.set(r.layout!, (layouts.get(r.layout!) ?? 0) + 1);
    if (r.label === false) undesirable++;
    examples.push(...r.examples);
  }
  problems.sort(byLine);

  const notes: string[] = [];
  if (undesirable > 0)
    notes.push(`${undesirable} rows have "label": false (KTO: an undesirable answer); labels are not used, so they are trained on like the others`);
  if (layouts.has('sharegpt-dpo')) notes.push('DPO rows: the conversation + "chosen" is trained on; "rejected" is not used');
  const detail = [...layouts.keys()].map((l) => LAYOUT_NAME[l]).join(' + ');
  return { file, source, kind, detail, examples, problems, notes };
}

/**
 * Parses a training data file. Rows that fail come back as problems with their
 * line; a file with no usable row throws DatasetError naming the file and why.
 */
export function parseDataset(text: string, file: string): ParsedDataset {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a UTF-8 byte-order mark
  if (text.trim() === '') throw new DatasetError(file, text.length === 0 ? 'the file is empty' : 'the file holds only whitespace');
  checkLooksLikeText(text, file);
  const source = detectSource(text, file);
  if (source === 'txt')
    return { file, source, kind: 'text', detail: 'plain text (one document)', examples: [{ kind: 'text', line: 1, index: 0, text }], problems: [], notes: [] };
  if (source === 'jsonl') return parseRows(jsonlRows(text), [], file, source);
  const scan = jsonArrayRows(text);
  return parseRows(scan.rows, scan.structure, file, source);
}
