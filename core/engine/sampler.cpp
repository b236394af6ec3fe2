// Logits to token ids (see sampler.h).
#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include "base/error.h"

namespace lc {

namespace {

std::string number(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

}  // namespace

void SamplingParams::validate() const {
    if (!std::isfinite(temperature) || temperature < 0.0f) {
        throw Error("temperature must be a finite number >= 0, got " + number(temperature));
    }
    if (top_k < 0) throw Error("top_k must be >= 0, got " + std::to_string(top_k));
    if (!(top_p > 0.0f && top_p <= 1.0f)) {
        throw Error("top_p must be in (0, 1], got " + number(top_p));
    }
    if (!(min_p >= 0.0f && min_p < 1.0f)) {
        throw Error("min_p must be in [0, 1), got " + number(min_p));
    }
    if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty)) {
        throw Error("repetition_penalty must be a finite number > 0, got " +
                    number(repetition_penalty));
    }
    if (repetition_window < 0) {
        throw Error("repetition_window must be >= 0, got " + std::to_string(repetition_window));
    }
}

int argmax(std::span<const float> values) {
    if (values.empty()) return -1;
    int best = 0;
    float best_value = std::isnan(values[0]) ? kNegInf : values[0];
    for (size_t i = 1; i < values.size(); ++i) {
        if (values[i] > best_value) {  // false for NaN: it never wins
            best_value = values[i];
            best = static_cast<int>(i);
        }
    }
    return best;
}

Sampler::Sampler(const SamplingParams& params, int vocab_size)
    : params_(params), vocab_size_(vocab_size), rng_(params.seed) {
    params_.validate();
    if (vocab_size <= 0) {
        throw Error("the sampler needs a vocabulary size > 0, got " + std::to_string(vocab_size));
    }
    order_.resize(static_cast<size_t>(vocab_size));
    probs_.resize(static_cast<size_t>(vocab_size));
    seen_.assign(static_cast<size_t>(vocab_size), 0);
}

void Sampler::reseed(uint64_t seed) {
    params_.seed = seed;
    rng_.seed(seed);
}

int Sampler::sample(std::span<float> logits, std::span<const int> recent) {
    return sample(logits, recent, static_cast<const double*>(nullptr));
}

int Sampler::sample(std::span<float> logits, std::span<const int> recent, const double* uniform) {
    if (logits.size() != static_cast<size_t>(vocab_size_)) {
        throw Error("the model produced " + std::to_string(logits.size()) +
                    " logits for a vocabulary of " + std::to_string(vocab_size_) + " tokens");
    }
    const int n = vocab_size_;
    float* x = logits.data();

    // 1) Repetition penalty (CTRL), once per distinct id of the recent window.
    if (params_.repetition_penalty != 1.0f && params_.repetition_window > 0) {
        const size_t window =
            std::min(recent.size(), static_cast<size_t>(params_.repetition_window));
        const auto tail = recent.subspan(recent.size() - window);
        const float penalty = params_.repetition_penalty;
        for (int id : tail) {
            if (id < 0 || id >= n || seen_[static_cast<size_t>(id)]) continue;
            seen_[static_cast<size_t>(id)] = 1;
            float& v = x[id];
            v = v > 0.0f ? v / penalty : v * penalty;
        }
        for (int id : tail) {
            if (id >= 0 && id < n) seen_[static_cast<size_t>(id)] = 0;
        }
    }

    // NaN never wins; +inf becomes the largest finite value so that differences stay finite.
    float max_logit = kNegInf;
    for (int i = 0; i < n; ++i) {
        float v = x[i];
        if (std::isnan(v)) {
            v = kNegInf;
        } else if (v == std::numeric_limits<float>::infinity()) {
            v = std::numeric_limits<float>::max();
        }
        x[i] = v;
        max_logit = std::max(max_logit, v);
    }

    // 2) Greedy.
    if (params_.temperature == 0.0f || max_logit == kNegInf) return argmax(logits);

    // 3) Candidates: softmax of logit / temperature, relative to the best one.
    const float inv_t = 1.0f / params_.temperature;
    const auto rel = [&](int id) {
        const float d = x[id] - max_logit;
        return d == 0.0f ? 1.0f : std::exp(d * inv_t);  // 0 * inf would be NaN for tiny T
    };
    int count = 0;
    if (params_.min_p > 0.0f) {
        // min-p keeps p >= min_p * p_max, i.e. exp((x - max) / T) >= min_p; it keeps a prefix
        // of the sorted order, so filter before sorting.
        for (int i = 0; i < n; ++i) {
            if (x[i] != kNegInf && rel(i) >= params_.min_p)
                order_[static_cast<size_t>(count++)] = i;
        }
    } else {
        for (int i = 0; i < n; ++i) {
            if (x[i] != kNegInf) order_[static_cast<size_t>(count++)] = i;
        }
    }
    // Highest logit first; the lower id first on ties, so every library sorts alike.
    const auto higher = [x](int a, int b) { return x[a] > x[b] || (x[a] == x[b] && a < b); };
    const auto first = order_.begin();
    int kept = count;
    if (params_.top_k > 0 && params_.top_k < count) {
        kept = params_.top_k;
        std::partial_sort(first, first + kept, first + count, higher);
    } else {
        std::sort(first, first + count, higher);
    }

    double total = 0.0;
    for (int i = 0; i < kept; ++i) {
        const float p = rel(order_[static_cast<size_t>(i)]);
        probs_[static_cast<size_t>(i)] = p;
        total += p;
    }

    // top-p: the smallest prefix holding at least top_p of the (renormalised) mass.
    if (params_.top_p < 1.0f) {
        const double target = static_cast<double>(params_.top_p) * total;
        double cumulative = 0.0;
        int prefix = 0;
        while (prefix < kept) {
            cumulative += probs_[static_cast<size_t>(prefix++)];
            if (cumulative >= target) break;
        }
        kept = std::max(prefix, 1);
        total = cumulative;
    }

    // Draw: a uniform double from the top 53 bits, the same with every standard library.
    const double u = (uniform ? *uniform : next_uniform()) * total;
    double cumulative = 0.0;
    for (int i = 0; i < kept; ++i) {
        cumulative += probs_[static_cast<size_t>(i)];
        if (u < cumulative) return order_[static_cast<size_t>(i)];
    }
    return order_[static_cast<size_t>(kept - 1)];
}

}  // namespace lc
