// Bias add + packed SwiGLU (timm's GluMlp): h = fc1 output [M.., 2H] = [a | b],
//   vz_bias_swiglu(h, bias[2H]) -> y[M.., H] = silu(a + bias_a) * (b + bias_b)
//   vz_bias_swiglu_grad(dy, h, bias) -> dh [M.., 2H], dbias [2H]
#include "vz_gemm.h"  // round_up

VZ_KERNEL(vz_bias_swiglu) {
  const float *h = static_cast<const float *>(params[0]);
  const float *bias = static_cast<const float *>(params[1]);
  float *y = static_cast<float *>(params[2]);
  const int64_t f2 = vz::last_dim(0, ndims, shapes), f = f2 / 2, rows = vz::numel(0, ndims, shapes) / f2;
  vz::parallel_for(rows, [&](int64_t r) {
    const float *a = h + r * f2, *b = a + f;
    float *yr = y + r * f;
    auto body = [&](int64_t i, auto ld, auto st) {
      const vz::vf av = ld(a + i) + ld(bias + i), bv = ld(b + i) + ld(bias + f + i);
      st(yr + i, av * vz::vsigmoid(av) * bv);
    };
    int64_t i = 0;
    for (; i + vz::VL <= f; i += vz::VL) body(i, vz::vload, vz::vstore);
    if (i < f) {
      const int64_t n = f - i;
      body(i, [n](const float *p) { return vz::vload_tail(p, n); }, [n](float *p, vz::vf v) { vz::vstore_tail(p, v, n); });
    }
  });
  return 0;
}

VZ_KERNEL(vz_bias_swiglu_grad) {
  const float *dy = static_cast<const float *>(params[0]);
  const float *h = static_cast<const float *>(params[1]);
  const float *bias = static_cast<const float *>(params[2]);
  float *dh = static_cast<float *>(params[3]);
  float *dbias = static_cast<float *>(params[4]);
  const int64_t f2 = vz::last_dim(1, ndims, shapes), f = f2 / 2, rows = vz::numel(1, ndims, shapes) / f2;
  const std::vector<float> sum = vz::sum_rows(rows, f2, [&](int64_t r, float *acc) {
    const float *a = h + r * f2, *b = a + f, *g = dy + r * f;
    float *da = dh + r * f2, *db = da + f;
    auto body = [&](int64_t i, auto ld, auto st) {
      const vz::vf av = ld(a + i) + ld(bias + i), bv = ld(b + i) + ld(bias + f + i), gv = ld(g + i);
      const vz::vf s = vz::vsigmoid(av);
      const vz::vf ga = gv * bv * s * (1.0f + av * (1.0f - s));  // d silu(a) = s (1 + a (1 - s))
      const vz::vf gb = gv * av * s;
      st(da + i, ga);
      st(db + i, gb);
      st(acc + i, ld(acc + i) + ga);
      st(acc + f + i, ld(acc + f + i) + gb);
    };
    int64_t i = 0;
    for (; i + vz::VL <= f; i += vz::VL) body(i, vz::vload, vz::vstore);
    if (i < f) {
      const int64_t n = f - i;
      body(i, [n](const float *p) { return vz::vload_tail(p, n); }, [n](float *p, vz::vf v) { vz::vstore_tail(p, v, n); });
    }
  });
  std::copy_n(sum.data(), f2, dbias);
  return 0;
}
