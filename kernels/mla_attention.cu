#include <algorithm>

#include "cuda_common.cuh"
#include "mla_attention.cuh"
#include "rope_device.cuh"

namespace lc::cuda {
namespace {

constexpr int kTileKeys = 64;  // one cache page: a tile never straddles two pages
constexpr int kAttnThreads = 256;
constexpr int kRowPad = 8;  // bf16 elements: shifts rows by 4 banks, keeps 16-byte alignment

__device__ __forceinline__ const __nv_bfloat16* cache_row(const PagedCache& c, int layer,
                                                          int position) {
    const auto* page = static_cast<const __nv_bfloat16*>(c.pages[position / c.page_tokens]);
    return page + (static_cast<int64_t>(layer) * c.page_tokens + position % c.page_tokens) *
                      (c.d_c + c.d_rope);
}

// Keys [begin, end) of split `s` for a query with `n_keys` keys: equal page-aligned chunks.
__device__ __forceinline__ void split_range(int n_keys, int splits, int s, int* begin, int* end) {
    int chunk = (n_keys + splits - 1) / splits;
    chunk = (chunk + kTileKeys - 1) / kTileKeys * kTileKeys;
    *begin = s * chunk;
    *end = min(n_keys, *begin + chunk);
}

// ---- absorb_query ----------------------------------------------------------------------------

template <class T>
__global__ void absorb_kernel(MlaShape sh, const float* __restrict__ q, const T* __restrict__ kv_b,
                              int64_t ld, float scale, __nv_bfloat16* __restrict__ q_abs) {
    extern __shared__ float q_nope[];  // [d_nope]
    const int h = blockIdx.y, t = blockIdx.z;
    const int qk = sh.d_nope + sh.d_rope;
    const float* qh = q + (static_cast<int64_t>(t) * sh.n_heads + h) * qk;
    for (int i = threadIdx.x; i < sh.d_nope; i += blockDim.x)
        q_nope[i] = qh[i];
    __syncthreads();
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= sh.width()) return;
    float v;
    if (c < sh.d_c) {
        const T* w_uk = kv_b + static_cast<int64_t>(h) * (sh.d_nope + sh.d_v) * ld + c;
        v = 0.0f;
        for (int i = 0; i < sh.d_nope; ++i)
            v += to_f32<T>(w_uk[i * ld]) * q_nope[i];
    } else {
        v = qh[sh.d_nope + c - sh.d_c];
    }
    const int64_t row = static_cast<int64_t>(t) * sh.groups() * kHeadsPerGroup + h;
    q_abs[row * sh.width() + c] = __float2bfloat16(v * scale);
}

// ---- attention_splits: tensor cores ------------------------------------------------------------

__device__ __forceinline__ void mma_bf16(float* d, const uint32_t* a, const uint32_t* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ uint32_t pack(__nv_bfloat16 lo, __nv_bfloat16 hi) {
    return static_cast<uint32_t>(__bfloat16_as_ushort(lo)) |
           (static_cast<uint32_t>(__bfloat16_as_ushort(hi)) << 16);
}

// Four 8x8 bf16 matrices from shared memory, one row address per lane (lanes 8i..8i+7: matrix i).
__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, const void* row) {
    const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, const void* row) {
    const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}

__device__ __forceinline__ void ldmatrix_x2(uint32_t* r, const void* row) {
    const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(a));
}
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::);
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

struct AttnSmem {
    int stride;            // bf16 elements per row of q / keys
    __nv_bfloat16* q;      // [16][stride]
    __nv_bfloat16* keys;   // [2][64][stride]: the tile in use and the next one
    float* scores;         // [16][kTileKeys + 4]
    __nv_bfloat16* probs;  // [16][kTileKeys + 8]
    float* alpha;          // [16]
    float* m;              // [16]
    float* l;              // [16]
};

__host__ __device__ inline size_t attn_smem_bytes(int width) {
    const size_t stride = width + kRowPad;
    return (16 + 2 * kTileKeys) * stride * 2 + 16 * (kTileKeys + 4) * 4 + 16 * (kTileKeys + 8) * 2 +
           3 * 16 * 4;
}

