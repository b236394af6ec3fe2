// Absorbed MLA attention for a chunk of query tokens (prefill), written as matrix products so
// that each weight and each cached latent row is read once per block of queries instead of once
// per query (docs/design.md section 4.3 has the math). Per (head h, block of up to kQueryBlock
// query tokens), with C the latent cache rows [c_kv | k_pe]:
//   Q   = [q_nope W_UK[h] | q_pe]                      [m, d_c + d_rope]
//   per cache page: S = Q C_page^T * scale (causal)    [m, page]
//                   online softmax: O = O * e^(max_old - max_new) + e^(S - max_new) C_page[:, :d_c]
//   out = (O / l) W_UV[h]^T                            [m, d_v]
// The online (flash-style) softmax keeps the scratch at one page of scores however deep the
// context is. The per-token form in cpu_backend.cpp stays for decode (one query).
#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <vector>

#include "cpu/cpu_attention_chunk.h"
#include "cpu/cpu_matmul.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define LC_ATTN_X86 1
#define LC_ATTN_AVX512 __attribute__((target("avx512f")))
#else
#define LC_ATTN_X86 0
#define LC_ATTN_AVX512
#endif

namespace lc {
namespace {

constexpr int kQueryBlock = 64;

// One thread's scratch for one (head, block) item, reused across calls.
struct ChunkScratch {
    std::vector<float> buf;
    float* w_uk = nullptr;     // [d_nope, d_c]   W_UK[h] in f32
    float* q = nullptr;        // [m, d_c + d_rope]
    float* s = nullptr;        // [m, page]
    float* o = nullptr;        // [m, d_c]
    float* row_max = nullptr;  // [m]
    float* row_sum = nullptr;  // [m]

