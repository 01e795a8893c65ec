// The root of sub4's typed errors, and the file-format errors every layer may
// throw. Each message says what failed in plain words and names the file; the
// class name survives the worker boundary (src/worker/protocol.ts). This is the
// one module below every layer (src/base imports nothing).

export class Sub4Error extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

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