__device__ inline AttnSmem attn_smem(unsigned char* base, int width) {
    AttnSmem s;
    s.stride = width + kRowPad;
    s.q = reinterpret_cast<__nv_bfloat16*>(base);
    s.keys = s.q + 16 * s.stride;
    s.scores = reinterpret_cast<float*>(s.keys + 2 * kTileKeys * s.stride);
    s.probs = reinterpret_cast<__nv_bfloat16*>(s.scores + 16 * (kTileKeys + 4));
    s.alpha = reinterpret_cast<float*>(s.probs + 16 * (kTileKeys + 8));
    s.m = s.alpha + 16;
    s.l = s.m + 16;
    return s;
}

// Issues the copies of one tile of keys (rows past `valid` are zeroed: 0 * garbage could be NaN).
__device__ __forceinline__ void load_tile(__nv_bfloat16* dst, int stride, const __nv_bfloat16* rows,
                                          int width, int valid) {
    const int chunks = width / 8;  // 16-byte pieces per row
    for (int i = threadIdx.x; i < kTileKeys * chunks; i += kAttnThreads) {
        const int r = i / chunks, c = i % chunks;
        __nv_bfloat16* d = dst + r * stride + c * 8;
        if (r < valid) {
            cp_async16(d, rows + static_cast<int64_t>(r) * width + c * 8);
        } else {
            *reinterpret_cast<uint4*>(d) = make_uint4(0, 0, 0, 0);
        }
    }
}

// One block: one query token, 16 heads, one split of the keys, 8 warps. Tiles of 64 keys (one
// page) are double-buffered: the next one streams in while this one is computed. Scores: each
// warp 8 of the tile's keys; output: each warp d_c / 8 latent columns (NT tiles of 8).
template <int NT>
__global__ void __launch_bounds__(kAttnThreads, 1)
    attention_mma_kernel(MlaShape sh, PagedCache cache, int layer, const int* first_position,
                         int splits, const __nv_bfloat16* __restrict__ q_abs,
                         float* __restrict__ part_o, float* __restrict__ part_ml) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    const int width = sh.width();
    AttnSmem sm = attn_smem(smem_raw, width);
    const int s = blockIdx.x, g = blockIdx.y, t = blockIdx.z;
    const int groups = sh.groups();
    const int64_t item = (static_cast<int64_t>(t) * groups + g) * splits + s;
    const int n_keys = *first_position + t + 1;
    int begin, end;
    split_range(n_keys, splits, s, &begin, &end);
    const int tid = threadIdx.x, lane = tid % kWarp, warp = tid / kWarp;
    if (begin >= end) {  // an empty split: the combine step skips it
        if (tid < 16) {
            part_ml[(item * 16 + tid) * 2] = -INFINITY;
            part_ml[(item * 16 + tid) * 2 + 1] = 0.0f;
        }
        return;
    }

    // Queries of the 16 heads and the first tile.
    const __nv_bfloat16* qg = q_abs + (static_cast<int64_t>(t) * groups + g) * 16 * width;
    const int chunks_per_row = width / 8;
    for (int i = tid; i < 16 * chunks_per_row; i += kAttnThreads) {
        const int r = i / chunks_per_row, c = i % chunks_per_row;
        cp_async16(sm.q + r * sm.stride + c * 8, qg + r * width + c * 8);
    }
    load_tile(sm.keys, sm.stride, cache_row(cache, layer, begin), width,
              min(kTileKeys, end - begin));
    cp_async_commit();
    if (tid < 16) {
        sm.m[tid] = -INFINITY;
        sm.l[tid] = 0.0f;
    }

    const int gid = lane / 4, tig = lane % 4;  // mma fragment coordinates
    const int mi = lane / 8, mr = lane % 8;    // ldmatrix: lane feeds row mr of matrix mi
    const int col0 = warp * (sh.d_c / 8);
    float acc[NT][4];
