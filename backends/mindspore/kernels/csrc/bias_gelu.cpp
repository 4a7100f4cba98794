// Bias add + GELU in the three forms ViT specs use, forward and backward:
//   erf   x/2 (1 + erf(x/sqrt 2))                   (timm's nn.GELU)
//   tanh  x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3))  (GELU(approximate="tanh"))
//   quick x sigmoid(1.702 x)                          (OpenAI CLIP's QuickGELU)
//   vz_bias_gelu_<form>(h[M..,F], bias[F]) -> y = gelu(h + bias)
//   vz_bias_gelu_<form>_grad(dy, h, bias) -> dh, dbias
#include "vz_common.h"

namespace {

enum Form { ERF, TANH, QUICK };
constexpr float kSqrtHalf = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kTanh2K = 2.0f * 0.79788456080286536f;  // 2 sqrt(2/pi)
constexpr float kTanhC = 0.044715f;
constexpr float kQuick = 1.702f;

template <Form F>
inline float gelu(float x) {
  if (F == ERF) {
    float e;
    const float half = 0.5f * x;
    return half + half * vz::erf_f(x * kSqrtHalf, &e);
  } else if (F == TANH) {
    return x * vz::sigmoid_f(x * (kTanh2K + kTanh2K * kTanhC * x * x));
  }
  return x * vz::sigmoid_f(kQuick * x);
}

template <Form F>
inline float gelu_grad(float x) {
  if (F == ERF) {
    float e;  // exp(-x^2/2)
    const float erf = vz::erf_f(x * kSqrtHalf, &e);
    return 0.5f * (1.0f + erf) + x * kInvSqrt2Pi * e;
  } else if (F == TANH) {
    const float s = vz::sigmoid_f(x * (kTanh2K + kTanh2K * kTanhC * x * x));
    return s + x * s * (1.0f - s) * kTanh2K * (1.0f + 3.0f * kTanhC * x * x);
  }
  const float s = vz::sigmoid_f(kQuick * x);
  return s + kQuick * x * s * (1.0f - s);
}

template <Form F>
int forward(void **params, int *ndims, int64_t **shapes) {
  const float *h = static_cast<const float *>(params[0]);
  const float *bias = static_cast<const float *>(params[1]);
  float *y = static_cast<float *>(params[2]);
  const int64_t f = vz::last_dim(0, ndims, shapes), rows = vz::numel(0, ndims, shapes) / f;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float *hr = h + r * f;
    float *yr = y + r * f;
#pragma omp simd
    for (int64_t i = 0; i < f; ++i) yr[i] = gelu<F>(hr[i] + bias[i]);
  }
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
  const int threads = omp_get_max_threads();
  std::vector<float> partial(threads * f, 0.0f);
#pragma omp parallel num_threads(threads)
  {
    float *acc = partial.data() + omp_get_thread_num() * f;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float *dyr = dy + r * f, *hr = h + r * f;
      float *dhr = dh + r * f;
#pragma omp simd
      for (int64_t i = 0; i < f; ++i) {
        const float g = dyr[i] * gelu_grad<F>(hr[i] + bias[i]);
        dhr[i] = g;
        acc[i] += g;
      }
    }
  }
  vz::reduce_partials(partial, threads, f, dbias);
  return 0;
}

}  // namespace

VZ_KERNEL(vz_bias_gelu_erf) { return forward<ERF>(params, ndims, shapes); }
VZ_KERNEL(vz_bias_gelu_erf_grad) { return backward<ERF>(params, ndims, shapes); }
VZ_KERNEL(vz_bias_gelu_tanh) { return forward<TANH>(params, ndims, shapes); }
VZ_KERNEL(vz_bias_gelu_tanh_grad) { return backward<TANH>(params, ndims, shapes); }
VZ_KERNEL(vz_bias_gelu_quick) { return forward<QUICK>(params, ndims, shapes); }
VZ_KERNEL(vz_bias_gelu_quick_grad) { return backward<QUICK>(params, ndims, shapes); }
