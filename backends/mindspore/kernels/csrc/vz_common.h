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

#include "vz_parallel.h"

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

// Vector math on whole registers (GCC vector extensions): GCC does not vectorise the
// scalar forms of these loops by itself.
typedef int32_t vi __attribute__((vector_size(VL * 4)));

inline vf vload_tail(const float *p, int64_t n) { float t[VL] = {}; std::memcpy(t, p, n * 4); return vload(t); }
inline void vstore_tail(float *p, vf v, int64_t n) { float t[VL]; vstore(t, v); std::memcpy(p, t, n * 4); }
inline vf vmin(vf a, vf b) { return a < b ? a : b; }
inline vf vmax(vf a, vf b) { return a > b ? a : b; }
inline float hsum(vf v) { float s = 0.0f; for (int i = 0; i < VL; ++i) s += v[i]; return s; }
inline float hmax(vf v) { float m = v[0]; for (int i = 1; i < VL; ++i) m = std::max(m, v[i]); return m; }

// exp(x): Cephes' range reduction and polynomial (~1 ulp), x clamped to [-87, 88] so 2^n
// stays a normal float (exp(-87) ~ 1.6e-38 stands in for anything smaller).
inline vf vexp(vf x) {
  x = vmin(vmax(x, vsplat(-87.0f)), vsplat(88.0f));
  const vf n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest (1.5 * 2^23 trick)
  const vf r = x - n * 0.693359375f + n * 2.12194440e-4f;
  vf p = vsplat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  return p * __builtin_bit_cast(vf, bits);
}

inline vf vsigmoid(vf x) { return 1.0f / (1.0f + vexp(-x)); }

// erf(x) by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, the form PyTorch's vectorised
// erf uses); also gives exp(-x^2), which GELU's derivative needs.
inline vf verf(vf x, vf *exp_mx2) {
  const vi bits = __builtin_bit_cast(vi, x);
  const vi sign = bits & static_cast<int32_t>(0x80000000u);
  const vi abs_bits = bits & 0x7fffffff;
  const vf ax = __builtin_bit_cast(vf, abs_bits);
  const vf t = 1.0f / (1.0f + 0.3275911f * ax);
  const vf poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
  const vf e = vexp(-ax * ax);
  *exp_mx2 = e;
  const vf y = 1.0f - poly * e;
  const vi out = __builtin_bit_cast(vi, y) | sign;
  return __builtin_bit_cast(vf, out);
}

}  // namespace vz
