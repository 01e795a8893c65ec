// One shader loader interface for both platforms. WGSL lives in shaders/, one
// kernel per file; the browser build inlines the files with Vite's `?raw`
// (shaders.browser.ts) and Node reads them from disk (shaders.node.ts).

export interface ShaderLoader {
  /** WGSL source of `shaders/<name>.wgsl`; throws if there is no such file. */
  load(name: string): string;
}

export class ShaderNotFoundError extends Error {
  constructor(name: string, known: string[]) {
    super(`No shader named "${name}" in shaders/ (known: ${known.join(', ') || 'none'})`);
    this.name = 'ShaderNotFoundError';
  }
}

const INCLUDE = /^[ \t]*\/\/ #include ([a-z0-9_]+)[ \t]*$/gm;

/**
 * Build a loader from a map of file name (without .wgsl; helpers as
 * "include/<name>") to source. A line `// #include name` (a WGSL comment, so
 * the file stays valid WGSL for tools) is replaced by shaders/include/name.wgsl:
 * WGSL has no includes, and the code decoders must not be copied per kernel.
 */
export function shaderLoaderFromMap(sources: Record<string, string>): ShaderLoader {
  const known = () => Object.keys(sources).filter((k) => !k.startsWith('include/')).sort();
  return {
    load(name) {
      const src = sources[name];
      if (src === undefined || name.startsWith('include/')) throw new ShaderNotFoundError(name, known());
      return src.replace(INCLUDE, (_, inc: string) => {
        const body = sources[`include/${inc}`];
        if (body === undefined) throw new ShaderNotFoundError(`include/${inc} (included by ${name})`, known());
        return body;
      });
    },
  };
}
