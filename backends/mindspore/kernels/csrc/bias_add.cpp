// Bias add after a GEMM, with a fast bias gradient (MindSpore's CPU BiasAddGrad is slow):
//   vz_bias_add(x[M..,F], bias[F]) -> y = x + bias
//   vz_bias_add_grad(dy[M..,F]) -> dbias = column sums of dy      (dx is dy itself)
#include "vz_gemm.h"  // round_up

VZ_KERNEL(vz_bias_add) {
  const float *x = static_cast<const float *>(params[0]);
  const float *bias = static_cast<const float *>(params[1]);
  float *y = static_cast<float *>(params[2]);
  const int64_t f = vz::last_dim(0, ndims, shapes), rows = vz::numel(0, ndims, shapes) / f;
  vz::parallel_for(rows, [&](int64_t r) {
    const float *xr = x + r * f;
    float *yr = y + r * f;
#pragma omp simd
    for (int64_t i = 0; i < f; ++i) yr[i] = xr[i] + bias[i];
  });
  return 0;
}

VZ_KERNEL(vz_bias_add_grad) {
  const float *dy = static_cast<const float *>(params[0]);
  float *dbias = static_cast<float *>(params[1]);
  const int64_t f = vz::last_dim(0, ndims, shapes), rows = vz::numel(0, ndims, shapes) / f;
  const std::vector<float> sum = vz::sum_rows(rows, f, [&](int64_t r, float *acc) {
    const float *g = dy + r * f;
#pragma omp simd
    for (int64_t i = 0; i < f; ++i) acc[i] += g[i];
  });
  std::copy_n(sum.data(), f, dbias);
  return 0;
}
