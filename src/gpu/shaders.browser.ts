// Browser / worker shader loader: Vite inlines every shaders/*.wgsl as a string.
import { shaderLoaderFromMap, type ShaderLoader } from './shaders.ts';

const files = import.meta.glob('../../shaders/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

export const browserShaders: ShaderLoader = shaderLoaderFromMap(
  Object.fromEntries(Object.entries(files).map(([path, src]) => [path.replace(/^.*\//, '').replace(/\.wgsl$/, ''), src])),
);
