// Bias add + GELU in the three forms ViT specs use, forward and backward:
//   erf   x/2 (1 + erf(x/sqrt 2))                   (timm's nn.GELU)
//   tanh  x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3))  (GELU(approximate="tanh"))
//   quick x sigmoid(1.702 x)                          (OpenAI CLIP's QuickGELU)
//   vz_bias_gelu_<form>(h[M..,F], bias[F]) -> y = gelu(h + bias)
//   vz_bias_gelu_<form>_grad(dy, h, bias) -> dh, dbias
#include "vz_gemm.h"  // round_up

namespace {

enum Form { ERF, TANH, QUICK };
constexpr float kSqrtHalf = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kTanh2K = 2.0f * 0.79788456080286536f;  // 2 sqrt(2/pi)
constexpr float kTanhC = 0.044715f;
constexpr float kQuick = 1.702f;

template <Form F>
inline vz::vf gelu(vz::vf x) {
  if (F == ERF) {
    vz::vf e;
    const vz::vf half = 0.5f * x;
    return half + half * vz::verf(x * kSqrtHalf, &e);
  } else if (F == TANH) {
    return x * vz::vsigmoid(x * (kTanh2K + kTanh2K * kTanhC * x * x));
  }
  return x * vz::vsigmoid(kQuick * x);
}

template <Form F>
inline vz::vf gelu_grad(vz::vf x) {
  if (F == ERF) {
    vz::vf e;  // exp(-x^2/2)
    const vz::vf erf = vz::verf(x * kSqrtHalf, &e);
    return 0.5f * (1.0f + erf) + x * kInvSqrt2Pi * e;
  } else if (F == TANH) {
    const vz::vf s = vz::vsigmoid(x * (kTanh2K + kTanh2K * kTanhC * x * x));
    return s + x * s * (1.0f - s) * kTanh2K * (1.0f + 3.0f * kTanhC * x * x);
  }
  const vz::vf s = vz::vsigmoid(kQuick * x);
  return s + kQuick * x * s * (1.0f - s);
}

template <Form F>
int forward(void **params, int *ndims, int64_t **shapes) {
  const float *h = static_cast<const float *>(params[0]);
  const float *bias = static_cast<const float *>(params[1]);
  float *y = static_cast<float *>(params[2]);
  const int64_t f = vz::last_dim(0, ndims, shapes), rows = vz::numel(0, ndims, shapes) / f;
  vz::parallel_for(rows, [&](int64_t r) {
    const float *hr = h + r * f;
    float *yr = y + r * f;
    int64_t i = 0;
    for (; i + vz::VL <= f; i += vz::VL) vz::vstore(yr + i, gelu<F>(vz::vload(hr + i) + vz::vload(bias + i)));
    if (i < f) vz::vstore_tail(yr + i, gelu<F>(vz::vload_tail(hr + i, f - i) + vz::vload_tail(bias + i, f - i)), f - i);
  });
  return 0;
}

template <Form F>
int backward(void **params, int *ndims, int64_t **shapes) {
  const float *dy = static_cast<const float *>(params[0]);
  const float *h = static_cast<const float *>(params[1]);
  const float *bias = static_cast<const float *>(params[2]);
  float *dh = static_cast<float *>(params[3]);
  float *dbias = static_cast<float *>(params[4]);
  const int64_t f = vz::last_dim(1, ndims, shapes), rows = vz::numel(1, ndims, shapes) / f;
  const int64_t fpad = vz::round_up(f, vz::VL);
  const std::vector<float> sum = vz::sum_rows(rows, fpad, [&](int64_t r, float *acc) {  // acc padded to whole vectors
    const float *dyr = dy + r * f, *hr = h + r * f;
    float *dhr = dh + r * f;
    int64_t i = 0;
    for (; i + vz::VL <= f; i += vz::VL) {
      const vz::vf g = vz::vload(dyr + i) * gelu_grad<F>(vz::vload(hr + i) + vz::vload(bias + i));
      vz::vstore(dhr + i, g);
      vz::vstore(acc + i, vz::vload(acc + i) + g);
    }
    if (i < f) {
      const int64_t n = f - i;
      const vz::vf g = vz::vload_tail(dyr + i, n) * gelu_grad<F>(vz::vload_tail(hr + i, n) + vz::vload_tail(bias + i, n));
      vz::vstore_tail(dhr + i, g, n);
      vz::vstore(acc + i, vz::vload(acc + i) + g);
    }
  });
  std::copy_n(sum.data(), f, dbias);
  return 0;
}

}  // namespace

VZ_KERNEL(vz_bias_gelu_erf) { return forward<ERF>(params, ndims, shapes); }
VZ_KERNEL(vz_bias_gelu_erf_grad) { return backward<ERF>(params, ndims, shapes); }
VZ_KERNEL(vz_bias_gelu_tanh) { return forward<TANH>(params, ndims, shapes); }
VZ_KERNEL(vz_bias_gelu_tanh_grad) { return backward<TANH>(params, ndims, shapes); }
VZ_KERNEL(vz_bias_gelu_quick) { return forward<QUICK>(params, ndims, shapes); }
VZ_KERNEL(vz_bias_gelu_quick_grad) { return backward<QUICK>(params, ndims, shapes); }