#pragma unroll
    for (int j = 0; j < NT; ++j)
        acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;

    int buffer = 0;
    for (int tile = begin; tile < end; tile += kTileKeys, buffer ^= 1) {
        const int valid = min(kTileKeys, end - tile);
        const int next = tile + kTileKeys;
        if (next < end) {
            load_tile(sm.keys + (buffer ^ 1) * kTileKeys * sm.stride, sm.stride,
                      cache_row(cache, layer, next), width, min(kTileKeys, end - next));
            cp_async_commit();
            cp_async_wait<1>();  // this tile's group is done, the next one may still fly
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const __nv_bfloat16* keys = sm.keys + buffer * kTileKeys * sm.stride;

        // Scores: S[16 heads][8 keys of this warp] = Q K^T.
        {
            float sc[4] = {};
            const int key0 = warp * 8;
            const __nv_bfloat16* q_row = sm.q + ((mi % 2) * 8 + mr) * sm.stride + (mi / 2) * 8;
            const __nv_bfloat16* k_row = keys + (key0 + mr) * sm.stride + (mi % 2) * 8;
#pragma unroll 4
            for (int k0 = 0; k0 < width; k0 += 16) {  // unrolled: loads run ahead of the mma chain
                uint32_t a[4], b[2];
                ldmatrix_x4(a, q_row + k0);
                ldmatrix_x2(b, k_row + k0);
                mma_bf16(sc, a, b);
            }
            const int k = key0 + 2 * tig;
            float* r0 = sm.scores + gid * (kTileKeys + 4);
            float* r1 = sm.scores + (gid + 8) * (kTileKeys + 4);
            r0[k] = k < valid ? sc[0] : -INFINITY;
            r0[k + 1] = k + 1 < valid ? sc[1] : -INFINITY;
            r1[k] = k < valid ? sc[2] : -INFINITY;
            r1[k + 1] = k + 1 < valid ? sc[3] : -INFINITY;
        }
        __syncthreads();

        // Online softmax: 16 threads per head row, 4 keys each.
        {
            const int r = tid / 16, sub = tid % 16;
            const float* sr = sm.scores + r * (kTileKeys + 4) + sub * 4;
            float mx = fmaxf(fmaxf(sr[0], sr[1]), fmaxf(sr[2], sr[3]));
#pragma unroll
            for (int o = 8; o > 0; o >>= 1)
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
            const float m_old = sm.m[r];
            const float m_new = fmaxf(m_old, mx);
            float sum = 0.0f;
            __nv_bfloat16* pr = sm.probs + r * (kTileKeys + 8) + sub * 4;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const __nv_bfloat16 p = __float2bfloat16(__expf(sr[i] - m_new));
                pr[i] = p;
                sum += __bfloat162float(p);
            }
#pragma unroll
            for (int o = 8; o > 0; o >>= 1)
                sum += __shfl_xor_sync(0xffffffffu, sum, o);
            __syncwarp();
            if (sub == 0) {
                const float alpha = __expf(m_old - m_new);  // 0 on the first tile
                sm.alpha[r] = alpha;
                sm.m[r] = m_new;
                sm.l[r] = sm.l[r] * alpha + sum;
            }
        }
        __syncthreads();

        // Output: O[16][this warp's columns] = alpha * O + P V, V = the tile's c_kv.
        {
            const float a_lo = sm.alpha[gid], a_hi = sm.alpha[gid + 8];
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                acc[j][0] *= a_lo;
                acc[j][1] *= a_lo;
                acc[j][2] *= a_hi;
                acc[j][3] *= a_hi;
            }
#pragma unroll
            for (int kk = 0; kk < kTileKeys; kk += 16) {
                uint32_t a[4];
                ldmatrix_x4(a,
                            sm.probs + ((mi % 2) * 8 + mr) * (kTileKeys + 8) + kk + (mi / 2) * 8);
                if constexpr (NT >= 2) {
                    // Transposed: V's rows are keys; two column tiles of 8 per load.
                    const __nv_bfloat16* v_row =
                        keys + (kk + (mi % 2) * 8 + mr) * sm.stride + col0 + (mi / 2) * 8;
#pragma unroll
                    for (int j = 0; j < NT; j += 2) {
                        uint32_t b[4];
                        ldmatrix_x4_trans(b, v_row + j * 8);
                        mma_bf16(acc[j], a, b);
                        mma_bf16(acc[j + 1], a, b + 2);
                    }
                } else {
                    const __nv_bfloat16* v = keys + (kk + 2 * tig) * sm.stride + col0 + gid;
                    uint32_t b[2] = {pack(v[0], v[sm.stride]),
                                     pack(v[8 * sm.stride], v[9 * sm.stride])};
                    mma_bf16(acc[0], a, b);
                }
            }
        }
        __syncthreads();  // the buffer is refilled next iteration
    }

    float* out = part_o + item * 16 * sh.d_c;
