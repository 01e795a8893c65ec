// Splitting JSON text into rows without trusting it: JSON Lines (one value per
// line) and a top-level JSON array whose elements are found by a small scanner
// (strings, escapes and bracket depth) and parsed one at a time. So one broken
// row costs only that row, and every row keeps the line it started on.

/** A row as found in the file: its parsed value, or why it did not parse. */
export interface RawRow {
  /** 1-based line where the row starts. */
  line: number;
  /** 0-based row number (JSONL: among non-blank lines; array: element index). */
  index: number;
  value?: unknown;
  error?: string;
}

function parseValue(text: string): { value?: unknown; error?: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    // V8 says e.g. "Unexpected token } in JSON at position 12": position is within the row.
    return { error: `not valid JSON: ${(e as Error).message}` };
  }
}

/** Every non-blank line parsed on its own. CRLF endings are accepted. */
export function jsonlRows(text: string): RawRow[] {
  const rows: RawRow[] = [];
  let line = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    const raw = text.slice(start, end).replace(/\r$/, '');
    if (raw.trim() !== '') rows.push({ line, index: rows.length, ...parseValue(raw) });
    start = end + 1;
  }
  return rows;
}

/** Elements of a top-level JSON array, plus structural problems (stray text, unclosed array). */
export interface ArrayScan {
  rows: RawRow[];
  /** Problems outside any one element: { line, message }. */
  structure: { line: number; message: string }[];
}

const WS = new Set([' ', '\t', '\n', '\r']);

/**
 * Scans `text` (which must start, after whitespace, with "[") element by element.
 * A stack of the open brackets outside strings tells where an element ends: at a
 * comma or the closing "]" with only the top-level array open. A closing bracket
 * that does not match the innermost opener closes back to its nearest match (a
 * missing "]" in one element then costs that element only); one with no match
 * stays inside the element, whose own JSON.parse reports it.
 */
export function jsonArrayRows(text: string): ArrayScan {
  const rows: RawRow[] = [];
  const structure: ArrayScan['structure'] = [];
  let i = 0;
  let line = 1;
  while (i < text.length && WS.has(text[i])) if (text[i++] === '\n') line++;
  if (text[i] !== '[') return { rows, structure: [{ line, message: 'expected a JSON array starting with "["' }] };
  i++;

  const open: string[] = ['['];
  let inString = false;
  let elemStart = -1;
  let elemLine = line;
  let closed = false;
  const endElement = (end: number, atLine: number) => {
    if (elemStart < 0) {
      rows.push({ line: atLine, index: rows.length, error: 'empty element (two commas in a row, or a comma before "]")' });
      return;
    }
    rows.push({ line: elemLine, index: rows.length, ...parseValue(text.slice(elemStart, end)) });
    elemStart = -1;
  };

  for (; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') {
        if (text[i + 1] === '\n') line++;
        i++;
      } else if (c === '"') inString = false;
      continue;
    }
    if (open.length === 1 && elemStart < 0 && !WS.has(c) && c !== ',' && c !== ']') {
      elemStart = i;
      elemLine = line;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') open.push(c);
    else if (c === '}' || c === ']') {
      const match = open.lastIndexOf(c === '}' ? '{' : '[');
      if (match > 0) open.length = match;
      else if (match === 0) {
        // The closing bracket of the top-level array. "[]" and "[x]" end here; "[x,]" reports the empty slot.
        if (elemStart >= 0 || rows.length > 0) endElement(i, line);
        closed = true;
        i++;
        break;
      }
    } else if (c === ',' && open.length === 1) endElement(i, line);
  }

  if (!closed) {
    if (elemStart >= 0) rows.push({ line: elemLine, index: rows.length, error: 'the file ends inside this element (a missing "}", "]" or closing quote)' });
    structure.push({ line, message: inString ? 'the file ends inside a string' : 'the file ends before the array\'s closing "]"' });
  } else {
    for (; i < text.length; i++) {
      if (text[i] === '\n') line++;
      else if (!WS.has(text[i])) {
        structure.push({ line, message: 'text after the closing "]" of the array is ignored' });
        break;
      }
    }
  }
  return { rows, structure };
}
