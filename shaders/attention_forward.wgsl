// attention_forward: causal grouped-query attention with an online softmax
// (FlashAttention, arXiv 2205.14135 §3.1; FA-2, arXiv 2307.08691 §3.1):
//   o_i = Σ_j softmax_j(s_ij) v_j,  s_ij = scale · q_i·k_j,  lse_i = log Σ_j exp(s_ij)
// over the visible keys j of query position i = qOffset + t: lo(i) ≤ j ≤ i,
// lo(i) = max(0, i − window + 1) with a sliding window, else 0. Query head h
// reads KV head h / (H / K). Training: qOffset = 0, kvLen = T. Decode: T new
// queries at qOffset = P against a KV cache holding kvLen = P + T rows.
// Bindings: 0 uniform Params; 1 Q vec4[B*T*H*D/4]; 2 Kc, 3 Vc vec4[B*S*K*D/4]
//           (S rows allocated per batch, first kvLen used); 4 O vec4[B*T*H*D/4]
//           (written); 5 LSE f32[B*T*H] (written, saved for the backward).
//           Requires D % 4 == 0.
// Threads:  one invocation per block of 4 consecutive query rows of one head,
//           id = (b·⌈T/4⌉ + t/4)·H + h, on 64-wide workgroups over a 1-D grid
//           folded into 2-D. Neighbouring lanes are the heads of one block, so
//           the G heads of a KV group read the same K/V rows together (cache
//           hits on real GPUs). Keys go by in tiles of 8: per step of 4 along
//           D, 8 K loads (two mat4x4 of 4 keys) and 4 Q loads feed 4 × 8 dot
//           products, the 32 scores living in 8 vec4 registers. Then each
//           row's running max/sum (lanes of m, l) is updated and its output
//           row, which lives in O itself, is rescaled and gets Σ p_j v_j.
// Why:      no T×T score matrix, and no register array sized by D (WGSL cannot
//           size one by an override), so any D % 4 == 0 runs in one pipeline;
//           the output row kept in O costs one read and write of D floats per
//           8 keys and 4 rows. Blocking 4 query rows cuts the loads per FMA by
//           ~3×; against one row per invocation (16-key tiles) it measured
//           1.4–1.5× faster here, 1.4–2.5× for the backward kernels (SwiftShader,
//           T = 256–384, D = 8 and 64), where loads, not arithmetic, cost. No
//           workgroup memory and no barriers: barriers are very expensive on
//           SwiftShader, and on real GPUs the lanes of a group share K/V rows
//           through the cache (a K/V tile staged in workgroup memory would be
//           the next variant there, as matmul_tiled is for matmul). Key slots
//           past the block's last key are clamped to it on load (no
//           out-of-range reads, no NaN from unused memory) and get p = 0.
struct Params { B: u32, T: u32, H: u32, K: u32, D: u32, S: u32, kvLen: u32, qOffset: u32, window: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> Kc: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> Vc: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> O: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> LSE: array<f32>;

const NEG = -3.0e38; // below any score; finite so that NEG − NEG is 0, not NaN

fn kmat(o: vec4<u32>) -> mat4x4<f32> {
  return mat4x4<f32>(Kc[o.x], Kc[o.y], Kc[o.z], Kc[o.w]);
}

fn vmat(o: vec4<u32>) -> mat4x4<f32> {
  return mat4x4<f32>(Vc[o.x], Vc[o.y], Vc[o.z], Vc[o.w]);
}

fn hmax(a: vec4<f32>) -> f32 {
  return max(max(a.x, a.y), max(a.z, a.w));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = gid.y * nwg.x * 64u + gid.x;
  let TB = (p.T + 3u) / 4u;
  if (id >= p.B * TB * p.H) { return; }
  let h = id % p.H;
  let t0 = ((id / p.H) % TB) * 4u;
  let b = id / (p.H * TB);
  let kh = h / (p.H / p.K);
  let D4 = p.D / 4u;
  let lane = vec4<u32>(0u, 1u, 2u, 3u);
  let nr = min(4u, p.T - t0); // rows of this block inside T; the others repeat row nr − 1, unstored
  let rows = t0 + min(lane, vec4<u32>(nr - 1u));
  let qo = ((b * p.T + rows) * p.H + h) * D4; // Q/O offsets of the 4 rows
  let pos = p.qOffset + rows; // absolute positions = last visible key per row
  var lov = vec4<u32>(0u); // first visible key per row
  if (p.window > 0u) { lov = select(vec4<u32>(0u), pos + 1u - p.window, pos + 1u > vec4<u32>(p.window)); }
  let lo = lov.x;
  let hi = pos.w;
  let stride = p.K * D4; // vec4s between consecutive keys
  let kb = (b * p.S * p.K + kh) * D4;
  var m = vec4<f32>(NEG); // lanes = rows
  var l = vec4<f32>(0.0);
  for (var j0 = lo; j0 <= hi; j0 += 8u) {
    let ja = j0 + lane;
    let jb = ja + 4u;
    let oa = kb + min(ja, vec4<u32>(hi)) * stride;
    let ob = kb + min(jb, vec4<u32>(hi)) * stride;
    var s = array<vec4<f32>, 8>(); // s[2r]: row r × keys ja, s[2r+1]: row r × keys jb
    for (var d = 0u; d < D4; d++) {
      let ka = kmat(oa + d);
      let kq = kmat(ob + d);
      for (var r = 0u; r < 4u; r++) {
        let x = Q[qo[r] + d];
        s[2u * r] += x * ka;
        s[2u * r + 1u] += x * kq;
      }
    }
    var mNew = m;
    for (var r = 0u; r < 4u; r++) {
      let va = (ja >= vec4<u32>(lov[r])) & (ja <= vec4<u32>(pos[r]));
      let vb = (jb >= vec4<u32>(lov[r])) & (jb <= vec4<u32>(pos[r]));
      s[2u * r] = select(vec4<f32>(NEG), s[2u * r] * p.scale, va);
      s[2u * r + 1u] = select(vec4<f32>(NEG), s[2u * r + 1u] * p.scale, vb);
      mNew[r] = max(m[r], max(hmax(s[2u * r]), hmax(s[2u * r + 1u])));
      // Probabilities (unnormalised) replace the scores; masked slots get 0.
      s[2u * r] = select(vec4<f32>(0.0), exp(s[2u * r] - mNew[r]), va);
      s[2u * r + 1u] = select(vec4<f32>(0.0), exp(s[2u * r + 1u] - mNew[r]), vb);
    }
    let alpha = exp(m - mNew); // 0 where m was NEG
    l = l * alpha + vec4<f32>(
      dot(s[0] + s[1], vec4<f32>(1.0)),
      dot(s[2] + s[3], vec4<f32>(1.0)),
      dot(s[4] + s[5], vec4<f32>(1.0)),
      dot(s[6] + s[7], vec4<f32>(1.0)));
    m = mNew;
    let first = j0 == lo;
    for (var d = 0u; d < D4; d++) {
      let va = vmat(oa + d);
      let vq = vmat(ob + d);
      for (var r = 0u; r < nr; r++) {
        var acc = va * s[2u * r] + vq * s[2u * r + 1u];
        if (!first) { acc += alpha[r] * O[qo[r] + d]; } // never read O before it is written
        O[qo[r] + d] = acc;
      }
    }
  }
  for (var r = 0u; r < nr; r++) {
    let inv = 1.0 / l[r];
    for (var d = 0u; d < D4; d++) { O[qo[r] + d] *= inv; }
    LSE[qo[r] / D4] = m[r] + log(l[r]);
  }
}
