// Node shader loader: reads shaders/*.wgsl from disk once, next to the sources.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { shaderLoaderFromMap, type ShaderLoader } from './shaders.ts';

const dir = fileURLToPath(new URL('../../shaders/', import.meta.url));

export function nodeShaders(): ShaderLoader {
  const map: Record<string, string> = {};
  for (const f of readdirSync(dir)) if (f.endsWith('.wgsl')) map[f.slice(0, -5)] = readFileSync(dir + f, 'utf8');
  for (const f of readdirSync(dir + 'include')) if (f.endsWith('.wgsl')) map[`include/${f.slice(0, -5)}`] = readFileSync(`${dir}include/${f}`, 'utf8');
  return shaderLoaderFromMap(map);
}
