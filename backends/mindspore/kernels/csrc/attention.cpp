// Multi-head self-attention core from the qkv projection's output to the proj input:
// head split, softmax(scale q kᵀ) v, head merge, with no separate transposes.
//   qkv [B, N, 3D] laid out (3, heads, head_dim) along the last axis, as timm's qkv Linear.
//   vz_attention(qkv, cfg[2]={heads, scale}) -> out [B, N, D]
//   vz_attention_train(qkv, cfg) -> out, probs [B, heads, N, N]   (probs kept for backward)
//   vz_attention_grad(dout, qkv, probs, cfg) -> dqkv [B, N, 3D]
// One (batch, head) pair per task; every per-head matrix lives in a per-part buffer.
#include "vz_gemm.h"

namespace {

struct Dims {
  int64_t b, n, d, heads, hd, npad, hdpad;
  float scale;
};

Dims dims(int64_t **shapes, const float *cfg) {
  Dims s;
  s.b = shapes[0][0];
  s.n = shapes[0][1];
  s.d = shapes[0][2] / 3;
  s.heads = static_cast<int64_t>(cfg[0] + 0.5f);
  s.hd = s.d / s.heads;
  s.scale = cfg[1];
  s.npad = vz::round_up(s.n, vz::NR);
  s.hdpad = vz::round_up(s.hd, vz::NR);
  return s;
}

// rows x hd block of one head from a [N, 3D] token matrix (part 0 q, 1 k, 2 v), into dst (ld), pad zeroed.
inline void gather(const Dims &s, const float *tokens, int part, int64_t h, float mul, float *dst, int64_t ld) {
  for (int64_t i = 0; i < s.n; ++i) {
    const float *src = tokens + i * 3 * s.d + part * s.d + h * s.hd;
    float *row = dst + i * ld;
    for (int64_t c = 0; c < s.hd; ++c) row[c] = src[c] * mul;
    for (int64_t c = s.hd; c < ld; ++c) row[c] = 0.0f;
  }
}

// Row-wise softmax of the first ``cols`` columns; rows have ``ld`` >= round_up(cols, VL) floats.
inline void softmax_rows(int64_t rows, int64_t cols, float *x, int64_t ld) {
  using vz::vf;
  const int64_t full = cols / vz::VL * vz::VL, rest = cols - full;
  for (int64_t i = 0; i < rows; ++i) {
    float *r = x + i * ld;
    vf m = vz::vsplat(r[0]);
    for (int64_t j = 0; j < full; j += vz::VL) m = vz::vmax(m, vz::vload(r + j));
    float mx = vz::hmax(m);
    for (int64_t j = full; j < cols; ++j) mx = std::max(mx, r[j]);
    vf sum = vz::vsplat(0.0f);
    for (int64_t j = 0; j < full; j += vz::VL) {
      const vf e = vz::vexp(vz::vload(r + j) - mx);
      vz::vstore(r + j, e);
      sum += e;
    }
    if (rest) {  // padded lanes give exp(-87 or less) ~ 0 only if masked: zero them explicitly
      vf e = vz::vexp(vz::vload_tail(r + full, rest) - mx);
      for (int64_t l = rest; l < vz::VL; ++l) e[l] = 0.0f;
      vz::vstore_tail(r + full, e, rest);
      sum += e;
    }
    const float inv = 1.0f / vz::hsum(sum);
    for (int64_t j = 0; j < full; j += vz::VL) vz::vstore(r + j, vz::vload(r + j) * inv);
    if (rest) vz::vstore_tail(r + full, vz::vload_tail(r + full, rest) * inv, rest);
  }
}

int forward(void **params, int64_t **shapes, float *out, float *probs) {
  const float *qkv = static_cast<const float *>(params[0]);
  const Dims s = dims(shapes, static_cast<const float *>(params[1]));
  vz::parallel_ranges(s.b * s.heads, [&](int, int64_t begin, int64_t end) {
    std::vector<float> q(s.n * s.hdpad), kt(s.hdpad * s.npad), v(s.n * s.hdpad), p(s.n * s.npad), o(s.n * s.hdpad);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / s.heads, h = task % s.heads;
      const float *tokens = qkv + b * s.n * 3 * s.d;
      gather(s, tokens, 0, h, s.scale, q.data(), s.hdpad);
      gather(s, tokens, 2, h, 1.0f, v.data(), s.hdpad);
      for (int64_t c = 0; c < s.hd; ++c) {  // kᵀ [hd, npad]
        float *row = kt.data() + c * s.npad;
        for (int64_t i = 0; i < s.n; ++i) row[i] = tokens[i * 3 * s.d + s.d + h * s.hd + c];
        for (int64_t i = s.n; i < s.npad; ++i) row[i] = 0.0f;
      }
      vz::gemm(s.n, s.n, s.hd, q.data(), s.hdpad, kt.data(), s.npad, p.data(), s.npad);
      softmax_rows(s.n, s.n, p.data(), s.npad);
      vz::gemm(s.n, s.hd, s.n, p.data(), s.npad, v.data(), s.hdpad, o.data(), s.hdpad);
      for (int64_t i = 0; i < s.n; ++i)
        std::memcpy(out + (b * s.n + i) * s.d + h * s.hd, o.data() + i * s.hdpad, s.hd * sizeof(float));
      if (probs != nullptr)
        for (int64_t i = 0; i < s.n; ++i)
          std::memcpy(probs + (task * s.n + i) * s.n, p.data() + i * s.npad, s.n * sizeof(float));
    }
  });
  return 0;
}

}  // namespace

