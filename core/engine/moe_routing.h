#pragma once
// DeepSeekMoE gating for one token: which routed experts it goes to and with what weight.
// V2: softmax scores, greedy or group-limited greedy top-k, weights times
// routed_scaling_factor. V3 and GLM-4.7-Flash: sigmoid scores, experts chosen on score +
// e_score_correction_bias within the best topk_group groups (a group's score: its two best
// biased scores), weighted by the unbiased scores, renormalised when norm_topk_prob, times
// routed_scaling_factor. Only the config's routing fields decide, never its model type.
#include <span>

#include "formats/config.h"

namespace lc {

// `logits` has n_routed entries; `bias` is empty or n_routed long; `scratch` holds at least
// 2 * n_routed + n_group floats. Writes num_experts_per_tok ids and weights.
void route_token(const ModelConfig& config, const float* logits, std::span<const float> bias,
                 float* scratch, int* expert_ids, float* expert_weights);

}  // namespace lc
