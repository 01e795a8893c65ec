// Public entry of the tokenizer module: one Tokenizer interface (types.ts) built
// from Hugging Face files (hf.ts) or from GGUF metadata (gguf.ts).
export type { ChatMessage, ChatTemplateOptions, DecodeOptions, EncodeOptions, Tokenizer, TokenizerKind } from './types.ts';
export { tokenizerFromHf, type HfTokenizerFiles } from './hf.ts';
export { tokenizerFromGguf, type KvMap } from './gguf.ts';
