// Pre-tokenizers of GGUF "gpt2" (byte-level BPE) vocabularies: the regex lists that
// llama.cpp's llm_tokenizer_bpe picks by tokenizer.ggml.pre (src/llama-vocab.cpp), and
// its splitting procedure (unicode_regex_split in src/unicode.cpp): each regex in turn
// splits every piece left by the previous one, keeping matched and unmatched spans.
// Regexes with \p{..} classes run on "collapsed" text (one placeholder char per
// non-ASCII category), the others on the code points with non-ASCII spaces folded to
// 0x0B, as llama.cpp does; JS RegExp and std::regex share ECMAScript semantics.
import { TokenizerError } from '../../base/errors.ts';
import { collapse, spaceFolded } from './unicode.ts';

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

export interface PreTokenizer {
  /** The tokenizer.ggml.pre value it was chosen for ("default" when the key is absent). */
  name: string;
  regexes: readonly string[];
  /** llama3-style: a whole word that is already a token skips the merges. */
  ignoreMerges: boolean;
  /** llama.cpp's add_bos default for this pre-tokenizer (tokenizer.ggml.add_bos_token overrides it). */
  addBos: boolean;
}

const FAMILIES: { names: string[]; regexes: string[]; ignoreMerges?: boolean; addBos?: boolean }[] = [
  { names: ['default'], regexes: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'] },
  { names: ['gpt-2', 'phi-2', 'mpt', 'olmo', 'jais', 'roberta-bpe', 'jina-v1-en', 'jina-v2-code', 'jina-es', 'jina-de', 'jina-v2-es', 'jina-v2-de', 'gigachat', 'mellum', 'modern-bert', 'a.x-4.0'], regexes: [GPT2] },
  { names: ['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2', 'jina-v5-nano'], regexes: [LLAMA3], ignoreMerges: true, addBos: true },
  { names: ['dbrx', 'smaug-bpe'], regexes: [LLAMA3] },
  { names: ['qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2', 'stablelm2'], regexes: [QWEN2] },
  { names: ['starcoder', 'refact', 'command-r', 'smollm', 'codeshell', 'exaone', 'minerva'], regexes: ['\\p{N}', GPT2] },
  { names: ['falcon'], regexes: ['[\\p{P}\\$\\+<=>\\^~\\|`]+', GPT2, '[0-9][0-9][0-9]'] },
  { names: ['deepseek-coder'], regexes: ['[\r\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', '[\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+', '\\p{N}'] },
  {
    names: ['deepseek-llm'],
    regexes: [
      '[\r\n]',
      '\\s?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}' +
        '\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}' +
        '\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}' +
        '\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}' +
        '\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}' +
        '\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}' +
        '\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}' +
        '\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}' +
        '\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}' +
        '\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}' +
        '\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}' +
        '\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}' +
        '\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}' +
        '\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+',
      '\\s?[!-/:-~\u{FF01}-\u{FF0F}\u{FF1A}-\u{FF5E}\u{2018}-\u{201F}\u{3000}-\u{3002}]+',
      '\\s+$',
      '[\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+',
      '\\p{N}+',
    ],
  },
];

/** The pre-tokenizer for a tokenizer.ggml.pre value (undefined → "default", as llama.cpp). */
export function preTokenizerFor(pre: string | undefined, file: string): PreTokenizer {
  const name = pre === undefined || pre === '' ? 'default' : pre;
  const fam = FAMILIES.find((f) => f.names.includes(name));
  if (!fam) {
    const known = FAMILIES.flatMap((f) => f.names).join(', ');
    throw new TokenizerError(file, `pre-tokenizer "${name}" (tokenizer.ggml.pre) is not supported; supported: ${known}`);
  }
  return { name, regexes: fam.regexes, ignoreMerges: fam.ignoreMerges ?? false, addBos: fam.addBos ?? false };
}

// ASCII members of each category (llama.cpp k_ucat_map) and the placeholder of its
// non-ASCII members, as character-class bodies.
const CLASS: Record<string, string> = {
  N: '\\xD1\\x30-\\x39',
  L: '\\xD2\\x41-\\x5A\\x61-\\x7A',
  P: '\\xD3\\x21-\\x23\\x25-\\x2A\\x2C-\\x2F\\x3A-\\x3B\\x3F-\\x40\\x5B-\\x5D\\x5F\\x7B\\x7D',
  M: '\\xD4',
  S: '\\xD5\\x24\\x2B\\x3C-\\x3E\\x5E\\x60\\x7C\\x7E',
};
// std::regex's \s on char/wchar_t is ASCII whitespace only; JS \s also matches U+FEFF and more.
const SPACE = '\\t\\n\\v\\f\\r ';

interface CompiledRegex {
  re: RegExp;
  collapsed: boolean;
}

/** Rewrites one llama.cpp regex for JS: \p{X} → placeholder+ASCII class, \s/\S → ASCII whitespace. */
function compile(src: string): CompiledRegex {
  const collapsed = /\\p\{[A-Z]\}/.test(src);
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      const d = src[i + 1];
      const p = d === 'p' ? /^\\p\{([A-Z])\}/.exec(src.slice(i)) : null;
      if (p) {
        const body = CLASS[p[1]];
        if (body === undefined) throw new Error(`unknown class ${p[0]} in ${src}`);
        out += inClass ? body : `[${body}]`;
        i += p[0].length - 1;
      } else if (d === 's') {
        out += inClass ? SPACE : `[${SPACE}]`;
        i++;
      } else if (d === 'S') {
        if (inClass) throw new Error(`\\S inside a class is not supported in ${src}`);
        out += `[^${SPACE}]`;
        i++;
      } else {
        out += c + d;
        i++;
      }
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    out += c;
  }
  return { re: new RegExp(out, collapsed ? 'g' : 'gu'), collapsed };
}

const compiled = new Map<string, CompiledRegex>();

/** Splits `cps` (the code points of one raw fragment) into words; each word is a list of code points. */
export function preTokenize(pre: PreTokenizer, cps: readonly string[]): string[][] {
  let lengths = cps.length === 0 ? [] : [cps.length];
  let collapsedText: string | undefined;
  let foldedText: string | undefined;
  for (const src of pre.regexes) {
    let c = compiled.get(src);
    if (!c) compiled.set(src, (c = compile(src)));
    const text = c.collapsed ? (collapsedText ??= collapse(cps)) : (foldedText ??= spaceFolded(cps));
    const chars = Array.from(text);
    const next: number[] = [];
    let start = 0; // in code points
    for (const len of lengths) {
      const piece = chars.slice(start, start + len).join('');
      splitOne(c.re, piece, next);
      start += len;
    }
    lengths = next;
  }
  const words: string[][] = [];
  let at = 0;
  for (const len of lengths) {
    words.push(cps.slice(at, at + len));
    at += len;
  }
  return words;
}

/** Appends the code-point lengths of the matched and unmatched spans of `piece` (std::regex_iterator). */
function splitOne(re: RegExp, piece: string, out: number[]): void {
  re.lastIndex = 0;
  let last = 0; // UTF-16 index
  const cpLen = (a: number, b: number) => Array.from(piece.slice(a, b)).length;
  for (let m = re.exec(piece); m !== null; m = re.exec(piece)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    if (m.index > last) out.push(cpLen(last, m.index));
    out.push(cpLen(m.index, m.index + m[0].length));
    last = m.index + m[0].length;
  }
  if (last < piece.length) out.push(cpLen(last, piece.length));
}
