// rope_backward: gradients of rope_forward, in place on dq [N, H, D] and
// dk [N, K, D]. The forward map is a rotation R(θ) of each pair (i, i + D/2),
// so its Jacobian-transpose is R(θ)ᵀ = R(−θ):
//   (d_i, d_{i+D/2}) ← (d_i·cos θ + d_{i+D/2}·sin θ, d_{i+D/2}·cos θ − d_i·sin θ).
// dq and dk then flow into the q/k projections' backward pass.
// Bindings, threads and the exact fixed-point angle: shaders/include/rope.wgsl.
const SIN_SIGN: f32 = -1.0;

// #include rope
