// A LoraSet ⇄ the LoRA factors of a Trainable on the GPU. Loading makes the
// trainable's adapter exactly the set: every factor is checked against the
// trainable (method with LoRA, same rank, same alpha / rank scale, a layer and
// role it trains, A [R, I] and B [O, R] of that layer's shape) before the first
// write; then A and B are written, and a trained role the set has no factor for
// gets B = 0 (no contribution, as a missing module in a PEFT folder), keeping its
// A so a run continued from here still has gradients for it.
// DoRA sets (factors with magnitudes) go into a DoRA trainable only, and the
// other way round; their m is written, the norms recomputed, and a module the
// set lacks gets m = n (PEFT's init: it adds nothing either).
// The scale is part of the check rather than overwritten: the trained state
// records alpha from the trainable's config (src/train/state.ts), so a silently
// changed scale would be exported wrongly later.
import type { Trainable } from '../model/trainable.ts';
import { LINEAR_ROLES, type LinearRole } from '../arch/params.ts';
import { FormatError } from '../base/errors.ts';
import { factorRank, LORA_MODULES, sortedFactors, type LoraFactor, type LoraSet } from '../io/lora/set.ts';

/** The adapter does not fit the trainable it is loaded into; names the adapter file and the mismatch. */
export class LoraLoadError extends FormatError {}

/** Write `set` (from `file`, named in errors) into the trainable's LoRA factors. */
export function loadLoraSet(tr: Trainable, set: LoraSet, file: string): void {
  const fail = (detail: string): never => {
    throw new LoraLoadError(file, detail);
  };
  const loraOf = (l: number, role: LinearRole) => tr.layers[l]?.[role]?.lora?.lora;
  const trained = tr.layers.flatMap((roles, l) => LINEAR_ROLES.filter((r) => loraOf(l, r)).map((r) => ({ l, r, lora: loraOf(l, r)! })));
  if (trained.length === 0) fail(`the model is set up for '${tr.config.method}' training, which has no LoRA factors to load into (use method 'lora' or 'peqa+lora')`);

  const dora = set.factors.some((f) => f.magnitude);
  if (dora !== !!tr.config.lora?.dora) fail(dora ? 'the adapter is DoRA (magnitude vectors); the training setup is plain LoRA' : 'the adapter is plain LoRA; the training setup is DoRA');
  const seen = new Set<string>();
  for (const f of set.factors) {
    const where = `layer ${f.layer} ${LORA_MODULES[f.role] ?? f.role}`;
    if (!Number.isSafeInteger(f.layer) || f.layer < 0 || f.layer >= tr.layers.length) fail(`a factor is on layer ${f.layer}, the model has ${tr.layers.length} layers`);
    const lora = loraOf(f.layer, f.role);
    if (!lora) fail(`${where} has factors, but the training setup has no LoRA there (targets: ${[...new Set(trained.map((t) => t.r))].join(', ')})`);
    if (seen.has(`${f.layer}.${f.role}`)) fail(`${where} appears twice`);
    // Ranks and scales per matrix (a --budget run's differ between matrices).
    const R = lora!.a.shape[0];
    const fr = factorRank(set, f);
    if (fr !== R) fail(`${where}: the adapter has rank ${fr}, the training setup rank ${R}; set the LoRA rank to ${fr}`);
    if (!(Math.abs(set.alpha / fr - lora!.scale) <= 1e-6 * Math.abs(lora!.scale))) fail(`the adapter's alpha ${set.alpha} (scale ${set.alpha / fr}) differs from the training setup's scale ${lora!.scale}; set alpha to ${set.alpha}`);
    seen.add(`${f.layer}.${f.role}`);
    const [, I] = lora!.a.shape;
    const [O] = lora!.b.shape;
    if (f.inFeatures !== I || f.outFeatures !== O) fail(`${where} maps ${f.inFeatures} → ${f.outFeatures} features, the model's layer ${I} → ${O}`);
    if (f.a.length !== R * I) fail(`${where}: A holds ${f.a.length} values, [${R}, ${I}] needs ${R * I}`);
    if (f.b.length !== O * R) fail(`${where}: B holds ${f.b.length} values, [${O}, ${R}] needs ${O * R}`);
    if (dora && f.magnitude?.length !== O) fail(`${where}: the magnitude holds ${f.magnitude?.length ?? 0} values, the layer has ${O} outputs`);
  }

  const byKey = new Map(set.factors.map((f) => [`${f.layer}.${f.role}`, f]));
  for (const t of trained) {
    const f = byKey.get(`${t.l}.${t.r}`);
    if (f) {
      t.lora.a.write(f.a);
      t.lora.b.write(f.b);
    } else t.lora.b.write(new Float32Array(t.lora.b.size));
  }
  if (!dora) return;
  tr.initDoraMagnitude(); // norms of the written factors; m = n where the set has no module
  for (const t of trained) {
    const f = byKey.get(`${t.l}.${t.r}`);
    if (f) tr.layers[t.l][t.r]!.dora!.m.write(f.magnitude!);
  }
}

/** The trainable's LoRA factors, read back from the GPU (alpha from its config, as the trained state records it). */
export async function readLoraSet(tr: Trainable): Promise<LoraSet> {
  const factors: LoraFactor[] = [];
  // The set's rank is the config's one rank (a --budget plan's matrices name their own where they differ).
  let rank = tr.config.lora?.rank ?? 0;
  for (let l = 0; l < tr.layers.length; l++)
    for (const role of LINEAR_ROLES) {
      const lora = tr.layers[l][role]?.lora?.lora;
      if (!lora) continue;
      const r = lora.a.shape[0];
      if (rank <= 0) rank = r;
      factors.push({ layer: l, role, a: await lora.a.read(), b: await lora.b.read(), inFeatures: lora.a.shape[1], outFeatures: lora.b.shape[0], ...(r !== rank ? { rank: r } : {}) });
    }
  if (factors.length === 0) throw new RangeError(`readLoraSet: the '${tr.config.method}' training setup has no LoRA factors`);
  return { rank, alpha: tr.config.lora?.alpha ?? rank, factors: sortedFactors({ rank, alpha: 0, factors }) };
}
