// Typed errors for model files. Every message names the file and what is wrong,
// in words a user can act on; parsers throw these and nothing else for bad bytes.
import { Sub4Error } from '../gpu/errors.ts';

export class FormatError extends Sub4Error {
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}
export class SafetensorsError extends FormatError {}
export class GgufError extends FormatError {}
export class ConfigError extends FormatError {}
export class TokenizerError extends FormatError {}
/** A well-formed file using a feature sub4 does not support (e.g. IQ* block types). */
export class UnsupportedError extends FormatError {}
