// 200 deterministic test strings for tokenizer comparisons: hand-picked edge cases
// (empty, whitespace runs, numbers, contractions, accents, CJK, emoji and ZWJ
// sequences, RTL, control characters, special-token look-alikes) followed by
// seeded random mixtures of them.
import { rng } from '../../src/gpu/random.ts';

const EDGE: string[] = [
  '', ' ', '  ', '   ', '\t', '\n', '\n\n\n', ' \n ', '\r\n', '\t\t  \n', 'a', ' a', 'a ', '  a  b  ', 'a\tb\nc',
  'Hello world', ' Hello world', 'Hello  world', 'Hello world ', 'HELLO World hello', 'Once upon a time, there was a little girl named Lily.',
  'The quick brown fox jumps over the lazy dog.', "it's", "don't you're we'll I'm they've she'd", "'s 't 're 'S 'LL", 'rock n roll',
  '0', '12', '123', '1234', '12345678901234567890', '3.14159', '1,000,000', '-42', '2024-01-31', 'v1.2.3', 'x=1+2*3',
  'Hello, world!', '(a) [b] {c}', '--->', '...', '$100 + 5% = ?', 'a@b.com', '#tag', '~/path/to/file.txt', '"quoted"', '«guillemets»',
  'café', 'naïve résumé', 'Ångström', 'e\u0301', 'Œuvre', 'Ñandú', 'straße', 'İstanbul', 'ǅ', 'ﬁ',
  '你好，世界', '日本語のテキスト', '한국어 문장', '中文 and English', '　全角スペース',
  '😀', '👩‍👩‍👧‍👦', '👍🏽', '🏳️‍🌈', '❤️', 'I ❤️ 🍕!', '🇫🇷🇯🇵',
  'שלום עולם', 'مرحبا بالعالم', 'abc שלום def', 'Привет, мир', 'Γειά σου', 'नमस्ते दुनिया', 'สวัสดี',
  '\u0000', '\u0007bell', 'a\u001bb', '\u200b', '\ufeffx', 'non\u00a0breaking', 'nel\u0085line', 'tab\u000bvtab', 'x\u2028y',
  '<s>', '</s>', '<unk>', '<s> x </s>', 'a<s>b', '<|im_start|>user', '<0x41>', '▁', '▁▁a', 'Ġhello',
  '    def f(x):\n        return x\n', 'if (a && b) { return; }', '<html><body>hi</body></html>', 'SELECT * FROM t;',
];

const POOL = [
  ...EDGE.filter((s) => s !== ''),
  'the', 'and', ' of', 'little', 'dog', 'ran', 'happy', 'sun', 'tree', ',', '.', '!', '?', ' ', '  ', '\n', '\t', '7', '42', '1999',
];


export function tokenizerTestStrings(count = 200): string[] {
  const out = EDGE.slice(0, count);
  const r = rng(0x5eed);
  while (out.length < count) {
    const parts = 2 + Math.floor(r() * 6);
    let s = '';
    for (let i = 0; i < parts; i++) s += POOL[Math.floor(r() * POOL.length)] + (r() < 0.5 ? ' ' : '');
    out.push(s);
  }
  return out;
}

/** Strings free of special-token texts (for round trips, where "<s>" would become a control token). */
export function plainTestStrings(count = 200): string[] {
  return tokenizerTestStrings(count).filter((s) => !/<\/?s>|<unk>|<\|/.test(s));
}

/**
 * Compares two tokenizations of every string; prints how many were compared and the
 * first mismatch in full, and returns the number of mismatches (the test asserts 0).
 */
export function compareTokenizations(
  label: string,
  strings: readonly string[],
  ours: (s: string) => number[],
  ref: (s: string) => number[],
): number {
  let bad = 0;
  let first = '';
  for (const s of strings) {
    const a = ours(s);
    const b = ref(s);
    if (a.length === b.length && a.every((x, i) => x === b[i])) continue;
    if (bad++ === 0) first = `\n  first mismatch: ${JSON.stringify(s)}\n  ours:      ${JSON.stringify(a)}\n  reference: ${JSON.stringify(b)}`;
  }
  console.log(`${label}: compared ${strings.length} strings, ${bad} mismatches${first}`);
  return bad;
}
