// gguf_convert: ggml blocks, uploaded as they are in the file, → the engine's
// GPU QTensor layout (src/gpu/qtensor_gpu.ts): each row's codes as one dense bit
// stream (code k at bits k·bits), and f32 scale / offset per group, exactly as
// ggufToQTensor (+ denseRows) computes them on the CPU (src/quant/gguf_qtensor.ts,
// the reference; tests/gpu/gguf_convert.test.ts compares every word and bit).
//   TYPE 2  Q4_0  18 B / 32:  f16 d, qs[16]        scale d,      offset −8·d
//   TYPE 12 Q4_K 144 B / 256: f16 d, dmin, sc[12], qs[128]
//                                                  scale d·sc,   offset −(dmin·m)   (groups of 32)
//   TYPE 14 Q6_K 210 B / 256: ql[128], qh[64], i8 sc[16], f16 d
//                                                  scale d·sc,   offset −32·scale   (groups of 16)
// Bindings: 0 uniform {rows, row0, blocksPerRow, wordsPerRow, groupsPerRow, groups32PerRow};
//           1 Src u32[] (the raw bytes of rows row0.., little-endian, one padding word);
//           2 Codes u32[] (this part's rows); 3 Scale f32[rows_total, G]; 4 Offset f32[rows_total, G].
// Threads:  one invocation per 32-code run of a row of the part (r, g32), over a
//           1-D grid folded into 2-D past 65535 workgroups: it writes bits/1 words
//           of codes and the run's one (Q4_0, Q4_K) or two (Q6_K) groups.
// Why:      decoding a billion codes in JavaScript took most of a 1B model's load; here
//           the file's bytes go up as they are (fewer bytes than the layout they become)
//           and the bit shuffling runs where the codes are used. f16 fields are
//           decoded with integer ops (subnormal d values are common in K-quants, and
//           unpack2x16float may flush them); products are single f32 multiplies, as
//           Math.fround gives on the CPU.
struct Params { rows: u32, row0: u32, blocksPerRow: u32, wordsPerRow: u32, groupsPerRow: u32, groups32PerRow: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Src: array<u32>;
@group(0) @binding(2) var<storage, read_write> Codes: array<u32>;
@group(0) @binding(3) var<storage, read_write> Scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> Offset: array<f32>;

override WG: u32 = 64u;
override TYPE: u32 = 12u;

fn byte_at(i: u32) -> u32 { return (Src[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu; }

/** Four bytes from any byte offset, little-endian. */
fn word_at(i: u32) -> u32 {
  let s = (i & 3u) * 8u;
  let lo = Src[i >> 2u];
  if (s == 0u) { return lo; }
  return (lo >> s) | (Src[(i >> 2u) + 1u] << (32u - s));
}

fn f16_at(i: u32) -> f32 {
  let h = byte_at(i) | (byte_at(i + 1u) << 8u);
  let sign = select(1.0, -1.0, (h & 0x8000u) != 0u);
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return sign * f32(m) * 5.9604644775390625e-8; } // m · 2^-24, exact
  if (e == 31u) { return bitcast<f32>(((h & 0x8000u) << 16u) | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(((h & 0x8000u) << 16u) | ((e + 112u) << 23u) | (m << 13u));
}

/** Four 4-bit fields at bits 0, 8, 16, 24 → 16 bits (as src/quant/gguf_codes.ts). */
fn c4(x0: u32) -> u32 {
  let x = (x0 | (x0 >> 4u)) & 0x00ff00ffu;
  return (x | (x >> 8u)) & 0xffffu;
}

/** The nibbles at `shift` of 8 bytes from byte `o` → 8 codes in one word. */
fn nibbles8(o: u32, shift: u32) -> u32 {
  return c4((word_at(o) >> shift) & 0x0f0f0f0fu) | (c4((word_at(o + 4u) >> shift) & 0x0f0f0f0fu) << 16u);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.rows * p.groups32PerRow) { return; }
  let r = i / p.groups32PerRow; // row within the part
  let g = i % p.groups32PerRow; // 32-code run within the row
  let R = p.row0 + r; // row of the tensor
  if (TYPE == 2u) {
    let off = (r * p.blocksPerRow + g) * 18u;
    let d = f16_at(off);
    let w = r * p.wordsPerRow + g * 4u;
    Codes[w] = nibbles8(off + 2u, 0u);
    Codes[w + 1u] = nibbles8(off + 10u, 0u);
    Codes[w + 2u] = nibbles8(off + 2u, 4u);
    Codes[w + 3u] = nibbles8(off + 10u, 4u);
    Scale[R * p.groupsPerRow + g] = d;
    Offset[R * p.groupsPerRow + g] = -8.0 * d;
  } else if (TYPE == 12u) {
    let off = (r * p.blocksPerRow + (g >> 3u)) * 144u;
    let G = g & 7u;
    let d = f16_at(off);
    let dmin = f16_at(off + 2u);
    let q = off + 4u; // get_scale_min_k4
    var sc: u32;
    var m: u32;
    if (G < 4u) {
      sc = byte_at(q + G) & 63u;
      m = byte_at(q + G + 4u) & 63u;
    } else {
      sc = (byte_at(q + G + 4u) & 0xfu) | ((byte_at(q + G - 4u) >> 6u) << 4u);
      m = (byte_at(q + G + 4u) >> 4u) | ((byte_at(q + G) >> 6u) << 4u);
    }
    let qs = off + 16u + 32u * (G >> 1u);
    let shift = 4u * (G & 1u);
    let w = r * p.wordsPerRow + g * 4u;
    for (var j = 0u; j < 4u; j++) { Codes[w + j] = nibbles8(qs + 8u * j, shift); }
    Scale[R * p.groupsPerRow + g] = d * f32(sc);
    Offset[R * p.groupsPerRow + g] = -(dmin * f32(m));
  } else if (TYPE == 14u) {
    let off = (r * p.blocksPerRow + (g >> 3u)) * 210u;
    let G = g & 7u;
    let n = G >> 2u;
    let k = G & 3u;
    let ql = off + 64u * n + 32u * (k & 1u);
    let lshift = 4u * (k >> 1u);
    let qh = off + 128u + 32u * n;
    let hshift = 2u * k;
    // 32 codes of 6 bits = 6 words of the row's dense stream.
    var out = array<u32, 6>(0u, 0u, 0u, 0u, 0u, 0u);
    for (var c = 0u; c < 32u; c++) {
      let code = ((byte_at(ql + c) >> lshift) & 0xfu) | (((byte_at(qh + c) >> hshift) & 3u) << 4u);
      let b = c * 6u;
      out[b >> 5u] |= code << (b & 31u);
      if ((b & 31u) > 26u) { out[(b >> 5u) + 1u] |= code >> (32u - (b & 31u)); }
    }
    let w = r * p.wordsPerRow + g * 6u;
    for (var j = 0u; j < 6u; j++) { Codes[w + j] = out[j]; }
    let d = f16_at(off + 208u);
    for (var h = 0u; h < 2u; h++) {
      let s8 = byte_at(off + 192u + 2u * G + h);
      let sc = i32(s8) - select(0, 256, s8 >= 128u);
      let scale = d * f32(sc);
      Scale[R * p.groupsPerRow + 2u * g + h] = scale;
      Offset[R * p.groupsPerRow + 2u * g + h] = -32.0 * scale;
    }
  }
}