#pragma unroll
    for (int j = 0; j < NT; ++j) {
        const int c = col0 + j * 8 + 2 * tig;
        out[gid * sh.d_c + c] = acc[j][0];
        out[gid * sh.d_c + c + 1] = acc[j][1];
        out[(gid + 8) * sh.d_c + c] = acc[j][2];
        out[(gid + 8) * sh.d_c + c + 1] = acc[j][3];
    }
    if (tid < 16) {
        part_ml[(item * 16 + tid) * 2] = sm.m[tid];
        part_ml[(item * 16 + tid) * 2 + 1] = sm.l[tid];
    }
}

// ---- attention_splits: any shape (small models) -------------------------------------------------

// One block per (split, head, token); the same partial-result layout as the tensor-core kernel.
__global__ void attention_scalar_kernel(MlaShape sh, PagedCache cache, int layer,
                                        const int* first_position, int splits,
                                        const __nv_bfloat16* __restrict__ q_abs,
                                        float* __restrict__ part_o, float* __restrict__ part_ml) {
    extern __shared__ float shared[];  // q [width], o [d_c], scores [blockDim]
    float* q = shared;
    float* o = q + sh.width();
    float* scores = o + sh.d_c;
    __shared__ float stat[32];
    const int s = blockIdx.x, h = blockIdx.y, t = blockIdx.z;
    const int groups = sh.groups();
    const int g = h / kHeadsPerGroup, hr = h % kHeadsPerGroup;
    const int64_t item = (static_cast<int64_t>(t) * groups + g) * splits + s;
    const int n_keys = *first_position + t + 1;
    int begin, end;
    split_range(n_keys, splits, s, &begin, &end);
    float* ml = part_ml + (item * 16 + hr) * 2;
    if (begin >= end) {
        if (threadIdx.x == 0) ml[0] = -INFINITY, ml[1] = 0.0f;
        return;
    }
    const __nv_bfloat16* qh =
        q_abs + ((static_cast<int64_t>(t) * groups * kHeadsPerGroup) + h) * sh.width();
    for (int i = threadIdx.x; i < sh.width(); i += blockDim.x)
        q[i] = __bfloat162float(qh[i]);
    for (int i = threadIdx.x; i < sh.d_c; i += blockDim.x)
        o[i] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    __syncthreads();
    for (int base = begin; base < end; base += blockDim.x) {
        const int key = base + threadIdx.x;
        float score = -INFINITY;
        if (key < end) {
            const __nv_bfloat16* row = cache_row(cache, layer, key);
            score = 0.0f;
            for (int i = 0; i < sh.width(); ++i)
                score += q[i] * __bfloat162float(row[i]);
        }
        const float mx = block_max(score, stat);
        const float m_new = fmaxf(m, mx);
        const float p = key < end ? __expf(score - m_new) : 0.0f;
        scores[threadIdx.x] = p;
        const float alpha = __expf(m - m_new);
        const float sum = block_sum(p, stat);  // its barriers also publish scores[]
        l = l * alpha + sum;
        m = m_new;
        const int count = min(static_cast<int>(blockDim.x), end - base);
        for (int c = threadIdx.x; c < sh.d_c; c += blockDim.x) {
            float acc = o[c] * alpha;
            for (int k = 0; k < count; ++k)
                acc += scores[k] * __bfloat162float(cache_row(cache, layer, base + k)[c]);
            o[c] = acc;
        }
        __syncthreads();
    }
    float* out = part_o + (item * 16 + hr) * sh.d_c;
    for (int c = threadIdx.x; c < sh.d_c; c += blockDim.x)
        out[c] = o[c];
    if (threadIdx.x == 0) ml[0] = m, ml[1] = l;
}

