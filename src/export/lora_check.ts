// What every LoRA exporter checks before writing a byte. A LoraSet comes from a
// trained state or from a file someone dropped, so it is validated as data: one
// rank, a usable alpha, each factor's A [R, I] and B [O, R] filling their
// shapes, at most one factor per (layer, role), and values that are finite (a
// NaN adapter is a broken tune, better refused at export than discovered in
// llama.cpp).
import { LINEAR_ROLES } from '../arch/params.ts';
import { factorRank, firstNonFinite, type LoraSet } from '../io/lora/set.ts';
import { ExportError } from './target.ts';

const isPosInt = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > 0;

/**
 * Throws ExportError(format, …) naming the first factor that cannot be written.
 * `dora`: whether the format holds DoRA magnitudes (PEFT); a format that does
 * not (llama.cpp, mlx-lm adapters) refuses a set that has them.
 */
export function checkLoraSet(set: LoraSet, format: string, dora = false): void {
  const fail = (detail: string): never => {
    throw new ExportError(format, detail);
  };
  if (!isPosInt(set.rank)) fail(`LoRA rank ${set.rank} is not a positive integer`);
  if (typeof set.alpha !== 'number' || !Number.isFinite(set.alpha)) fail(`LoRA alpha ${set.alpha} is not a finite number`);
  if (set.factors.length === 0) fail('the LoRA set has no factors');
  const seen = new Set<string>();
  for (const f of set.factors) {
    const where = `layer ${f.layer} ${f.role}`;
    if (!Number.isSafeInteger(f.layer) || f.layer < 0) fail(`factor layer ${f.layer} is not a layer index`);
    if (!LINEAR_ROLES.includes(f.role)) fail(`factor role '${f.role}' is not a linear role (${LINEAR_ROLES.join(', ')})`);
    if (seen.has(`${f.layer}.${f.role}`)) fail(`${where} has two factors`);
    seen.add(`${f.layer}.${f.role}`);
    if (!isPosInt(f.inFeatures) || !isPosInt(f.outFeatures)) fail(`${where}: features ${f.inFeatures} → ${f.outFeatures} are not positive integers`);
    const R = factorRank(set, f);
    if (!isPosInt(R)) fail(`${where}: LoRA rank ${R} is not a positive integer`);
    if (!(f.a instanceof Float32Array) || f.a.length !== R * f.inFeatures)
      fail(`${where}: A holds ${f.a?.length} values, [${R}, ${f.inFeatures}] needs ${R * f.inFeatures}`);
    if (!(f.b instanceof Float32Array) || f.b.length !== f.outFeatures * R)
      fail(`${where}: B holds ${f.b?.length} values, [${f.outFeatures}, ${R}] needs ${f.outFeatures * R}`);
    if (f.magnitude && !dora) fail(`${where} is DoRA (it has a magnitude vector), which a ${format} LoRA adapter cannot hold: export peft or merged`);
    if (f.magnitude && (!(f.magnitude instanceof Float32Array) || f.magnitude.length !== f.outFeatures)) fail(`${where}: the DoRA magnitude holds ${f.magnitude.length} values, not ${f.outFeatures}`);
    const bad = firstNonFinite(f.a) ?? firstNonFinite(f.b) ?? (f.magnitude ? firstNonFinite(f.magnitude) : null);
    if (bad !== null) fail(`${where}: a factor holds ${bad} (the tune diverged?)`);
  }
}
