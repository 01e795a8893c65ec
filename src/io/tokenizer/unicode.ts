// Unicode helpers shared by the GGUF tokenizers: UTF-8 bytes, GPT-2's byte↔char
// table, and llama.cpp's "collapsed" code-point categories (unicode.cpp,
// unicode_regex_split) that let one plain regex stand for \p{L}, \p{N}, ...
// Categories come from the JS engine's Unicode tables; llama.cpp generates its own
// from UnicodeData.txt, so code points assigned in a newer Unicode version than
// either side knows may classify differently.

const encoder = new TextEncoder();
// ignoreBOM: a leading U+FEFF is text here, not a byte-order mark to drop.
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other
 * 68 bytes to U+0100.. in byte order, so every byte string becomes printable text.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out: string[] = new Array(256);
  const keep = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(keep(b) ? b : 256 + n++);
  return out;
})();

export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** UTF-8 bytes of `text`, each written as its GPT-2 byte character. */
export function byteEncode(text: string): string {
  let s = '';
  for (const b of utf8(text)) s += BYTE_TO_CHAR[b];
  return s;
}

/** llama.cpp's whitespace set (Unicode White_Space; unlike JS \s it has U+0085 and lacks U+FEFF). */
const WHITESPACE = /^\p{White_Space}$/u;

/** Placeholder characters of the collapsed text (llama.cpp k_ucat_cpt), and 0xD0 for any other category. */
export const COLLAPSED = { number: '\xD1', letter: '\xD2', punctuation: '\xD3', mark: '\xD4', symbol: '\xD5', other: '\xD0', space: '\x0B' };

const CATEGORY: [RegExp, string][] = [
  [/^\p{N}$/u, COLLAPSED.number],
  [/^\p{L}$/u, COLLAPSED.letter],
  [/^\p{P}$/u, COLLAPSED.punctuation],
  [/^\p{M}$/u, COLLAPSED.mark],
  [/^\p{S}$/u, COLLAPSED.symbol],
];

const collapseCache = new Map<string, string>();

/** One character standing for a non-ASCII code point: 0x0B for whitespace, else its category placeholder. */
function collapseChar(ch: string): string {
  let c = collapseCache.get(ch);
  if (c === undefined) {
    c = WHITESPACE.test(ch) ? COLLAPSED.space : (CATEGORY.find(([re]) => re.test(ch))?.[1] ?? COLLAPSED.other);
    if (collapseCache.size < 65536) collapseCache.set(ch, c);
  }
  return c;
}

/** Text with one char per code point: ASCII kept, the rest replaced by its category placeholder. */
export function collapse(codePoints: readonly string[]): string {
  let s = '';
  for (const ch of codePoints) s += ch.length === 1 && ch.charCodeAt(0) < 128 ? ch : collapseChar(ch);
  return s;
}

/** Code points kept, except non-ASCII whitespace which becomes 0x0B (llama.cpp's std::wregex path). */
export function spaceFolded(codePoints: readonly string[]): string {
  let s = '';
  for (const ch of codePoints) s += ch.length === 1 && ch.charCodeAt(0) < 128 ? ch : WHITESPACE.test(ch) ? COLLAPSED.space : ch;
  return s;
}
