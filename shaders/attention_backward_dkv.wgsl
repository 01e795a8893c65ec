// attention_backward_dkv: second half of the attention backward (after
// attention_backward_dq, which writes δ): per key row (b, j, KV head kh)
//   dv_j = Σ_h Σ_i p_ij do_i,   dk_j = scale · Σ_h Σ_i ds_ij q_i
//   p_ij = exp(scale · q_i·k_j − lse_i),  ds_ij = p_ij (do_i·v_j − δ_i)
// where h runs over the G = H / K query heads of KV head kh and i over the
// queries that see key j: j ≤ i ≤ hi(j), hi = min(T − 1, j + window − 1) with a
// sliding window, else T − 1 (training shapes: qOffset = 0, kvLen = S = T).
// Bindings: 0 uniform Params (as attention_forward); 1 Q, 2 Kc, 3 Vc, 4 dO vec4
//           (Q, dO [B,T,H,D]; Kc, Vc [B,T,K,D]); 5 LSE, 6 DELTA f32[B*T*H];
//           7 dK, 8 dV vec4[B*T*K*D/4] (written).
// Threads:  one invocation per block of 4 consecutive key rows of one KV head,
//           id = (b·⌈T/4⌉ + j/4)·K + kh, 64-wide workgroups on a 1-D grid
//           folded into 2-D. Queries in tiles of 8: per step of 4 along D, 8 q
//           and 8 do loads (as 4 mat4x4) and 4 k and 4 v loads feed 32 k·q and
//           32 v·do dot products (16 vec4 registers); dk and dv live in dK and
//           dV and get Σ_i ds_i q_i and Σ_i p_i do_i per tile.
// Why:      the group sum over query heads happens inside one invocation, so
//           each dk/dv value has a single writer: no atomics (WGSL has no f32
//           atomics) and no barriers (costly on SwiftShader); p is recomputed
//           from the saved lse instead of being stored (O(T) memory per head).
//           Blocking 4 key rows divides the q/do loads by 4. Query slots past
//           the block's last query are clamped to it on load and get p = 0.
struct Params { B: u32, T: u32, H: u32, K: u32, D: u32, S: u32, kvLen: u32, qOffset: u32, window: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> Kc: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> Vc: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> dO: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> LSE: array<f32>;
@group(0) @binding(6) var<storage, read> DELTA: array<f32>;
@group(0) @binding(7) var<storage, read_write> dK: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> dV: array<vec4<f32>>;

fn qmat(o: vec4<u32>) -> mat4x4<f32> {
  return mat4x4<f32>(Q[o.x], Q[o.y], Q[o.z], Q[o.w]);
}

fn gmat(o: vec4<u32>) -> mat4x4<f32> {
  return mat4x4<f32>(dO[o.x], dO[o.y], dO[o.z], dO[o.w]);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = gid.y * nwg.x * 64u + gid.x;
  let TB = (p.T + 3u) / 4u;
  if (id >= p.B * TB * p.K) { return; }
  let kh = id % p.K;
  let j0 = ((id / p.K) % TB) * 4u;
  let b = id / (p.K * TB);
  let G = p.H / p.K;
  let D4 = p.D / 4u;
  let lane = vec4<u32>(0u, 1u, 2u, 3u);
  let nk = min(4u, p.T - j0); // key rows past T repeat row nk − 1 and are not stored
  let keys = j0 + min(lane, vec4<u32>(nk - 1u));
  let ko = ((b * p.T + keys) * p.K + kh) * D4;
  var hiv = vec4<u32>(p.T - 1u); // last query that sees each key
  if (p.window > 0u) { hiv = min(hiv, keys + p.window - 1u); }
  let hi = hiv.w;
  let qstride = p.H * D4; // vec4s between consecutive query positions
  var first = true;
  for (var hg = 0u; hg < G; hg++) {
    let rb = b * p.T * p.H + kh * G + hg; // LSE/DELTA index of query (b, 0, h)
    for (var i0 = j0; i0 <= hi; i0 += 8u) {
      let ia = i0 + lane;
      let ib = ia + 4u;
      let la = rb + min(ia, vec4<u32>(hi)) * p.H;
      let lb = rb + min(ib, vec4<u32>(hi)) * p.H;
      let oa = la * D4;
      let ob = lb * D4;
      var s = array<vec4<f32>, 8>(); // k·q; s[2r]: key r × queries ia, s[2r+1]: × queries ib
      var g = array<vec4<f32>, 8>(); // v·do, same layout
      for (var d = 0u; d < D4; d++) {
        let qa = qmat(oa + d);
        let qb = qmat(ob + d);
        let ga = gmat(oa + d);
        let gb = gmat(ob + d);
        for (var r = 0u; r < 4u; r++) {
          let x = Kc[ko[r] + d];
          let y = Vc[ko[r] + d];
          s[2u * r] += x * qa;
          s[2u * r + 1u] += x * qb;
          g[2u * r] += y * ga;
          g[2u * r + 1u] += y * gb;
        }
      }
      let lsa = vec4<f32>(LSE[la.x], LSE[la.y], LSE[la.z], LSE[la.w]);
      let lsb = vec4<f32>(LSE[lb.x], LSE[lb.y], LSE[lb.z], LSE[lb.w]);
      let dla = vec4<f32>(DELTA[la.x], DELTA[la.y], DELTA[la.z], DELTA[la.w]);
      let dlb = vec4<f32>(DELTA[lb.x], DELTA[lb.y], DELTA[lb.z], DELTA[lb.w]);
      // s ← p and g ← scale · ds, zero on query slots that do not see key r.
      for (var r = 0u; r < 4u; r++) {
        let ma = (ia >= vec4<u32>(keys[r])) & (ia <= vec4<u32>(hiv[r]));
        let mb = (ib >= vec4<u32>(keys[r])) & (ib <= vec4<u32>(hiv[r]));
        let pa = select(vec4<f32>(0.0), exp(s[2u * r] * p.scale - lsa), ma);
        let pb = select(vec4<f32>(0.0), exp(s[2u * r + 1u] * p.scale - lsb), mb);
        s[2u * r] = pa;
        s[2u * r + 1u] = pb;
        g[2u * r] = pa * (g[2u * r] - dla) * p.scale;
        g[2u * r + 1u] = pb * (g[2u * r + 1u] - dlb) * p.scale;
      }
      for (var d = 0u; d < D4; d++) {
        let qa = qmat(oa + d);
        let qb = qmat(ob + d);
        let ga = gmat(oa + d);
        let gb = gmat(ob + d);
        for (var r = 0u; r < nk; r++) {
          var ak = qa * g[2u * r] + qb * g[2u * r + 1u];
          var av = ga * s[2u * r] + gb * s[2u * r + 1u];
          if (!first) {
            ak += dK[ko[r] + d];
            av += dV[ko[r] + d];
          }
          dK[ko[r] + d] = ak;
          dV[ko[r] + d] = av;
        }
      }
      first = false;
    }
  }
}
