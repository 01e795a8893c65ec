// Where a row is, in words a user can find it by. A JSON array is often one
// line (Alpaca's files are), so "line 1" would name every row alike: its
// elements are named by their 0-based index, as `data[2335]` or jq's `.[2335]`
// reach them. JSON Lines and text files are named by line.
import type { SourceFormat } from './types.ts';

/** "record 2335" in a JSON array (", line N" added when the array spans lines), else "line N". */
export function rowPlace(source: SourceFormat, line: number, index?: number): string {
  if (source !== 'json-array' || index === undefined) return `line ${line}`;
  return line > 1 ? `record ${index} (line ${line})` : `record ${index}`;
}
