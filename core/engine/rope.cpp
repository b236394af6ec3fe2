#include "engine/rope.h"

#include <algorithm>
#include <cmath>

namespace lc {
namespace {

// transformers' _compute_yarn_parameters: blend interpolated and extrapolated frequencies
// over the dimensions between the beta_fast and beta_slow rotation counts.
std::vector<float> yarn_inv_freq(const RopeConfig& rope, int dim) {
    const double base = rope.theta;
    const int half = dim / 2;
    auto correction_dim = [&](double rotations) {
        return (dim * std::log(rope.original_max_position_embeddings / (rotations * 2 * M_PI))) /
               (2 * std::log(base));
    };
    double low = correction_dim(rope.beta_fast);
    double high = correction_dim(rope.beta_slow);
    if (rope.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, static_cast<double>(dim - 1));
    if (low == high) high += 0.001;  // as transformers: avoids a zero-width ramp

    std::vector<float> inv(half);
    for (int i = 0; i < half; ++i) {
        float pos_freq = static_cast<float>(std::pow(base, (2.0 * i) / dim));
        float extrapolation = 1.0f / pos_freq;
        float interpolation = 1.0f / (static_cast<float>(rope.factor) * pos_freq);
        float ramp = static_cast<float>(std::clamp((i - low) / (high - low), 0.0, 1.0));
        float extrapolation_weight = 1.0f - ramp;
        inv[i] =
            interpolation * (1.0f - extrapolation_weight) + extrapolation * extrapolation_weight;
    }
    return inv;
}

}  // namespace

Rope::Rope(const ModelConfig& config)
    : dim_(config.qk_rope_head_dim),
      interleave_(config.rope_interleave),
      attention_factor_(static_cast<float>(config.rope_attention_factor())) {
    const int half = dim_ / 2;
    if (config.rope.type == RopeType::Yarn) {
        inv_freq_ = yarn_inv_freq(config.rope, dim_);
    } else {
        inv_freq_.resize(half);
        for (int i = 0; i < half; ++i) {
            float f = static_cast<float>(1.0 / std::pow(config.rope.theta, (2.0 * i) / dim_));
            if (config.rope.type == RopeType::Linear) f /= static_cast<float>(config.rope.factor);
            inv_freq_[i] = f;
        }
    }
}

void Rope::angles(int position, float* cos, float* sin) const {
    const int half = dim_ / 2;
    for (int i = 0; i < half; ++i) {
        // The angle is formed in float32, as transformers' `inv_freq @ position_ids`.
        float angle = inv_freq_[i] * static_cast<float>(position);
        cos[i] = static_cast<float>(std::cos(static_cast<double>(angle))) * attention_factor_;
        sin[i] = static_cast<float>(std::sin(static_cast<double>(angle))) * attention_factor_;
    }
}

void Rope::rotate(float* x, const float* cos, const float* sin) const {
    const int half = dim_ / 2;
    if (interleave_) {
        for (int i = 0; i < half; ++i) {
            float a = x[2 * i], b = x[2 * i + 1];
            x[2 * i] = a * cos[i] - b * sin[i];
            x[2 * i + 1] = a * sin[i] + b * cos[i];
        }
    } else {
        for (int i = 0; i < half; ++i) {
            float a = x[i], b = x[i + half];
            x[i] = a * cos[i] - b * sin[i];
            x[i + half] = b * cos[i] + a * sin[i];
        }
    }
}

}  // namespace lc
