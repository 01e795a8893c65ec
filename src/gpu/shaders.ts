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

/** Build a loader from a map of file name (without .wgsl) to source. */
export function shaderLoaderFromMap(sources: Record<string, string>): ShaderLoader {
  return {
    load(name) {
      const src = sources[name];
      if (src === undefined) throw new ShaderNotFoundError(name, Object.keys(sources).sort());
      return src;
    },
  };
}
