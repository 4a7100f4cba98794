// LayerNorm over the last axis, forward and backward (rows in parallel).
//   vz_layer_norm(x[M..,D], weight[D], bias[D], cfg[1]={eps}) -> y, mean[M..], rstd[M..]
//   vz_layer_norm_grad(dy, x, weight, mean, rstd) -> dx, dweight, dbias
#include "vz_common.h"

VZ_KERNEL(vz_layer_norm) {
  const float *x = static_cast<const float *>(params[0]);
  const float *w = static_cast<const float *>(params[1]);
  const float *b = static_cast<const float *>(params[2]);
  const float eps = static_cast<const float *>(params[3])[0];
  float *y = static_cast<float *>(params[4]);
  float *mean = static_cast<float *>(params[5]);
  float *rstd = static_cast<float *>(params[6]);
  const int64_t d = vz::last_dim(0, ndims, shapes), rows = vz::numel(0, ndims, shapes) / d;
  vz::parallel_for(rows, [&](int64_t r) {
    const float *xr = x + r * d;
    float *yr = y + r * d;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < d; ++i) s += xr[i];
    const float mu = s / d;
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (int64_t i = 0; i < d; ++i) v += (xr[i] - mu) * (xr[i] - mu);
    const float rs = 1.0f / std::sqrt(v / d + eps);
    for (int64_t i = 0; i < d; ++i) yr[i] = (xr[i] - mu) * rs * w[i] + b[i];
    mean[r] = mu;
    rstd[r] = rs;
  });
  return 0;
}

VZ_KERNEL(vz_layer_norm_grad) {
  const float *dy = static_cast<const float *>(params[0]);
  const float *x = static_cast<const float *>(params[1]);
  const float *w = static_cast<const float *>(params[2]);
  const float *mean = static_cast<const float *>(params[3]);
  const float *rstd = static_cast<const float *>(params[4]);
  float *dx = static_cast<float *>(params[5]);
  float *dw = static_cast<float *>(params[6]);
  float *db = static_cast<float *>(params[7]);
  const int64_t d = vz::last_dim(0, ndims, shapes), rows = vz::numel(0, ndims, shapes) / d;
  // acc = [dweight | dbias] partial sums
  const std::vector<float> sums = vz::sum_rows(rows, 2 * d, [&](int64_t r, float *acc) {
    float *tw = acc, *tb = acc + d;
    const float *xr = x + r * d, *gr = dy + r * d;
    float *dxr = dx + r * d;
    const float mu = mean[r], rs = rstd[r];
    float sg = 0.0f, sgx = 0.0f;  // sums of g = dy*w and g*xhat
#pragma omp simd reduction(+ : sg, sgx)
    for (int64_t i = 0; i < d; ++i) {
      const float xh = (xr[i] - mu) * rs, g = gr[i] * w[i];
      sg += g;
      sgx += g * xh;
      tw[i] += gr[i] * xh;
      tb[i] += gr[i];
    }
    const float mg = sg / d, mgx = sgx / d;
    for (int64_t i = 0; i < d; ++i) {
      const float xh = (xr[i] - mu) * rs;
      dxr[i] = rs * (gr[i] * w[i] - mg - xh * mgx);
    }
  });
  std::copy_n(sums.data(), d, dw);
  std::copy_n(sums.data() + d, d, db);
  return 0;
}
