// Included by the qlinear kernels (`// #include qcode`): decoding QTensor codes
// in their GPU layout. The including shader declares the `codes` storage array.
// GPU layout (src/gpu/qtensor_gpu.ts): each row of W is one dense little-endian
// bit stream, code k at bits [k·B, k·B + B) with B = QP0 + QP1, rows starting on
// a word. For B = 2, 4, 8 no code crosses a word; for B = 3, 5, 6 a code (or a
// quad) may, so the next word is read too (the codes buffer carries one word of
// padding past its last row). The widths are override constants, so each bit
// width gets its own pipeline with constant masks and no dead branch.
override QP0: u32 = 4u; // kept as the CPU layout's plane widths; only B = QP0 + QP1 matters here
override QP1: u32 = 0u; // > 0: codes may straddle words

// The bits of codes k.. of the row starting at word `row`, code k at bit 0
// (at least the 32 − (k·B mod 32) bits that fit, and all of a quad).
fn qword(row: u32, k: u32) -> u32 {
  let b = k * (QP0 + QP1);
  let i = row + (b >> 5u);
  let s = b & 31u;
  var z = codes[i] >> s;
  // (w << 1) << (31 − s) is w << (32 − s) without the undefined shift by 32 when s = 0.
  if (QP1 > 0u) { z = z | ((codes[i + 1u] << 1u) << (31u - s)); }
  return z;
}

// Code k of the row starting at word `row`.
fn qcode(row: u32, k: u32) -> u32 {
  return qword(row, k) & ((1u << (QP0 + QP1)) - 1u);
}

// Codes k..k+3 as integers.
fn qcode4u(row: u32, k: u32) -> vec4<u32> {
  let B = QP0 + QP1;
  return (vec4<u32>(qword(row, k)) >> vec4<u32>(0u, B, 2u * B, 3u * B)) & vec4<u32>((1u << B) - 1u);
}

// Codes k..k+3 as f32 (through i32: codes are < 2^8, and i32 → f32 is one instruction on x86, u32 → f32 several).
fn qcode4(row: u32, k: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(qcode4u(row, k)));
}

// Codes k..k+3 with lane j multiplied by 2^(B·j): one AND, no per-lane shift.
// For kernels whose other operand carries 2^(−B·j) (qlinear_forward_prep.wgsl).
fn qcode4_lanes(row: u32, k: u32) -> vec4<f32> {
  let B = QP0 + QP1;
  let m = (1u << B) - 1u;
  let v = vec4<u32>(qword(row, k)) & vec4<u32>(m, m << B, m << (2u * B), m << (3u * B));
  // At 8 bits lane 3 reaches 255·2^24, past i32: only there convert as u32 (several instructions on x86).
  if (B == 8u) { return vec4<f32>(v); }
  return vec4<f32>(bitcast<vec4<i32>>(v));
}