// ---- combine_splits ---------------------------------------------------------------------------

constexpr int kCombineCols = 128;
constexpr int kCombineGroups = 4;  // split-groups per column: 512 threads

// Block per (head, 128 latent columns, token): the splits' partial sums merged with their
// softmax weights exp(m_s - M) / L, only over the splits that held keys.
__global__ void __launch_bounds__(kCombineCols* kCombineGroups)
    combine_kernel(MlaShape sh, const int* first_position, int splits,
                   const float* __restrict__ part_o, const float* __restrict__ part_ml,
                   float* __restrict__ o_lat) {
    extern __shared__ float weight[];  // [splits]
    __shared__ float stat[32];
    __shared__ float sums[kCombineGroups][kCombineCols];
    const int h = blockIdx.x, t = blockIdx.z;
    const int g = h / kHeadsPerGroup, hr = h % kHeadsPerGroup;
    const int64_t item0 = (static_cast<int64_t>(t) * sh.groups() + g) * splits;
    const int n_keys = *first_position + t + 1;
    int chunk = (n_keys + splits - 1) / splits;
    chunk = (chunk + kTileKeys - 1) / kTileKeys * kTileKeys;
    const int active = (n_keys + chunk - 1) / chunk;
    float m = -INFINITY;
    for (int s = threadIdx.x; s < active; s += blockDim.x)
        m = fmaxf(m, part_ml[((item0 + s) * 16 + hr) * 2]);
    m = block_max(m, stat);
    float l = 0.0f;
    for (int s = threadIdx.x; s < active; s += blockDim.x) {
        const float* ml = part_ml + ((item0 + s) * 16 + hr) * 2;
        const float w = __expf(ml[0] - m);
        weight[s] = w;
        l += w * ml[1];
    }
    l = block_sum(l, stat);  // its barriers also publish weight[]
    const int col = threadIdx.x % kCombineCols, grp = threadIdx.x / kCombineCols;
    const int c = blockIdx.y * kCombineCols + col;
    float acc = 0.0f;
    if (c < sh.d_c) {
        const float* base = part_o + hr * sh.d_c + c;
#pragma unroll 4
        for (int s = grp; s < active; s += kCombineGroups)
            acc += weight[s] * base[(item0 + s) * 16 * sh.d_c];
    }
    sums[grp][col] = acc;
    __syncthreads();
    if (grp == 0 && c < sh.d_c)
        o_lat[(static_cast<int64_t>(t) * sh.n_heads + h) * sh.d_c + c] =
            (sums[0][col] + sums[1][col] + sums[2][col] + sums[3][col]) / l;
}

// out[t][h][v] = W_UV[h][v] . o_lat[t][h]: a warp per (row, head, token), 8 rows per block.
template <class T>
__global__ void __launch_bounds__(256)
    up_value_kernel(MlaShape sh, const T* __restrict__ kv_b, int64_t ld,
                    const float* __restrict__ o_lat, float* __restrict__ out) {
    constexpr int V = Vec16<T>::N;
    const int lane = threadIdx.x % kWarp;
    const int v = blockIdx.x * 8 + threadIdx.x / kWarp;
    const int h = blockIdx.y, t = blockIdx.z;
    if (v >= sh.d_v) return;
    const T* row = kv_b + (static_cast<int64_t>(h) * (sh.d_nope + sh.d_v) + sh.d_nope + v) * ld;
    const float* o = o_lat + (static_cast<int64_t>(t) * sh.n_heads + h) * sh.d_c;
    float acc = 0.0f;
    if (sh.d_c % V == 0 && ld % V == 0) {
        for (int c = lane * V; c < sh.d_c; c += kWarp * V) {
            float w[V];
            widen16<T>(load_streaming(row + c), w);
#pragma unroll
            for (int i = 0; i < V; ++i)
                acc += w[i] * o[c + i];
        }
    } else {
        for (int c = lane; c < sh.d_c; c += kWarp)
            acc += to_f32<T>(row[c]) * o[c];
    }
    acc = warp_sum(acc);
    if (lane == 0) out[(static_cast<int64_t>(t) * sh.n_heads + h) * sh.d_v + v] = acc;
}

