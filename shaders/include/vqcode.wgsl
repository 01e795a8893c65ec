// Included by the codebook kernels (`// #include vqcode`): decoding VqTensor
// rows (src/quant/vq/vqtensor.ts, uploaded as is by src/gpu/vq_gpu.ts). The
// including shader declares the `codes` (u32) and `table` (vec4<f32>, the f32
// table padded to whole vec4s) storage arrays.
// Row layout: index words (index v at bits [(v·VB) mod 32, +VB) of word
// ⌊v·VB/32⌋; VB a power of two, so no index crosses a word), then, for signed
// tensors, one sign bit per weight (k at bit k mod 32 of word ⌊k/32⌋ after the
// index words). The row is padded to a multiple of 32 weights, so decoding a
// quad that starts below the row length never leaves the row.
// The vector length, index width and signedness are override constants: each
// layout gets its own pipeline with constant shifts and masks and no dead branch.
override VD: u32 = 8u; // weights per index (1, 2, 4, 8)
override VB: u32 = 8u; // index bits (2, 4, 8, 16)
override VS: bool = false; // one sign bit per weight

// Index v of the row starting at word `row`.
fn vq_index(row: u32, v: u32) -> u32 {
  let b = v * VB;
  return (codes[row + (b >> 5u)] >> (b & 31u)) & ((1u << VB) - 1u);
}

// Table value i (entry i / VD, element i mod VD): a scalar load.
fn tval(i: u32) -> f32 {
  return table[i >> 2u][i & 3u];
}

// Sign bits 0..3 of s as f32 sign masks (bit j to bit 31 of lane j).
fn vq_signs(s: u32) -> vec4<u32> {
  return (vec4<u32>(s) << vec4<u32>(31u, 30u, 29u, 28u)) & vec4<u32>(0x80000000u);
}

// σ·table value of weights k..k+3 (k % 4 == 0) of the row starting at word
// `row`, whose sign words start `iw` words into the row.
fn vq4(row: u32, iw: u32, k: u32) -> vec4<f32> {
  var w: vec4<f32>;
  if (VD >= 4u) {
    // One index holds the whole quad: 4 consecutive table values, one vec4 load.
    w = table[vq_index(row, k / VD) * (VD / 4u) + ((k & (VD - 1u)) >> 2u)];
  } else if (VD == 2u) {
    let e0 = vq_index(row, k / 2u) * 2u;
    let e1 = vq_index(row, k / 2u + 1u) * 2u;
    w = vec4<f32>(tval(e0), tval(e0 + 1u), tval(e1), tval(e1 + 1u));
  } else {
    // Four indices: one word holds them all (VB ≤ 8: 4·VB bits at a multiple of 4·VB), or two (VB = 16).
    var e: vec4<u32>;
    if (VB == 16u) {
      let a = codes[row + k / 2u];
      let b = codes[row + k / 2u + 1u];
      e = vec4<u32>(a & 0xffffu, a >> 16u, b & 0xffffu, b >> 16u);
    } else {
      // VB & 15: the widths of this branch; at VB = 16 (dead here) the constant shifts would exceed 31 and fail pipeline creation.
      let vb = VB & 15u;
      let b = k * vb;
      let z = codes[row + (b >> 5u)] >> (b & 31u);
      e = (vec4<u32>(z) >> vec4<u32>(0u, vb, 2u * vb, 3u * vb)) & vec4<u32>((1u << vb) - 1u);
    }
    w = vec4<f32>(tval(e.x), tval(e.y), tval(e.z), tval(e.w));
  }
  if (VS) {
    // Sign bits k..k+3 moved to bit 31 of each lane and xor-ed into the f32s.
    let s = codes[row + iw + (k >> 5u)] >> (k & 31u);
    w = bitcast<vec4<f32>>(bitcast<vec4<u32>>(w) ^ vq_signs(s));
  }
  return w;
}
