#pragma once
// DeepSeekMoE whose experts are quantized (GGUF): each of gate, up and down may have its own
// type, and the shared experts their own types too (a Q4_K_M file keeps routed downs in Q5_0 or
// Q8_0 and shared ones in Q6_K). Routing is moe.cu's; the products are integer dot products
// on 8-bit activations (quant_row.cuh).
#include <cuda_runtime.h>

#include <cstdint>

#include "moe.cuh"
#include "quant_layout.cuh"

namespace lc::cuda {

// One MoE layer's experts as the kernels see them.
struct QuantExpertTable {
    const uint8_t* const* gate = nullptr;  // [n_routed] device pointers: each expert's rows
    const uint8_t* const* up = nullptr;    //   [intermediate, d]
    const uint8_t* const* down = nullptr;  //   [d, intermediate]
    DType gate_type = DType::F32, up_type = DType::F32, down_type = DType::F32;
    int intermediate = 0;
    // The shared experts as one SwiGLU of width shared_inter (0: none). Its gate/up rows are
    // split into slots of `intermediate` rows next to the routed ones; its down is one product
    // over all of them (its columns need not split on block boundaries).
    const uint8_t* shared_gate = nullptr;  // [shared_inter, d]
    const uint8_t* shared_up = nullptr;
    const uint8_t* shared_down = nullptr;  // [d, shared_inter]
    DType shared_gate_type = DType::F32, shared_up_type = DType::F32, shared_down_type = DType::F32;
    int shared_inter = 0;
    const float* bias = nullptr;  // [n_routed] or null

    __host__ __device__ int shared_slots() const {
        return shared_inter > 0 ? (shared_inter + intermediate - 1) / intermediate : 0;
    }
};

// Activations of the experts' products, 8 bits per 32 (both allocated at load).
struct QuantMoeScratch {
    Q8Buffer x;  // [max_batch, d]: the normed input
    Q8Buffer h;  // [max_batch * (k + shared slots), intermediate]: silu(gate x) * up x
};

// Decode (one token) in three launches: the router (plain weights, RMSNorm folded in; its last
// block routes, block 0 also writes xn and its 8-bit copy); the experts' gate/up; their downs
// added to out. `counter` is one zeroed unsigned in device memory.
void quant_moe_decode(const QuantExpertTable& experts, const RoutingParams& routing,
                      const WeightMatrix& router, const float* x, const float* norm, float eps,
                      float* xn, float* logits, int d, int* ids, float* weights,
                      const QuantMoeScratch& scratch, float* out, cudaStream_t stream,
                      unsigned* counter);

// Any number of tokens, after the router's logits [n, n_routed] and xn [n, d] were computed:
// routing and 8-bit xn, the experts' gate/up, their downs added to out [n, d].
void quant_moe_experts(const QuantExpertTable& experts, const RoutingParams& routing,
                       const float* logits, const float* xn, int d, int n, int* ids, float* weights,
                       const QuantMoeScratch& scratch, float* out, cudaStream_t stream);

}  // namespace lc::cuda
