#include "engine/moe_routing.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lc {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Index of the largest value among those not yet taken (taken entries are set to -inf by the
// caller). Ties go to the lower index.
int take_max(float* values, int n) {
    int best = 0;
    for (int i = 1; i < n; ++i)
        if (values[i] > values[best]) best = i;
    return best;
}

}  // namespace

void route_token(const ModelConfig& c, const float* logits, std::span<const float> bias,
                 float* scratch, int* expert_ids, float* expert_weights) {
    const int n = c.n_routed_experts;
    const int k = c.num_experts_per_tok;
    float* scores = scratch;               // [n] unbiased scores
    float* choice = scratch + n;           // [n] what experts are chosen on
    float* group_score = scratch + 2 * n;  // [n_group]

    if (c.scoring_func == ScoringFunc::Softmax) {
        float m = *std::max_element(logits, logits + n);
        double sum = 0;
        for (int i = 0; i < n; ++i)
            sum += (scores[i] = std::exp(logits[i] - m));
        for (int i = 0; i < n; ++i)
            scores[i] = static_cast<float>(scores[i] / sum);
    } else {
        for (int i = 0; i < n; ++i)
            scores[i] = 1.0f / (1.0f + std::exp(-logits[i]));
    }
    for (int i = 0; i < n; ++i)
        choice[i] = scores[i] + (bias.empty() ? 0.0f : bias[i]);

    if (c.topk_method != TopkMethod::Greedy && c.n_group > 1) {
        const int group_size = n / c.n_group;
        for (int g = 0; g < c.n_group; ++g) {
            const float* s = choice + g * group_size;
            if (c.topk_method == TopkMethod::GroupLimitedGreedy) {
                group_score[g] = *std::max_element(s, s + group_size);
            } else {  // noaux_tc: the sum of the group's two best
                float best = kNegInf, second = kNegInf;
                for (int i = 0; i < group_size; ++i) {
                    if (s[i] > best) {
                        second = best;
                        best = s[i];
                    } else if (s[i] > second) {
                        second = s[i];
                    }
                }
                group_score[g] = best + second;
            }
        }
        // Keep the best topk_group groups; the others cannot be chosen. (V2 masks them to a
        // score of 0, V3 to -inf; both leave them unpicked since k fits in the kept groups.)
        uint64_t kept = 0;  // bit g: group g kept (n_group <= 64 in every DeepSeek config)
        for (int j = 0; j < c.topk_group; ++j) {
            int g = take_max(group_score, c.n_group);
            kept |= uint64_t(1) << g;
            group_score[g] = kNegInf;
        }
        for (int g = 0; g < c.n_group; ++g)
            if (!(kept >> g & 1))
                for (int i = 0; i < group_size; ++i)
                    choice[g * group_size + i] = kNegInf;
    }

    float sum = 0;
    for (int j = 0; j < k; ++j) {
        int e = take_max(choice, n);
        choice[e] = kNegInf;
        expert_ids[j] = e;
        expert_weights[j] = scores[e];
        sum += scores[e];
    }
    // The config says whether to renormalise (false for V2, whose transformers class ignores
    // the key; formats/config.cpp).
    if (c.norm_topk_prob)
        for (int j = 0; j < k; ++j)
            expert_weights[j] /= (sum + 1e-20f);
    for (int j = 0; j < k; ++j)
        expert_weights[j] *= static_cast<float>(c.routed_scaling_factor);
}

}  // namespace lc
