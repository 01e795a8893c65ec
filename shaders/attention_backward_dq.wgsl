// attention_backward_dq: first half of the attention backward (FA-2,
// arXiv 2307.08691 Algorithm 2, split so that no two invocations write one
// value): per query row
//   δ_i = Σ_d do_i ⊙ o_i                (saved for attention_backward_dkv)
//   p_ij = exp(s_ij − lse_i),  s_ij = scale · q_i·k_j   (recomputed, not stored)
//   ds_ij = p_ij (do_i·v_j − δ_i),  dq_i = scale · Σ_j ds_ij k_j
// over the visible keys lo(i) ≤ j ≤ i (training shapes: qOffset = 0, kvLen = T).
// Bindings: 0 uniform Params (as attention_forward); 1 Q, 2 Kc, 3 Vc, 4 O,
//           5 dO vec4 (Q, O, dO [B,T,H,D]; Kc, Vc [B,S,K,D]); 6 LSE f32[B*T*H];
//           7 dQ vec4[B*T*H*D/4] (written); 8 DELTA f32[B*T*H] (written).
// Threads:  as attention_forward: one invocation per block of 4 query rows of
//           one head, keys in tiles of 8. Per step of 4 along D, 8 K and 8 V
//           loads (as 4 mat4x4) and 4 q and 4 do loads feed the 32 q·k and 32
//           do·v dot products (16 vec4 registers); dq lives in dQ and gets
//           Σ_j ds_j k_j per tile (K mat × ds vector).
// Why:      dq needs a sum over keys and dk/dv a sum over queries; two kernels,
//           each owning its outputs, need no atomics (WGSL has no f32 atomics)
//           and no barriers (costly on SwiftShader). The score recomputation
//           doubles the q·k work but keeps memory at O(T) per head. Row
//           blocking divides the K/V loads by 4, as in the forward.
struct Params { B: u32, T: u32, H: u32, K: u32, D: u32, S: u32, kvLen: u32, qOffset: u32, window: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> Kc: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> Vc: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> O: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> dO: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> LSE: array<f32>;
@group(0) @binding(7) var<storage, read_write> dQ: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> DELTA: array<f32>;

fn kmat(o: vec4<u32>) -> mat4x4<f32> {
  return mat4x4<f32>(Kc[o.x], Kc[o.y], Kc[o.z], Kc[o.w]);
}

fn vmat(o: vec4<u32>) -> mat4x4<f32> {
  return mat4x4<f32>(Vc[o.x], Vc[o.y], Vc[o.z], Vc[o.w]);
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
  let nr = min(4u, p.T - t0); // rows past T repeat row nr − 1 and are not stored
  let rows = t0 + min(lane, vec4<u32>(nr - 1u));
  let ri = (b * p.T + rows) * p.H + h; // LSE/DELTA index of the 4 rows
  let qo = ri * D4;
  let pos = p.qOffset + rows;
  var lov = vec4<u32>(0u);
  if (p.window > 0u) { lov = select(vec4<u32>(0u), pos + 1u - p.window, pos + 1u > vec4<u32>(p.window)); }
  let lo = lov.x;
  let hi = pos.w;
  let stride = p.K * D4;
  let kb = (b * p.S * p.K + kh) * D4;
  var delta = vec4<f32>(0.0); // lanes = rows
  for (var d = 0u; d < D4; d++) {
    delta += vec4<f32>(
      dot(dO[qo.x + d], O[qo.x + d]),
      dot(dO[qo.y + d], O[qo.y + d]),
      dot(dO[qo.z + d], O[qo.z + d]),
      dot(dO[qo.w + d], O[qo.w + d]));
  }
  for (var r = 0u; r < nr; r++) { DELTA[ri[r]] = delta[r]; }
  let lse = vec4<f32>(LSE[ri.x], LSE[ri.y], LSE[ri.z], LSE[ri.w]);
  for (var j0 = lo; j0 <= hi; j0 += 8u) {
    let ja = j0 + lane;
    let jb = ja + 4u;
    let oa = kb + min(ja, vec4<u32>(hi)) * stride;
    let ob = kb + min(jb, vec4<u32>(hi)) * stride;
    var s = array<vec4<f32>, 8>(); // q·k; s[2r]: row r × keys ja, s[2r+1]: × keys jb
    var g = array<vec4<f32>, 8>(); // do·v, same layout
    for (var d = 0u; d < D4; d++) {
      let ka = kmat(oa + d);
      let kq = kmat(ob + d);
      let va = vmat(oa + d);
      let vq = vmat(ob + d);
      for (var r = 0u; r < 4u; r++) {
        let x = Q[qo[r] + d];
        let y = dO[qo[r] + d];
        s[2u * r] += x * ka;
        s[2u * r + 1u] += x * kq;
        g[2u * r] += y * va;
        g[2u * r + 1u] += y * vq;
      }
    }
    // g ← scale · ds = scale · p (dp − δ), zero on slots a row does not see.
    for (var r = 0u; r < 4u; r++) {
      let ma = (ja >= vec4<u32>(lov[r])) & (ja <= vec4<u32>(pos[r]));
      let mb = (jb >= vec4<u32>(lov[r])) & (jb <= vec4<u32>(pos[r]));
      let pa = exp(s[2u * r] * p.scale - lse[r]);
      let pb = exp(s[2u * r + 1u] * p.scale - lse[r]);
      g[2u * r] = select(vec4<f32>(0.0), pa * (g[2u * r] - delta[r]) * p.scale, ma);
      g[2u * r + 1u] = select(vec4<f32>(0.0), pb * (g[2u * r + 1u] - delta[r]) * p.scale, mb);
    }
    let first = j0 == lo;
    for (var d = 0u; d < D4; d++) {
      let ka = kmat(oa + d);
      let kq = kmat(ob + d);
      for (var r = 0u; r < nr; r++) {
        var acc = ka * g[2u * r] + kq * g[2u * r + 1u];
        if (!first) { acc += dQ[qo[r] + d]; } // never read dQ before it is written
        dQ[qo[r] + d] = acc;
      }
    }
  }
}