// ---- prepare (RoPE, cache write, absorption) ----------------------------------------------------

constexpr int kPrepCols = 64;
constexpr int kPrepGroups = 4;  // split of the d_nope sum: 256 threads

// Blocks (64 columns of q_abs, head, token); the extra head index n_heads writes the cache row.
template <class T>
__global__ void __launch_bounds__(kPrepCols* kPrepGroups)
    prepare_kernel(MlaShape sh, float* __restrict__ q, const T* __restrict__ kv_b, int64_t ld,
                   float scale, RopeTable rope, const int* first_position, PagedCache cache,
                   int layer, const float* __restrict__ kv_a, const float* __restrict__ kv_norm,
                   float eps, __nv_bfloat16* __restrict__ q_abs) {
    extern __shared__ float buf[];  // q head [d_nope + d_rope] or cache row [d_c + d_rope]
    __shared__ float stat[32];
    __shared__ float sums[kPrepGroups][kPrepCols];
    const int h = blockIdx.y, t = blockIdx.z;
    const int position = *first_position + t;
    const int qk = sh.d_nope + sh.d_rope;
    if (h == sh.n_heads) {  // the latent row of this token
        if (blockIdx.x != 0) return;
        write_latent_row(cache, layer, position, kv_a + static_cast<int64_t>(t) * sh.width(),
                         kv_norm, eps, rope, buf, stat);
        return;
    }
    // q itself is left as it was: every column block of the head reads it.
    const float* qh = q + (static_cast<int64_t>(t) * sh.n_heads + h) * qk;
    for (int i = threadIdx.x; i < qk; i += blockDim.x)
        buf[i] = qh[i];
    __syncthreads();
    for (int i = threadIdx.x; i < sh.d_rope / 2; i += blockDim.x)
        rope_pair(rope, buf + sh.d_nope, position, i);
    __syncthreads();
    const int col = threadIdx.x % kPrepCols, grp = threadIdx.x / kPrepCols;
    const int c = blockIdx.x * kPrepCols + col;
    float acc = 0.0f;
    if (c < sh.d_c) {
        const T* w_uk = kv_b + static_cast<int64_t>(h) * (sh.d_nope + sh.d_v) * ld + c;
        const int per = (sh.d_nope + kPrepGroups - 1) / kPrepGroups;
        const int end = min(sh.d_nope, (grp + 1) * per);
#pragma unroll 8
        for (int i = grp * per; i < end; ++i)
            acc += to_f32<T>(w_uk[i * ld]) * buf[i];
    }
    sums[grp][col] = acc;
    __syncthreads();
    if (grp != 0 || c >= sh.width()) return;
    const float v = c < sh.d_c ? sums[0][col] + sums[1][col] + sums[2][col] + sums[3][col]
                               : buf[sh.d_nope + c - sh.d_c];
    const int64_t row = static_cast<int64_t>(t) * sh.groups() * kHeadsPerGroup + h;
    q_abs[row * sh.width() + c] = __float2bfloat16(v * scale);
}

// ---- naive
// ------------------------------------------------------------------------------------------

