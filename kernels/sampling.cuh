#pragma once
// Sampling on the GPU, as core/sampler.cpp does it on the host (repetition penalty, greedy,
// temperature, min-p, top-k, top-p), so that only the chosen id crosses to the host.
#include <cuda_runtime.h>

#include "engine/sampler.h"

namespace lc::cuda {

// At most this many candidates survive min-p for the sorted path; beyond it (a flat
// distribution with min-p off) the host finishes the draw.
constexpr int kMaxCandidates = 4096;

struct SampleOutput {
    int id;         // the chosen id, or -1: too many candidates, finish on the host
    int penalized;  // 1 when the repetition penalty was applied to the logits
};

// `recent` ([n_recent], device) is the penalty window. Writes *out (device memory).
void sample(float* logits, int vocab, const SamplingParams& params, const int* recent, int n_recent,
            double uniform, SampleOutput* out, cudaStream_t stream);

}  // namespace lc::cuda
