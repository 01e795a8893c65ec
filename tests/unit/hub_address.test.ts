// Repo ids, hf:// addresses and the model choices a repo listing offers.
import { describe, expect, it } from 'vitest';
import { resolveHubArgs } from '../../src/cli/hub_path.ts';
import { modelChoices } from '../../src/hub/choices.ts';
import { HubAddressError } from '../../src/hub/errors.ts';
import { normalizeEndpoint, parseHubAddress, parseRepoId, repoOfCacheFolder, cacheFolderName } from '../../src/hub/repo.ts';

describe('hub addresses', () => {
  it('reads repo ids as typed or pasted', () => {
    expect(parseRepoId(' HuggingFaceTB/SmolLM2-135M-Instruct ')).toEqual({ type: 'model', name: 'HuggingFaceTB/SmolLM2-135M-Instruct' });
    expect(parseRepoId('https://huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF/tree/main')).toEqual({
      type: 'model',
      name: 'bartowski/Llama-3.2-1B-Instruct-GGUF',
    });
    expect(parseRepoId('datasets/tatsu-lab/alpaca')).toEqual({ type: 'dataset', name: 'tatsu-lab/alpaca' });
    for (const bad of ['', 'justaname', 'a/b/c', 'a/..', 'own er/x']) expect(() => parseRepoId(bad)).toThrow(HubAddressError);
  });

  it('splits hf:// into repo and file', () => {
    expect(parseHubAddress('hf://o/r')).toEqual({ repo: { type: 'model', name: 'o/r' }, file: null });
    expect(parseHubAddress('hf://o/r/sub/m.Q4_0.gguf')).toEqual({ repo: { type: 'model', name: 'o/r' }, file: 'sub/m.Q4_0.gguf' });
    expect(parseHubAddress('hf://datasets/o/r/train.txt')).toEqual({ repo: { type: 'dataset', name: 'o/r' }, file: 'train.txt' });
    expect(() => parseHubAddress('hf://o')).toThrow(/names no repo/);
    expect(() => parseHubAddress('hf://o/r/../../etc/passwd')).toThrow(HubAddressError);
  });

  it('normalizes the endpoint and refuses what is not http(s)', () => {
    expect(normalizeEndpoint(undefined)).toBe('https://huggingface.co');
    expect(normalizeEndpoint('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080');
    expect(() => normalizeEndpoint('file:///etc')).toThrow(HubAddressError);
  });

  it('cache folder names round-trip', () => {
    const repo = { type: 'model' as const, name: 'HuggingFaceTB/SmolLM2-135M-Instruct' };
    expect(cacheFolderName(repo)).toBe('models--HuggingFaceTB--SmolLM2-135M-Instruct');
    expect(repoOfCacheFolder(cacheFolderName(repo))).toEqual(repo);
  });
});

describe('model choices of a listing', () => {
  it('one choice per GGUF variant, projectors left out, the safetensors set with its companions', () => {
    const files = [
      { path: 'README.md', size: 10 },
      { path: 'm-Q4_K_M.gguf', size: 400 },
      { path: 'm-Q8_0.gguf', size: 800 },
      { path: 'mmproj-m-f16.gguf', size: 90 },
      { path: 'config.json', size: 1 },
      { path: 'tokenizer.json', size: 2 },
      { path: 'model-00002-of-00002.safetensors', size: 50 },
      { path: 'model-00001-of-00002.safetensors', size: 60 },
      { path: 'model.safetensors.index.json', size: 3 },
      { path: 'onnx/model.safetensors', size: 70 },
    ];
    const c = modelChoices(files);
    expect(c.map((x) => x.label)).toEqual(['Q4_K_M (m-Q4_K_M.gguf)', 'Q8_0 (m-Q8_0.gguf)', 'safetensors (5 files)']);
    expect(c[2].files).toEqual(['config.json', 'tokenizer.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(c[2].bytes).toBe(116);
  });

  it('no config.json: the safetensors are not offered as a model', () => {
    expect(modelChoices([{ path: 'adapter_model.safetensors', size: 5 }])).toEqual([]);
  });
});

describe('hf:// arguments of the CLI', () => {
  it('only positionals and input options are fetched; a prompt or an output that starts with hf:// is left alone', async () => {
    const values = { prompt: 'hf://not/a-path', out: 'hf://o/r', json: true };
    const noHub = () => {
      throw new Error('no Hub should be asked for these arguments');
    };
    expect(await resolveHubArgs(values, ['model.gguf'], noHub)).toEqual({ values, positionals: ['model.gguf'] });
  });
});
