#pragma once
// What every kernel file shares: error checks that throw lc::Error, element loads for the three
// weight dtypes (widened to f32), and warp/block reductions.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "base/dtype.h"
#include "base/error.h"

namespace lc::cuda {

inline void check(cudaError_t err, const char* what) {
    if (err != cudaSuccess)
        throw Error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(err));
}
// After a launch: configuration errors show at once, faults at the next synchronization.
inline void check_launch(const char* kernel) {
    check(cudaGetLastError(), kernel);
}

constexpr int kWarp = 32;

// Elements of each stored dtype, widened to f32.
template <class T>
__device__ __forceinline__ float to_f32(T v);
template <>
__device__ __forceinline__ float to_f32<float>(float v) {
    return v;
}
template <>
__device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 v) {
    return __bfloat162float(v);
}
template <>
__device__ __forceinline__ float to_f32<__half>(__half v) {
    return __half2float(v);
}

// Eight (bf16/f16) or four (f32) elements in one 16-byte load, widened into out[0..N).
template <class T>
struct Vec16 {
    static constexpr int N = 16 / sizeof(T);
};
template <class T>
__device__ __forceinline__ void widen16(const uint4& raw, float* out) {
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int i = 0; i < Vec16<T>::N; ++i)
        out[i] = to_f32<T>(e[i]);
}

__device__ __forceinline__ uint4 load_streaming(const void* p) {
    // Weights are read once per token: do not let them evict activations from L1.
    return __ldcs(reinterpret_cast<const uint4*>(p));
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over a block of up to 1024 threads; `shared` holds 32 floats. Every thread gets the sum.
__device__ __forceinline__ float block_sum(float v, float* shared) {
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    const int warps = (blockDim.x + kWarp - 1) / kWarp;
    v = lane < warps ? shared[lane] : 0.0f;
    return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v, float* shared) {
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    const int warps = (blockDim.x + kWarp - 1) / kWarp;
    v = lane < warps ? shared[lane] : -INFINITY;
    return warp_max(v);
}

// Calls f.template operator()<T>() with T the element type of `dtype`.
template <class F>
void with_dtype(DType dtype, F&& f) {
    switch (dtype) {
        case DType::BF16:
            f.template operator()<__nv_bfloat16>();
            break;
        case DType::F16:
            f.template operator()<__half>();
            break;
        default:
            f.template operator()<float>();
            break;
    }
}

}  // namespace lc::cuda
