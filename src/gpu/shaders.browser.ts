// Browser / worker shader loader: Vite inlines every shaders/*.wgsl (and the
// shaders/include/ helpers) as strings.
import { shaderLoaderFromMap, type ShaderLoader } from './shaders.ts';

const files = import.meta.glob(['../../shaders/*.wgsl', '../../shaders/include/*.wgsl'], { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

export const browserShaders: ShaderLoader = shaderLoaderFromMap(
  Object.fromEntries(Object.entries(files).map(([path, src]) => [path.replace(/^.*shaders\//, '').replace(/\.wgsl$/, ''), src])),
);