template <class T>
__global__ void naive_kernel(MlaShape sh, PagedCache cache, int layer, const int* first_position,
                             const float* __restrict__ q, const T* __restrict__ kv_b, int64_t ld,
                             float scale, float* __restrict__ out) {
    extern __shared__ float shared[];  // latent [d_c], key [d_nope], value [d_v], o [d_v]
    float* latent = shared;
    float* key = latent + sh.d_c;
    float* value = key + sh.d_nope;
    float* o = value + sh.d_v;
    __shared__ float stat[32];
    const int h = blockIdx.x, t = blockIdx.y;
    const int qk = sh.d_nope + sh.d_rope;
    const float* qh = q + (static_cast<int64_t>(t) * sh.n_heads + h) * qk;
    const T* w_uk = kv_b + static_cast<int64_t>(h) * (sh.d_nope + sh.d_v) * ld;
    const T* w_uv = w_uk + static_cast<int64_t>(sh.d_nope) * ld;
    for (int i = threadIdx.x; i < sh.d_v; i += blockDim.x)
        o[i] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    const int n_keys = *first_position + t + 1;
    for (int s = 0; s < n_keys; ++s) {
        const __nv_bfloat16* row = cache_row(cache, layer, s);
        __syncthreads();
        for (int i = threadIdx.x; i < sh.d_c; i += blockDim.x)
            latent[i] = __bfloat162float(row[i]);
        __syncthreads();
        for (int i = threadIdx.x; i < sh.d_nope + sh.d_v; i += blockDim.x) {
            const T* wr = w_uk + static_cast<int64_t>(i) * ld;
            float acc = 0.0f;
            for (int c = 0; c < sh.d_c; ++c)
                acc += to_f32<T>(wr[c]) * latent[c];
            if (i < sh.d_nope) {
                key[i] = acc;
            } else {
                value[i - sh.d_nope] = acc;
            }
        }
        __syncthreads();
        float part = 0.0f;
        for (int i = threadIdx.x; i < qk; i += blockDim.x)
            part +=
                qh[i] * (i < sh.d_nope ? key[i] : __bfloat162float(row[sh.d_c + i - sh.d_nope]));
        const float score = block_sum(part, stat) * scale;
        const float m_new = fmaxf(m, score);
        const float alpha = __expf(m - m_new), p = __expf(score - m_new);
        l = l * alpha + p;
        m = m_new;
        for (int i = threadIdx.x; i < sh.d_v; i += blockDim.x)
            o[i] = o[i] * alpha + p * value[i];
    }
    __syncthreads();
    for (int i = threadIdx.x; i < sh.d_v; i += blockDim.x)
        out[(static_cast<int64_t>(t) * sh.n_heads + h) * sh.d_v + i] = o[i] / l;
}

template <int NT>
void launch_mma(const MlaShape& sh, const PagedCache& cache, int layer, const int* first_position,
                int n_tokens, int splits, const MlaScratch& scratch, cudaStream_t stream) {
    const size_t bytes = attn_smem_bytes(sh.width());
    const dim3 grid(splits, sh.groups(), n_tokens);
    attention_mma_kernel<NT><<<grid, kAttnThreads, bytes, stream>>>(
        sh, cache, layer, first_position, splits, scratch.q_abs, scratch.part_o, scratch.part_ml);
}

template <int NT>
void allow_shared(size_t bytes) {
    check(
        cudaFuncSetAttribute(attention_mma_kernel<NT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(bytes)),
        "cudaFuncSetAttribute");
}

}  // namespace

void prepare_attention(const MlaShape& sh) {
    if (!tensor_core_attention_supported(sh)) return;
    const size_t bytes = attn_smem_bytes(sh.width());
    allow_shared<1>(bytes);
    allow_shared<2>(bytes);
    allow_shared<4>(bytes);
    allow_shared<8>(bytes);
}

bool tensor_core_attention_supported(const MlaShape& sh) {
    const int nt = sh.d_c / 64;
    return sh.width() % 16 == 0 && sh.d_c % 64 == 0 && (nt == 1 || nt == 2 || nt == 4 || nt == 8) &&
           attn_smem_bytes(sh.width()) <= 220 * 1024;
}

void absorb_query(const MlaShape& sh, const float* q, const WeightMatrix& kv_b, float scale,
                  int n_tokens, __nv_bfloat16* q_abs, cudaStream_t stream) {
    if (n_tokens <= 0) return;
    const dim3 grid((sh.width() + 127) / 128, sh.n_heads, n_tokens);
    with_dtype(kv_b.dtype, [&]<class T>() {
        absorb_kernel<T><<<grid, 128, sh.d_nope * sizeof(float), stream>>>(
            sh, q, static_cast<const T*>(kv_b.data), kv_b.row_stride, scale, q_abs);
    });
    check_launch("absorb_query");
}