VZ_KERNEL(vz_attention) { return forward(params, shapes, static_cast<float *>(params[2]), nullptr); }

VZ_KERNEL(vz_attention_train) {
  return forward(params, shapes, static_cast<float *>(params[2]), static_cast<float *>(params[3]));
}

VZ_KERNEL(vz_attention_grad) {
  const float *dout = static_cast<const float *>(params[0]);
  const float *qkv = static_cast<const float *>(params[1]);
  const float *probs = static_cast<const float *>(params[2]);
  float *dqkv = static_cast<float *>(params[4]);
  const Dims s = dims(shapes + 1, static_cast<const float *>(params[3]));
  const int64_t n = s.n, hdp = s.hdpad, np = s.npad;
  vz::parallel_ranges(s.b * s.heads, [&](int, int64_t begin, int64_t end) {
    std::vector<float> dO(n * hdp), vt(hdp * np), ds(n * np), pt(n * np), kk(n * hdp), qq(n * hdp), dst(n * np),
        res(n * hdp);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / s.heads, h = task % s.heads;
      const float *tokens = qkv + b * n * 3 * s.d;
      const float *p = probs + task * n * n;
      float *dtok = dqkv + b * n * 3 * s.d;
      for (int64_t i = 0; i < n; ++i) {  // dO rows for this head, pad zeroed
        std::memcpy(dO.data() + i * hdp, dout + (b * n + i) * s.d + h * s.hd, s.hd * sizeof(float));
        for (int64_t c = s.hd; c < hdp; ++c) dO[i * hdp + c] = 0.0f;
      }
      gather(s, tokens, 0, h, 1.0f, qq.data(), hdp);
      gather(s, tokens, 1, h, 1.0f, kk.data(), hdp);
      gather(s, tokens, 2, h, 1.0f, res.data(), hdp);  // v, for vᵀ
      vz::transpose(n, s.hd, res.data(), hdp, vt.data(), np);
      vz::gemm(n, n, s.hd, dO.data(), hdp, vt.data(), np, ds.data(), np);  // dP = dO vᵀ
      for (int64_t i = 0; i < n; ++i) {  // dS = P (dP - rowsum(P dP))
        const float *pr = p + i * n;
        float *dr = ds.data() + i * np;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < n; ++j) dot += pr[j] * dr[j];
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) dr[j] = pr[j] * (dr[j] - dot);
      }
      vz::transpose(n, n, p, n, pt.data(), np);  // Pᵀ
      vz::gemm(n, s.hd, n, pt.data(), np, dO.data(), hdp, res.data(), hdp);  // dV = Pᵀ dO
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(dtok + i * 3 * s.d + 2 * s.d + h * s.hd, res.data() + i * hdp, s.hd * sizeof(float));
      vz::gemm(n, s.hd, n, ds.data(), np, kk.data(), hdp, res.data(), hdp, s.scale);  // dQ = scale dS k
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(dtok + i * 3 * s.d + h * s.hd, res.data() + i * hdp, s.hd * sizeof(float));
      vz::transpose(n, n, ds.data(), np, dst.data(), np);  // dSᵀ
      vz::gemm(n, s.hd, n, dst.data(), np, qq.data(), hdp, res.data(), hdp, s.scale);  // dK = scale dSᵀ q
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(dtok + i * 3 * s.d + s.d + h * s.hd, res.data() + i * hdp, s.hd * sizeof(float));
    }
  });
  return 0;
}
