// Included by the qlinear kernels (`// #include qcode`): decoding QTensor codes
// from their bit planes (layout in src/quant/qtensor.ts). The including shader
// declares the `codes` storage array and a uniform `p` with PB (word offset of
// plane 1 within a row). The plane widths are override constants, so each bit
// width gets its own pipeline with constant shifts and masks and no dead plane.
override QP0: u32 = 4u; // width of plane 0 (low bits): 2, 4 or 8
override QP1: u32 = 0u; // width of plane 1 (high bits): 0, 1 or 2

// Code k of the row starting at word `row`.
fn qcode(row: u32, k: u32) -> u32 {
  let b0 = k * QP0;
  var v = (codes[row + (b0 >> 5u)] >> (b0 & 31u)) & ((1u << QP0) - 1u);
  if (QP1 > 0u) {
    let b1 = k * QP1;
    v = v | (((codes[row + p.PB + (b1 >> 5u)] >> (b1 & 31u)) & ((1u << QP1) - 1u)) << QP0);
  }
  return v;
}

// Codes k..k+3 (k a multiple of 4) as f32: they share one word in each plane,
// so this is one load and one vector shift per plane.
fn qcode4(row: u32, k: u32) -> vec4<f32> {
  let lane = vec4<u32>(0u, 1u, 2u, 3u);
  let b0 = k * QP0;
  var v = (vec4<u32>(codes[row + (b0 >> 5u)]) >> (vec4<u32>(b0 & 31u) + lane * QP0)) & vec4<u32>((1u << QP0) - 1u);
  if (QP1 > 0u) {
    let b1 = k * QP1;
    let hi = (vec4<u32>(codes[row + p.PB + (b1 >> 5u)]) >> (vec4<u32>(b1 & 31u) + lane * QP1)) & vec4<u32>((1u << QP1) - 1u);
    v = v | (hi << vec4<u32>(QP0));
  }
  return vec4<f32>(v);
}
