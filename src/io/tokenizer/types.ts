// The one tokenizer interface the engine uses, whatever the source: a Hugging
// Face tokenizer.json (+ tokenizer_config.json) or the tokenizer.ggml.* metadata
// of a GGUF file. Token ids are plain numbers; text is a JS string (lone UTF-16
// surrogates are replaced by U+FFFD before encoding, as llama.cpp sees them).

export type TokenizerKind = 'hf' | 'gguf-llama' | 'gguf-gpt2';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface EncodeOptions {
  /**
   * Prepend the BOS token. Default: the model's own setting
   * (GGUF tokenizer.ggml.add_bos_token / llama.cpp's per-model default; HF add_bos_token).
   */
  addBos?: boolean;
  /**
   * Map special-token text in the input (e.g. "<|im_start|>", "<s>") to its id. Default true, which is
   * what a rendered chat template needs. false applies to GGUF tokenizers only (llama.cpp's
   * parse_special=false: control tokens are then spelled out as text); HF tokenizers always split
   * added tokens, so false throws there.
   */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Drop control/unknown tokens (BOS, EOS, <unk>, <|im_start|>...) instead of spelling them. Default false. */
  skipSpecial?: boolean;
}

export interface ChatTemplateOptions {
  /** Append the assistant-turn opener so the model continues as the assistant. */
  addGenerationPrompt: boolean;
}

export interface Tokenizer {
  readonly kind: TokenizerKind;
  /** Number of token ids (embedding rows the ids index). */
  readonly vocabSize: number;
  /** Beginning-of-sequence id, or null when the tokenizer has none. */
  readonly bosId: number | null;
  /** Every id that ends generation (EOS, end-of-turn...). */
  readonly eosIds: readonly number[];
  /** Whether encode() prepends BOS when EncodeOptions.addBos is not given. */
  readonly addBosDefault: boolean;
  encode(text: string, options?: EncodeOptions): number[];
  /** Text of the ids; invalid UTF-8 (a split multi-byte character) becomes U+FFFD. */
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /** Text of one token as the vocabulary spells it (for display and debugging), or undefined if out of range. */
  tokenText(id: number): string | undefined;
  /** Present when the files carry a chat template. */
  applyChatTemplate?(messages: readonly ChatMessage[], options: ChatTemplateOptions): string;
}

/** Replaces lone UTF-16 surrogates by U+FFFD (what UTF-8 conversion does to them in llama.cpp and HF). */
export function wellFormed(text: string): string {
  const s = text as string & { toWellFormed?: () => string };
  if (typeof s.toWellFormed === 'function') return s.toWellFormed();
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}
