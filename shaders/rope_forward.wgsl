// rope_forward: rotary position embedding of q [N, H, D] and k [N, K, D], in
// place, in the half-split (rotate_half) layout: for each head and i < D/2,
//   (x_i, x_{i+D/2}) ← (x_i·cos θ − x_{i+D/2}·sin θ, x_{i+D/2}·cos θ + x_i·sin θ),
//   θ = pos[n] · inv_freq[i]  (transformers apply_rotary_pos_emb; RoFormer, arXiv 2104.09864).
// In place because attention reads only the rotated q, k, and the backward pass
// needs no copy of the unrotated ones (rope_backward rotates the gradients).
// Bindings, threads and the exact fixed-point angle: shaders/include/rope.wgsl.
const SIN_SIGN: f32 = 1.0;

// #include rope
