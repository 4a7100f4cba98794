// Bias add after a GEMM, with a fast bias gradient (MindSpore's CPU BiasAddGrad is slow):
//   vz_bias_add(x[M..,F], bias[F]) -> y = x + bias
//   vz_bias_add_grad(dy[M..,F]) -> dbias = column sums of dy      (dx is dy itself)
#include "vz_gemm.h"  // round_up

VZ_KERNEL(vz_bias_add) {
  const float *x = static_cast<const float *>(params[0]);
  const float *bias = static_cast<const float *>(params[1]);
  float *y = static_cast<float *>(params[2]);
  const int64_t f = vz::last_dim(0, ndims, shapes), rows = vz::numel(0, ndims, shapes) / f;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * f;
    float *yr = y + r * f;
#pragma omp simd
    for (int64_t i = 0; i < f; ++i) yr[i] = xr[i] + bias[i];
  }
  return 0;
}

VZ_KERNEL(vz_bias_add_grad) {
  const float *dy = static_cast<const float *>(params[0]);
  float *dbias = static_cast<float *>(params[1]);
  const int64_t f = vz::last_dim(0, ndims, shapes), rows = vz::numel(0, ndims, shapes) / f;
  const int threads = omp_get_num_procs();  // a fixed team per machine: partial sums, and so the bits, never depend on the calling thread
  std::vector<float> partial(threads * f, 0.0f);
#pragma omp parallel num_threads(threads)
  {
    float *acc = partial.data() + omp_get_thread_num() * f;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float *g = dy + r * f;
#pragma omp simd
      for (int64_t i = 0; i < f; ++i) acc[i] += g[i];
    }
  }
  vz::reduce_partials(partial, threads, f, dbias);
  return 0;
}
