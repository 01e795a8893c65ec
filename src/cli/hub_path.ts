// hf://owner/repo[/file] wherever a command takes an input path: before a
// command runs, each such argument is replaced by its local copy in the Hub
// clients' shared cache (src/hub/cache.node.ts), downloaded on first use.
// Settings come from the environment as the Python client reads them:
// HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (or
// HUGGING_FACE_HUB_TOKEN) for gated and private repos, HF_HUB_CACHE / HF_HOME for
// the cache. Nothing is requested unless an argument is an hf:// address.
import { cachedFile, cachedRepo } from '../hub/cache.node.ts';
import { isHubAddress, normalizeEndpoint, parseHubAddress } from '../hub/repo.ts';

/**
 * Options that name a file or folder to read (every command's positionals are paths too). Others (--out, --prompt)
 * are left as typed: a prompt may begin with hf:// and an output is never fetched.
 */
const INPUTS = new Set(['data', 'eval-data', 'lora', 'base']);

export interface HubEnv {
  endpoint: string;
  token?: string;
  /** Progress lines (stderr in the CLI). */
  log(line: string): void;
}

export function hubEnv(env: NodeJS.ProcessEnv = process.env): HubEnv {
  return {
    endpoint: normalizeEndpoint(env.HF_ENDPOINT),
    token: env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined,
    log: (line) => process.stderr.write(`${line}\n`),
  };
}

/** The local path of an hf:// address (a cached file, or a snapshot folder for a safetensors repo). */
export async function localHubPath(arg: string, env: HubEnv): Promise<string> {
  const { repo, file } = parseHubAddress(arg);
  let lastLog = 0;
  const onProgress = (path: string, done: number, total: number) => {
    const now = Date.now();
    if (done < total && now - lastLog < 500) return;
    lastLog = now;
    env.log(`hf: ${repo.name}/${path} ${done}/${total} bytes (${total ? Math.floor((100 * done) / total) : 100}%)`);
  };
  const opts = { endpoint: env.endpoint, token: env.token, onProgress };
  return file ? cachedFile(repo, file, opts) : cachedRepo(repo, opts);
}

/** Positionals and input options with hf:// replaced by local paths. */
export async function resolveHubArgs(
  values: Record<string, string | boolean | undefined>,
  positionals: string[],
  env: () => HubEnv = hubEnv,
): Promise<{ values: Record<string, string | boolean | undefined>; positionals: string[] }> {
  const any = positionals.some(isHubAddress) || Object.entries(values).some(([k, v]) => typeof v === 'string' && INPUTS.has(k) && isHubAddress(v));
  if (!any) return { values, positionals };
  const e = env();
  const outValues = { ...values };
  for (const [k, v] of Object.entries(values)) if (typeof v === 'string' && INPUTS.has(k) && isHubAddress(v)) outValues[k] = await localHubPath(v, e);
  const outPositionals: string[] = [];
  for (const p of positionals) outPositionals.push(isHubAddress(p) ? await localHubPath(p, e) : p);
  return { values: outValues, positionals: outPositionals };
}