    void size_for(int d_c, int d_nope, int d_rope, int page) {
        const size_t m = kQueryBlock;
        const size_t sizes[] = {size_t(d_c) * d_nope, m * (d_c + d_rope), m * page, m * d_c, m, m};
        size_t total = 0;
        for (size_t n : sizes)
            total += (n + 15) / 16 * 16;  // 64-byte steps keep each part aligned
        if (buf.size() < total) buf.resize(total);
        float* p = buf.data();
        float** parts[] = {&w_uk, &q, &s, &o, &row_max, &row_sum};
        for (size_t i = 0; i < std::size(parts); ++i) {
            *parts[i] = p;
            p += (sizes[i] + 15) / 16 * 16;
        }
    }
};

ChunkScratch& thread_chunk_scratch() {
    thread_local ChunkScratch scratch;
    return scratch;
}

// y[t, :n] = (accumulate ? y[t, :n] : 0) + sum_i a[t, i] b[i, :n] for t < m, i < k: the
// product with b's rows contiguous (a latent page, W_UK), so neither operand is transposed.
template <int R>
LC_ATTN_AVX512 void nn_rows_avx512(const float* a, int64_t lda, const float* b, int64_t ldb,
                                   float* y, int64_t ldy, int k, int n, bool accumulate) {
    for (int c = 0; c < n; c += 64) {
        __mmask16 mask[4];
        for (int j = 0; j < 4; ++j) {
            const int left = n - c - 16 * j;
            mask[j] = left >= 16  ? __mmask16(0xFFFF)
                      : left <= 0 ? __mmask16(0)
                                  : __mmask16((1u << left) - 1);
        }
        __m512 acc[R][4];
        for (int r = 0; r < R; ++r)
            for (int j = 0; j < 4; ++j)
                acc[r][j] = accumulate ? _mm512_maskz_loadu_ps(mask[j], y + r * ldy + c + 16 * j)
                                       : _mm512_setzero_ps();
        for (int i = 0; i < k; ++i) {
            const float* brow = b + i * ldb + c;
            __m512 bv[4];
            for (int j = 0; j < 4; ++j)
                bv[j] = _mm512_maskz_loadu_ps(mask[j], brow + 16 * j);
            for (int r = 0; r < R; ++r) {
                const __m512 av = _mm512_set1_ps(a[r * lda + i]);
                for (int j = 0; j < 4; ++j)
                    acc[r][j] = _mm512_fmadd_ps(av, bv[j], acc[r][j]);
            }
        }
        for (int r = 0; r < R; ++r)
            for (int j = 0; j < 4; ++j)
                _mm512_mask_storeu_ps(y + r * ldy + c + 16 * j, mask[j], acc[r][j]);
    }
}

void nn_product(const float* a, int64_t lda, const float* b, int64_t ldb, float* y, int64_t ldy,
                int m, int k, int n, bool accumulate) {
#if LC_ATTN_X86
    static const bool avx512 = __builtin_cpu_supports("avx512f");
    if (avx512) {
        int t = 0;
        for (; t + 4 <= m; t += 4)
            nn_rows_avx512<4>(a + t * lda, lda, b, ldb, y + t * ldy, ldy, k, n, accumulate);
        for (; t < m; ++t)
            nn_rows_avx512<1>(a + t * lda, lda, b, ldb, y + t * ldy, ldy, k, n, accumulate);
        return;
    }
#endif
    for (int t = 0; t < m; ++t) {
        float* yt = y + t * ldy;
        if (!accumulate) std::fill_n(yt, n, 0.0f);
        for (int i = 0; i < k; ++i) {
            const float av = a[t * lda + i];
            const float* brow = b + i * ldb;
            for (int c = 0; c < n; ++c)
                yt[c] += av * brow[c];
        }
    }
}

WeightMatrix f32_matrix(const float* data, int64_t rows, int64_t cols, int64_t row_stride) {
    return WeightMatrix{data, DType::F32, rows, cols, row_stride};
}

// One head, query tokens [t0, t0 + m) of the chunk.
void attend_block(const LatentCache& cache, const AttentionArgs& a, int h, int t0, int m,
                  ChunkScratch& sc) {
    const int qk = a.d_nope + a.d_rope;
    const int row = a.d_c + a.d_rope;
    const int page = cache.page_tokens();
    const int64_t head_rows = a.d_nope + a.d_v;
    const WeightMatrix w_uk = a.kv_b->row_block(h * head_rows, a.d_nope);          // [d_nope, d_c]
    const WeightMatrix w_uv = a.kv_b->row_block(h * head_rows + a.d_nope, a.d_v);  // [d_v, d_c]

    // Q[:, :d_c] = q_nope W_UK, one product for all m queries
    for (int i = 0; i < a.d_nope; ++i)
        widen_row(w_uk.row(i), w_uk.dtype, a.d_c, sc.w_uk + static_cast<size_t>(i) * a.d_c);
    const float* q_in = a.q + (static_cast<int64_t>(t0) * a.n_heads + h) * qk;
    const int64_t q_stride = static_cast<int64_t>(a.n_heads) * qk;
    nn_product(q_in, q_stride, sc.w_uk, a.d_c, sc.q, row, m, a.d_nope, a.d_c, false);
    for (int t = 0; t < m; ++t)
        std::copy_n(q_in + t * q_stride + a.d_nope, a.d_rope,
                    sc.q + static_cast<size_t>(t) * row + a.d_c);

    std::fill_n(sc.o, static_cast<size_t>(m) * a.d_c, 0.0f);
    std::fill_n(sc.row_max, m, -std::numeric_limits<float>::infinity());
    std::fill_n(sc.row_sum, m, 0.0f);
    const int last_query = a.first_position + t0 + m - 1;  // keys past it are masked for all
    for (int p0 = 0; p0 <= last_query; p0 += page) {
        const int n_keys = std::min(page, last_query + 1 - p0);
        const float* c = cache.row(a.layer, p0);  // [n_keys, row], contiguous inside the page
        matmul_serial(f32_matrix(c, n_keys, row, row), sc.q, row, sc.s, page, m);
        for (int t = 0; t < m; ++t) {
            float* s = sc.s + static_cast<size_t>(t) * page;
            // causal: query at position first_position + t0 + t sees keys up to itself
            const int visible = std::min(n_keys, a.first_position + t0 + t + 1 - p0);
            float mx = sc.row_max[t];
            for (int i = 0; i < visible; ++i)
                mx = std::max(mx, s[i] * a.scale);
            const float rescale = std::exp(sc.row_max[t] - mx);  // 0 on the first page
            float sum = 0.0f;
            for (int i = 0; i < visible; ++i)
                sum += (s[i] = std::exp(s[i] * a.scale - mx));
            std::fill(s + std::max(visible, 0), s + n_keys, 0.0f);
            sc.row_sum[t] = sc.row_sum[t] * rescale + sum;
            sc.row_max[t] = mx;
            float* o = sc.o + static_cast<size_t>(t) * a.d_c;
            if (rescale != 1.0f)
                for (int k = 0; k < a.d_c; ++k)
                    o[k] *= rescale;
        }
        nn_product(sc.s, page, c, row, sc.o, a.d_c, m, n_keys, a.d_c, true);  // O += P C[:, :d_c]
    }
    for (int t = 0; t < m; ++t) {
        const float inv = 1.0f / sc.row_sum[t];
        float* o = sc.o + static_cast<size_t>(t) * a.d_c;
        for (int k = 0; k < a.d_c; ++k)
            o[k] *= inv;
    }
    float* out = a.out + (static_cast<int64_t>(t0) * a.n_heads + h) * a.d_v;
    matmul_serial(w_uv, sc.o, a.d_c, out, static_cast<int64_t>(a.n_heads) * a.d_v, m);
}

}  // namespace

void absorbed_attention_chunk(ThreadPool& pool, const LatentCache& cache, const AttentionArgs& a) {
    const int blocks = (a.n_tokens + kQueryBlock - 1) / kQueryBlock;
    // Later blocks see more keys: hand them out first so the long items do not come last.
    pool.parallel_for(static_cast<int64_t>(blocks) * a.n_heads, 1, [&](int64_t b, int64_t e) {
        ChunkScratch& sc = thread_chunk_scratch();
        sc.size_for(a.d_c, a.d_nope, a.d_rope, cache.page_tokens());
        for (int64_t item = b; item < e; ++item) {
            const int block = blocks - 1 - static_cast<int>(item / a.n_heads);
            const int h = static_cast<int>(item % a.n_heads);
            const int t0 = block * kQueryBlock;
            attend_block(cache, a, h, t0, std::min(kQueryBlock, a.n_tokens - t0), sc);
        }
    });
}

}  // namespace lc
