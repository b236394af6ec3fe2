#pragma once
// Will a model fit this machine, and how long a chat then fits: from the weights' bytes, the
// MLA cache formula (docs/design.md section 5: (d_c + d_rope) elements per token per layer) and
// the machine's free RAM and GPU memory. Used by the Models page before a download.
#include <cstdint>

namespace lc {

struct MachineMemory {
    int64_t ram_bytes = 0;         // available RAM (MemAvailable)
    int64_t gpu_bytes = 0;         // free memory of the GPU the app would use; 0 without one
    static MachineMemory probe();  // /proc/meminfo and the CUDA backend when built with it
};

struct ModelShape {  // what the cache needs per token
    int layers = 0;
    int kv_lora_rank = 0;
    int qk_rope_head_dim = 0;
    int max_context = 0;  // max_position_embeddings
};

// Gpu: weights, reserve and at least min(1024, max_context) tokens of bf16 cache fit in the free
// GPU memory; CpuOnly: the same in available RAM with an f32 cache; else TooLarge.
enum class FitPlace { Gpu, CpuOnly, TooLarge };

struct Fit {
    FitPlace place = FitPlace::TooLarge;
    int64_t context_tokens = 0;         // tokens of cache that fit beside the weights, in whole
                                        // 64-token pages (<= max_context; 0 when TooLarge)
    int64_t cache_bytes_per_token = 0;  // layers * (d_c + d_rope) * 2 (GPU) or 4 (CPU) bytes
};

// weight_bytes: what the engine holds (GGUF: the file's size; FP8: the BF16 it expands to).
// reserve_bytes: what the program, buffers and the OS keep (default 1 GiB).
Fit check_fit(int64_t weight_bytes, const ModelShape& shape, const MachineMemory& memory,
              int64_t reserve_bytes = int64_t{1} << 30);

}  // namespace lc
