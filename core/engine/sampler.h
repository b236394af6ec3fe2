#pragma once
// Turns logits into the next token id: greedy, temperature, top-k, top-p, min-p and a
// repetition penalty, all from a seeded generator (same seed and logits, same ids).
// All scratch space is allocated in the constructor; sample() never allocates.
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace lc {

struct SamplingParams {
    float temperature = 0.8f;         // 0 means greedy (argmax)
    int top_k = 40;                   // 0 disables
    float top_p = 0.95f;              // 1 disables
    float min_p = 0.05f;              // 0 disables; keeps tokens with p >= min_p * p_max
    float repetition_penalty = 1.0f;  // 1 disables; CTRL-style on the recent window
    int repetition_window = 64;       // how many recent tokens the penalty looks at
    uint64_t seed = 0;

    // Throws lc::Error naming the field when a value is out of range.
    void validate() const;
};

class Sampler {
public:
    Sampler(const SamplingParams& params, int vocab_size);

    // `logits` has vocab_size entries and may be modified in place.
    // `recent` are the ids already in the context (for the repetition penalty).
    int sample(std::span<float> logits, std::span<const int> recent);
    // The same with the random draw given (next_uniform() taken earlier); null for greedy.
    int sample(std::span<float> logits, std::span<const int> recent, const double* uniform);

    const SamplingParams& params() const { return params_; }
    // The next uniform draw in [0, 1), the one sample() would use (for samplers elsewhere, such
    // as the GPU's, so a seed gives the same sequence of draws on every backend).
    double next_uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }
    void reseed(uint64_t seed);

private:
    SamplingParams params_;
    int vocab_size_;
    std::mt19937_64 rng_;
    std::vector<int> order_;     // candidate ids, sorted by logit
    std::vector<float> probs_;   // their probabilities
    std::vector<uint8_t> seen_;  // for the repetition penalty
};

int argmax(std::span<const float> values);

}  // namespace lc
