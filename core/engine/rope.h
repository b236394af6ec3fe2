#pragma once
// Decoupled rotary position embedding of MLA: the inverse frequencies (default, linear or YaRN,
// computed as transformers does, in float32) and the rotation of q_pe / k_pe.
#include <vector>

#include "formats/config.h"

namespace lc {

class Rope {
public:
    explicit Rope(const ModelConfig& config);

    int dim() const { return dim_; }
    // cos/sin of every frequency for one position, already multiplied by the attention factor:
    // `cos` and `sin` receive dim()/2 floats each.
    void angles(int position, float* cos, float* sin) const;
    // Rotates one head's `dim()` elements in place. Interleaved: pairs (2i, 2i+1) as DeepSeek
    // checkpoints; otherwise pairs (i, i + dim/2).
    void rotate(float* x, const float* cos, const float* sin) const;
    const std::vector<float>& inv_freq() const { return inv_freq_; }

private:
    int dim_;
    bool interleave_;
    float attention_factor_;
    std::vector<float> inv_freq_;
};

}  // namespace lc
