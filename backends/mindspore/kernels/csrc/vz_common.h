// Shared helpers of vitzoo's CPU kernels: the MindSpore AOT entry signature, vector
// types sized for the ISA the file is compiled for, and branch-free float math
// (exp, erf, sigmoid) that GCC vectorises.  Each kernel .cpp includes this header.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <omp.h>

// MindSpore's AOT calling convention: params = inputs then outputs.
#define VZ_KERNEL(name)                                                                                         \
  extern "C" __attribute__((visibility("default"))) int name(int nparam, void **params, int *ndims,          \
                                                              int64_t **shapes, const char **dtypes,           \
                                                              void *stream, void *extra)

namespace vz {

#if defined(__AVX512F__)
constexpr int VL = 16;
#elif defined(__AVX__)
constexpr int VL = 8;
#else
constexpr int VL = 4;
#endif
typedef float vf __attribute__((vector_size(VL * 4)));

inline vf vload(const float *p) { vf v; std::memcpy(&v, p, sizeof(vf)); return v; }
inline void vstore(float *p, vf v) { std::memcpy(p, &v, sizeof(vf)); }
inline vf vsplat(float s) { vf v = {}; return v + s; }

inline int64_t numel(int i, int *ndims, int64_t **shapes) {
  int64_t n = 1;
  for (int d = 0; d < ndims[i]; ++d) n *= shapes[i][d];
  return n;
}
inline int64_t last_dim(int i, int *ndims, int64_t **shapes) { return shapes[i][ndims[i] - 1]; }

// exp(x) for x in float range, Cephes' range reduction and polynomial (~1 ulp); clamps
// to [-87, 88] so 2^n stays a normal float (exp(-87) ~ 1.6e-38 stands in for smaller values).
inline float exp_f(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

inline float sigmoid_f(float x) { return 1.0f / (1.0f + exp_f(-x)); }

// erf(x) by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, the form PyTorch's vectorised
// erf uses); also returns exp(-x^2), which GELU's derivative needs.
inline float erf_f(float x, float *exp_mx2) {
  float ax = std::fabs(x);
  float t = 1.0f / (1.0f + 0.3275911f * ax);
  float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
  float e = exp_f(-ax * ax);
  *exp_mx2 = e;
  float y = 1.0f - poly * e;
  return std::copysign(y, x);
}

// Column sums of per-thread partial rows: partial is [threads, cols], out gets their sum.
inline void reduce_partials(const std::vector<float> &partial, int threads, int64_t cols, float *out) {
  for (int64_t c = 0; c < cols; ++c) out[c] = 0.0f;
  for (int t = 0; t < threads; ++t) {
    const float *p = partial.data() + t * cols;
    for (int64_t c = 0; c < cols; ++c) out[c] += p[c];
  }
}

}  // namespace vz