void attention_splits(const MlaShape& sh, const PagedCache& cache, int layer,
                      const int* first_position, int n_tokens, int splits,
                      const MlaScratch& scratch, cudaStream_t stream) {
    if (n_tokens <= 0) return;
    if (static_cast<int64_t>(n_tokens) * splits > scratch.max_items)
        throw Error("internal: attention scratch too small");
    if (tensor_core_attention_supported(sh)) {
        switch (sh.d_c / 64) {
            case 1:
                launch_mma<1>(sh, cache, layer, first_position, n_tokens, splits, scratch, stream);
                break;
            case 2:
                launch_mma<2>(sh, cache, layer, first_position, n_tokens, splits, scratch, stream);
                break;
            case 4:
                launch_mma<4>(sh, cache, layer, first_position, n_tokens, splits, scratch, stream);
                break;
            default:
                launch_mma<8>(sh, cache, layer, first_position, n_tokens, splits, scratch, stream);
                break;
        }
    } else {
        const dim3 grid(splits, sh.n_heads, n_tokens);
        const int threads = 128;
        const size_t bytes = (sh.width() + sh.d_c + threads) * sizeof(float);
        attention_scalar_kernel<<<grid, threads, bytes, stream>>>(sh, cache, layer, first_position,
                                                                  splits, scratch.q_abs,
                                                                  scratch.part_o, scratch.part_ml);
    }
    check_launch("attention_splits");
}

void combine_splits(const MlaShape& sh, const WeightMatrix& kv_b, const int* first_position,
                    int n_tokens, int splits, const MlaScratch& scratch, float* out,
                    cudaStream_t stream) {
    if (n_tokens <= 0) return;
    const dim3 grid(sh.n_heads, (sh.d_c + kCombineCols - 1) / kCombineCols, n_tokens);
    combine_kernel<<<grid, kCombineCols * kCombineGroups, splits * sizeof(float), stream>>>(
        sh, first_position, splits, scratch.part_o, scratch.part_ml, scratch.o_lat);
    with_dtype(kv_b.dtype, [&]<class T>() {
        up_value_kernel<T><<<dim3((sh.d_v + 7) / 8, sh.n_heads, n_tokens), 256, 0, stream>>>(
            sh, static_cast<const T*>(kv_b.data), kv_b.row_stride, scratch.o_lat, out);
    });
    check_launch("combine_splits");
}

void prepare_attention_step(const MlaShape& sh, float* q, const WeightMatrix& kv_b, float scale,
                            const RopeTable& rope, const int* first_position,
                            const PagedCache& cache, int layer, const float* kv_a,
                            const float* kv_norm, float eps, int n_tokens, __nv_bfloat16* q_abs,
                            cudaStream_t stream) {
    if (n_tokens <= 0) return;
    const dim3 grid((sh.width() + kPrepCols - 1) / kPrepCols, sh.n_heads + 1, n_tokens);
    const size_t bytes = std::max(sh.d_nope + sh.d_rope, sh.width()) * sizeof(float);
    with_dtype(kv_b.dtype, [&]<class T>() {
        prepare_kernel<T><<<grid, kPrepCols * kPrepGroups, bytes, stream>>>(
            sh, q, static_cast<const T*>(kv_b.data), kv_b.row_stride, scale, rope, first_position,
            cache, layer, kv_a, kv_norm, eps, q_abs);
    });
    check_launch("prepare_attention_step");
}

void naive_attention(const MlaShape& sh, const PagedCache& cache, int layer,
                     const int* first_position, int n_tokens, const float* q,
                     const WeightMatrix& kv_b, float scale, float* out, cudaStream_t stream) {
    if (n_tokens <= 0) return;
    const dim3 grid(sh.n_heads, n_tokens);
    const size_t bytes = (sh.d_c + sh.d_nope + 2 * sh.d_v) * sizeof(float);
    with_dtype(kv_b.dtype, [&]<class T>() {
        naive_kernel<T><<<grid, 128, bytes, stream>>>(sh, cache, layer, first_position, q,
                                                      static_cast<const T*>(kv_b.data),
                                                      kv_b.row_stride, scale, out);
    });
    check_launch("naive_attention");
}

}  // namespace lc::cuda
