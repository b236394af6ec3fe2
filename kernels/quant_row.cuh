#pragma once
// One warp's dot products of R weight rows with up to NT tokens' 8-bit activations
// (quant_layout.cuh), for any stored dtype: quantized rows through their pieces (quant_dot.cuh),
// plain rows (F32, F16, BF16; a layer may mix them with quantized ones) widened to f32. Each
// lane accumulates its share in acc[r][t]; the caller sums the warp.
#include "cuda_common.cuh"
#include "quant_dot.cuh"
#include "quant_layout.cuh"

namespace lc::cuda {

// Bytes from one row to the next of a matrix as upload() stores it (rows contiguous).
__host__ __device__ inline int64_t device_row_bytes(DType t, int64_t cols) {
    if (quant_format(t).block != 0) return packed_row_bytes(t, cols);
    return cols * (t == DType::F32 ? 4 : 2);
}

// Registers a lane may fill with loads in flight (quant_dot.cuh's kRawRegs per piece).
constexpr int kLoadRegs = 64;

// 16-byte pieces of a row of `cols` weights (quant_dot.cuh's pieces; 8 or 4 plain weights).
__host__ __device__ inline int row_pieces(DType t, int cols) {
    const QuantFormat f = quant_format(t);
    if (f.block != 0) return cols / f.block * f.pieces;
    return cols / (t == DType::F32 ? 4 : 8);
}

template <DType T>
__device__ __forceinline__ Piece<QuantTraits<T>::kGroups> read_piece(const uint8_t* row, int nb,
                                                                     int p) {
    return QuantTraits<T>::decode(QuantTraits<T>::load(row, nb, p), p);
}

// acc[r][t] += this lane's share of rows[r] . x[t] over pieces [p_begin, p_end) (p_begin <
// p_end). Each pass issues the loads of U pieces of all R rows before decoding any (one branch-
// free block), so that a warp keeps R * U * 512 bytes of quants in flight; U is 2 where R pieces'
// loads take few registers.
template <DType T, int NT, int R, int R0, int RB>
__device__ __forceinline__ void rows_dot_batch(const uint8_t* const (&rows)[R], int nb, int p_begin,
                                               int p_end, const Q8Ref* x, float (&acc)[R][NT]) {
    using Q = QuantTraits<T>;
    constexpr int U = RB * Q::kRawRegs * 2 <= kLoadRegs ? 2 : 1;
    const int lane = threadIdx.x % kWarp;
    for (int base = p_begin; base < p_end; base += kWarp * U) {
        typename Q::Raw raw[U][RB];
        int piece[U];
        bool live[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int p = base + u * kWarp + lane;
            live[u] = p < p_end;
            piece[u] = live[u] ? p : p_begin;
#pragma unroll
            for (int r = 0; r < RB; ++r)
                raw[u][r] = Q::load(rows[R0 + r], nb, piece[u]);
        }
#pragma unroll
        for (int u = 0; u < U; ++u)
#pragma unroll
            for (int r = 0; r < RB; ++r) {
                const Piece<Q::kGroups> pc = Q::decode(raw[u][r], piece[u]);
#pragma unroll
                for (int t = 0; t < NT; ++t) {
                    const float v = dot_piece<T>(pc, x[t]);
                    acc[R0 + r][t] += live[u] ? v : 0.0f;
                }
            }
    }
    if constexpr (R0 + RB < R)
        rows_dot_batch<T, NT, R, R0 + RB, RB>(rows, nb, p_begin, p_end, x, acc);
}

// acc[r][t] += this lane's share of rows[r] . x[t] over pieces [p_begin, p_end) (p_begin <
// p_end). Each pass issues the loads of U pieces of a batch of rows before decoding any (one
// branch-free block), so that a warp keeps batch * U * 512 bytes of quants in flight; the batch
// and U are as large as about kLoadRegs registers of loads allow for the type.
template <DType T, int NT, int R>
__device__ __forceinline__ void rows_dot_quant(const uint8_t* const (&rows)[R], int cols,
                                               int p_begin, int p_end, const Q8Ref* x,
                                               float (&acc)[R][NT]) {
    constexpr int fit = kLoadRegs / QuantTraits<T>::kRawRegs;
    constexpr int RB = R <= fit ? R : fit >= 4 && R % 4 == 0 ? 4 : fit >= 2 && R % 2 == 0 ? 2 : 1;
    rows_dot_batch<T, NT, R, 0, RB>(rows, cols / quant_format(T).block, p_begin, p_end, x, acc);
}

// Plain rows against the 8-bit activations (cols a multiple of 32, so that a lane's 16 bytes
// never straddle two scales).
template <class E, int NT, int R>
__device__ __forceinline__ void rows_dot_plain(const uint8_t* const (&rows)[R], int p_begin,
                                               int p_end, const Q8Ref* x, float (&acc)[R][NT]) {
    constexpr int V = Vec16<E>::N;
    for (int p = p_begin + threadIdx.x % kWarp; p < p_end; p += kWarp) {
        const int c = p * V;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            float w[V];
            widen16<E>(load_streaming(reinterpret_cast<const E*>(rows[r]) + c), w);
#pragma unroll
            for (int t = 0; t < NT; ++t) {
                float s = 0.0f;
#pragma unroll
                for (int i = 0; i < V; ++i)
                    s += w[i] * static_cast<float>(x[t].q[c + i]);
                acc[r][t] += s * x[t].d[c >> 5];
            }
        }
    }
}

