// A small row-major SGEMM for the attention kernel's per-head products (N x N x head_dim):
// C[M x N] = alpha * A[M x K] B[K x N], register-blocked MR rows x NR columns.
// B and C must be readable/writable up to round_up(N, NR) columns (pad them; zero B's pad
// where those columns are read back).
#pragma once
#include "vz_common.h"

namespace vz {

constexpr int NR = 2 * VL;
constexpr int MR = 6;

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

template <int R>
inline void micro(int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc, float alpha) {
  vf acc0[R], acc1[R];
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = vsplat(0.0f);
  for (int64_t p = 0; p < k; ++p) {
    const vf b0 = vload(b + p * ldb), b1 = vload(b + p * ldb + VL);
    for (int r = 0; r < R; ++r) {
      const vf av = vsplat(a[r * lda + p]);
      acc0[r] += av * b0;
      acc1[r] += av * b1;
    }
  }
  for (int r = 0; r < R; ++r) {
    vstore(c + r * ldc, acc0[r] * alpha);
    vstore(c + r * ldc + VL, acc1[r] * alpha);
  }
}

inline void gemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                 int64_t ldc, float alpha = 1.0f) {
  for (int64_t j = 0; j < n; j += NR) {
    int64_t i = 0;
    for (; i + MR <= m; i += MR) micro<MR>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, alpha);
    switch (m - i) {
      case 5: micro<5>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, alpha); break;
      case 4: micro<4>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, alpha); break;
      case 3: micro<3>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, alpha); break;
      case 2: micro<2>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, alpha); break;
      case 1: micro<1>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, alpha); break;
      default: break;
    }
  }
}

// dst[cols x rows] (leading dimension ld) = src[rows x cols]ᵀ (leading dimension lds); pad columns zeroed.
inline void transpose(int64_t rows, int64_t cols, const float *src, int64_t lds, float *dst, int64_t ld) {
  for (int64_t c = 0; c < cols; ++c) {
    float *d = dst + c * ld;
    for (int64_t r = 0; r < rows; ++r) d[r] = src[r * lds + c];
    for (int64_t r = rows; r < ld; ++r) d[r] = 0.0f;
  }
}

}  // namespace vz