// acc[r][t] += this lane's share of rows[r] . x[t] over pieces [p_begin, p_end), rows of any
// dtype (all R of the same).
template <int NT, int R>
__device__ __forceinline__ void rows_dot(DType type, const uint8_t* const (&rows)[R], int cols,
                                         int p_begin, int p_end, const Q8Ref* x,
                                         float (&acc)[R][NT]) {
    if (p_begin >= p_end) return;
    switch (type) {
        case DType::Q8_0:
            return rows_dot_quant<DType::Q8_0, NT, R>(rows, cols, p_begin, p_end, x, acc);
        case DType::Q4_0:
            return rows_dot_quant<DType::Q4_0, NT, R>(rows, cols, p_begin, p_end, x, acc);
        case DType::Q4_1:
            return rows_dot_quant<DType::Q4_1, NT, R>(rows, cols, p_begin, p_end, x, acc);
        case DType::Q5_0:
            return rows_dot_quant<DType::Q5_0, NT, R>(rows, cols, p_begin, p_end, x, acc);
        case DType::Q5_1:
            return rows_dot_quant<DType::Q5_1, NT, R>(rows, cols, p_begin, p_end, x, acc);
        case DType::Q2_K:
            return rows_dot_quant<DType::Q2_K, NT, R>(rows, cols, p_begin, p_end, x, acc);
        case DType::Q3_K:
            return rows_dot_quant<DType::Q3_K, NT, R>(rows, cols, p_begin, p_end, x, acc);
        case DType::Q4_K:
            return rows_dot_quant<DType::Q4_K, NT, R>(rows, cols, p_begin, p_end, x, acc);
        case DType::Q5_K:
            return rows_dot_quant<DType::Q5_K, NT, R>(rows, cols, p_begin, p_end, x, acc);
        case DType::Q6_K:
            return rows_dot_quant<DType::Q6_K, NT, R>(rows, cols, p_begin, p_end, x, acc);
        case DType::BF16:
            return rows_dot_plain<__nv_bfloat16, NT, R>(rows, p_begin, p_end, x, acc);
        case DType::F16:
            return rows_dot_plain<__half, NT, R>(rows, p_begin, p_end, x, acc);
        default:
            return rows_dot_plain<float, NT, R>(rows, p_begin, p_end, x, acc);
    }
}

// Quantizes 4 consecutive values per lane, 8 lanes per 32 (all 32 lanes call it; lanes whose
// `store` is false hold zeros and write nothing): q at q + c, the scale of c's 32 and the sums
// of its 16s. |q| <= 127, scale = max|v| / 127.
__device__ __forceinline__ void quantize4(const float (&v)[4], int c, bool store, int8_t* q,
                                          float* d, int* s) {
    float amax = fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3])));
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 4));
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    int qi[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
        qi[i] = max(-127, min(127, __float2int_rn(v[i] * inv)));
    int sum = qi[0] + qi[1] + qi[2] + qi[3];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    if (!store) return;
    const uint32_t packed = (qi[0] & 0xff) | ((qi[1] & 0xff) << 8) | ((qi[2] & 0xff) << 16) |
                            (static_cast<uint32_t>(qi[3] & 0xff) << 24);
    *reinterpret_cast<uint32_t*>(q + c) = packed;
    const int lane = threadIdx.x % kWarp;
    if ((lane & 3) == 0) s[c >> 4] = sum;
    if ((lane & 7) == 0) d[c >> 5] = amax / 127.0f;
}

}  // namespace lc::cuda
