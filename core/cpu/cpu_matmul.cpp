// Matrix products over checkpoint weights (F32/F16/BF16), accumulating in f32. Quantized
// weights (GGUF blocks) are handed to cpu_quant.cpp by matmul() and matmul_serial().
//
// Layout of the work:
//   * matmul splits the rows of W over the pool in groups of kRowGroup rows.
//   * Within a group, each kernel call computes an R x T tile (R weight rows, T <= 4 tokens)
//     over the whole row, widening 8 weights at a time to f32 in registers. The group's rows
//     are read from memory once; the following token blocks find them in L1/L2.
//   * Tokens are processed in panels whose x fits in kXPanelBytes (all of them for decode and
//     short prompts), so W is read ceil(n_tokens / panel) times, not n_tokens times.
// Two implementations of the kernels exist: AVX2+FMA+F16C (compiled with a target attribute
// and chosen at run time, so the binary runs on any x86-64) and a portable one.
// Nothing here allocates.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

#include "base/error.h"
#include "cpu/cpu_matmul.h"
#include "cpu/cpu_matmul_internal.h"
#include "cpu/cpu_quant.h"
#include "formats/dequant.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LC_X86_DISPATCH 1
#include <cpuid.h>
#include <immintrin.h>
#define LC_AVX2 __attribute__((target("avx2,fma,f16c")))
#else
#define LC_X86_DISPATCH 0
#endif

#define LC_PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define LC_UNROLL LC_PRAGMA(unroll)
#elif defined(__GNUC__)
#define LC_UNROLL LC_PRAGMA(GCC unroll 16)
#else
#define LC_UNROLL
#endif

namespace lc {

namespace {

constexpr int64_t kRowGroup = 12;  // rows per unit of work handed to threads
// Most bytes of x in one token panel. Measured on Zen 4 (1 MiB L2, 32 MiB L3) with 4096
// columns: panels of 1-2 MiB or none at all are within 2% of each other up to 256 tokens;
// the limit only bounds the cache footprint of very long prompts.
constexpr int64_t kXPanelBytes = int64_t(2) << 20;
constexpr int64_t kMinTokenPanel = 16;

std::atomic<bool> g_force_portable{false};

bool detect_avx2() {
#if LC_X86_DISPATCH
    // __builtin_cpu_supports checks that the OS saves the YMM registers too. Not every
    // compiler knows "f16c" there (clang 14 does not), so that bit comes from CPUID.
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return false;
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
    return (ecx & bit_F16C) != 0;
#else
    return false;
#endif
}

bool avx2_supported() {
    static const bool supported = detect_avx2();
    return supported;
}

bool use_avx2() {
    return avx2_supported() && !g_force_portable.load(std::memory_order_relaxed);
}

// One tile of work: rows [w, w + R rows) x tokens [x, x + T tokens).
struct Tile {
    const uint8_t* w;  // first weight row of the tile
    int64_t w_stride;  // bytes between weight rows
    const float* x;    // first token
    int64_t x_stride;  // floats between tokens
    float* y;          // y of the first token, first row
    int64_t y_stride;  // floats between tokens
    int64_t cols;
};

template <DType DT>
inline float load_scalar(const uint8_t* row, int64_t i) {
    if constexpr (DT == DType::F32) {
        float f;
        std::memcpy(&f, row + 4 * i, 4);
        return f;
    } else {
        uint16_t v;
        std::memcpy(&v, row + 2 * i, 2);
        if constexpr (DT == DType::BF16) {
            return bf16_to_f32(v);
        } else {
            return f16_to_f32(v);
        }
    }
}

template <int R, int T>
inline void store_tile(const Tile& t, const float (&s)[R][T]) {
    for (int tk = 0; tk < T; ++tk) {
        float* yp = t.y + tk * t.y_stride;
        for (int r = 0; r < R; ++r)
            yp[r] = s[r][tk];
    }
}

// ---------------------------------------------------------------------------------------------
// Portable kernels: 8 lanes per accumulator, which compilers vectorise where they can.

// Columns [k, cols) past the vector loop, one at a time, then the tile's sums are stored.
template <DType DT, int R, int T>
void finish_tile(const Tile& t, const uint8_t* const (&wr)[R], const float* const (&xt)[T],
                 int64_t k, float (&s)[R][T]) {
    for (; k < t.cols; ++k)
        for (int r = 0; r < R; ++r) {
            const float wk = load_scalar<DT>(wr[r], k);
            for (int tk = 0; tk < T; ++tk)
                s[r][tk] += wk * xt[tk][k];
        }
    store_tile<R, T>(t, s);
}

template <DType DT, int R, int T>
void kernel_portable(const Tile& t) {
    float acc[R][T][8] = {};
    const uint8_t* wr[R];
    for (int r = 0; r < R; ++r)
        wr[r] = t.w + r * t.w_stride;
    const float* xt[T];
    for (int tk = 0; tk < T; ++tk)
        xt[tk] = t.x + tk * t.x_stride;
    int64_t k = 0;
    for (; k + 8 <= t.cols; k += 8) {
        float wv[R][8];
        for (int r = 0; r < R; ++r)
            for (int l = 0; l < 8; ++l)
                wv[r][l] = load_scalar<DT>(wr[r], k + l);
        for (int r = 0; r < R; ++r)
            for (int tk = 0; tk < T; ++tk)
                for (int l = 0; l < 8; ++l)
                    acc[r][tk][l] += wv[r][l] * xt[tk][k + l];
    }
    float s[R][T];
    for (int r = 0; r < R; ++r)
        for (int tk = 0; tk < T; ++tk) {
            const float* a = acc[r][tk];
            s[r][tk] = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
        }
    finish_tile<DT, R, T>(t, wr, xt, k, s);
}

template <DType DT>
void widen_portable(const uint8_t* src, int64_t n, float* dst) {
    for (int64_t i = 0; i < n; ++i)
        dst[i] = load_scalar<DT>(src, i);
}

float dot_portable(const float* a, const float* b, int64_t n) {
    float acc[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l)
            acc[l] += a[i + l] * b[i + l];
    float s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for (; i < n; ++i)
        s += a[i] * b[i];
    return s;
}

void axpy_portable(float a, const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        y[i] += a * x[i];
}

// y[c] += sum_r x[r] * W[r, c] over `R` rows starting at w.
template <DType DT, int R>
void transposed_rows_portable(const uint8_t* w, int64_t w_stride, const float* x, float* y,
                              int64_t cols) {
    for (int64_t c = 0; c < cols; ++c) {
        float s = y[c];
        for (int r = 0; r < R; ++r)
            s += x[r] * load_scalar<DT>(w + r * w_stride, c);
        y[c] = s;
    }
}

struct Portable {
    // One row per tile: larger tiles of 8-lane arrays spill on SSE2 (measured: twice slower).
    static constexpr int rows_per_tile(int) { return 1; }
    template <DType DT, int R, int T>
    static void kernel(const Tile& t) {
        kernel_portable<DT, R, T>(t);
    }
    template <DType DT, int R>
    static void transposed_rows(const uint8_t* w, int64_t w_stride, const float* x, float* y,
                                int64_t cols) {
        transposed_rows_portable<DT, R>(w, w_stride, x, y, cols);
    }
};

// ---------------------------------------------------------------------------------------------
// AVX2 + FMA + F16C kernels.

#if LC_X86_DISPATCH

template <DType DT>
LC_AVX2 inline __m256 load8(const uint8_t* row, int64_t i) {
    if constexpr (DT == DType::F32) {
        return _mm256_loadu_ps(reinterpret_cast<const float*>(row + 4 * i));
    } else if constexpr (DT == DType::F16) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
    } else {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
}

LC_AVX2 inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// An R x T tile: R x T accumulators, times U independent sets along the columns when the
// tile is small (one token: several FMA chains in flight hide the FMA latency).
template <DType DT, int R, int T>
LC_AVX2 void kernel_avx2(const Tile& t) {
    constexpr int U = std::max(1, std::min(4, 8 / (R * T)));
    __m256 acc[U][R][T];
    LC_UNROLL
    for (int u = 0; u < U; ++u) {
        LC_UNROLL
        for (int r = 0; r < R; ++r) {
            LC_UNROLL
            for (int tk = 0; tk < T; ++tk)
                acc[u][r][tk] = _mm256_setzero_ps();
        }
    }
    const uint8_t* wr[R];
    LC_UNROLL
    for (int r = 0; r < R; ++r)
        wr[r] = t.w + r * t.w_stride;
    const float* xt[T];
    LC_UNROLL
    for (int tk = 0; tk < T; ++tk)
        xt[tk] = t.x + tk * t.x_stride;

    int64_t k = 0;
    for (; k + 8 * U <= t.cols; k += 8 * U) {
        LC_UNROLL
        for (int u = 0; u < U; ++u) {
            __m256 xv[T];
            LC_UNROLL
            for (int tk = 0; tk < T; ++tk)
                xv[tk] = _mm256_loadu_ps(xt[tk] + k + 8 * u);
            LC_UNROLL
            for (int r = 0; r < R; ++r) {
                const __m256 wv = load8<DT>(wr[r], k + 8 * u);
                LC_UNROLL
                for (int tk = 0; tk < T; ++tk) {
                    acc[u][r][tk] = _mm256_fmadd_ps(wv, xv[tk], acc[u][r][tk]);
                }
            }
        }
    }
    if constexpr (U > 1) {
        for (; k + 8 <= t.cols; k += 8) {
            __m256 xv[T];
            LC_UNROLL
            for (int tk = 0; tk < T; ++tk)
                xv[tk] = _mm256_loadu_ps(xt[tk] + k);
            LC_UNROLL
            for (int r = 0; r < R; ++r) {
                const __m256 wv = load8<DT>(wr[r], k);
                LC_UNROLL
                for (int tk = 0; tk < T; ++tk) {
                    acc[0][r][tk] = _mm256_fmadd_ps(wv, xv[tk], acc[0][r][tk]);
                }
            }
        }
        LC_UNROLL
        for (int u = 1; u < U; ++u) {
            LC_UNROLL
            for (int r = 0; r < R; ++r) {
                LC_UNROLL
                for (int tk = 0; tk < T; ++tk) {
                    acc[0][r][tk] = _mm256_add_ps(acc[0][r][tk], acc[u][r][tk]);
                }
            }
        }
    }

    float s[R][T];
    LC_UNROLL
    for (int r = 0; r < R; ++r) {
        LC_UNROLL
        for (int tk = 0; tk < T; ++tk)
            s[r][tk] = hsum8(acc[0][r][tk]);
    }
    finish_tile<DT, R, T>(t, wr, xt, k, s);
}

template <DType DT>
LC_AVX2 void widen_avx2(const uint8_t* src, int64_t n, float* dst) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, load8<DT>(src, i));
    for (; i < n; ++i)
        dst[i] = load_scalar<DT>(src, i);
}

LC_AVX2 float dot_avx2(const float* a, const float* b, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; ++i)
        s += a[i] * b[i];
    return s;
}

LC_AVX2 void axpy_avx2(float a, const float* x, float* y, int64_t n) {
    const __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
        _mm256_storeu_ps(
            y + i + 8, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8)));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i)
        y[i] += a * x[i];
}

template <DType DT, int R>
LC_AVX2 void transposed_rows_avx2(const uint8_t* w, int64_t w_stride, const float* x, float* y,
                                  int64_t cols) {
    __m256 xv[R];
    LC_UNROLL
    for (int r = 0; r < R; ++r)
        xv[r] = _mm256_set1_ps(x[r]);
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8) {
        __m256 s = _mm256_loadu_ps(y + c);
        LC_UNROLL
        for (int r = 0; r < R; ++r) {
            s = _mm256_fmadd_ps(xv[r], load8<DT>(w + r * w_stride, c), s);
        }
        _mm256_storeu_ps(y + c, s);
    }
    for (; c < cols; ++c) {
        float s = y[c];
        for (int r = 0; r < R; ++r)
            s += x[r] * load_scalar<DT>(w + r * w_stride, c);
        y[c] = s;
    }
}

struct Avx2 {
    // Rows per tile, chosen by measurement (Zen 4, bf16 4096x4096): one token reads a single
    // row at a time (one sequential stream is what the prefetchers serve best); more tokens
    // use 12 accumulators of the 16 ymm registers.
    static constexpr int rows_per_tile(int T) { return T == 1 ? 1 : T == 2 ? 6 : T == 3 ? 4 : 3; }
    template <DType DT, int R, int T>
    static void kernel(const Tile& t) {
        kernel_avx2<DT, R, T>(t);
    }
    template <DType DT, int R>
    static void transposed_rows(const uint8_t* w, int64_t w_stride, const float* x, float* y,
                                int64_t cols) {
        transposed_rows_avx2<DT, R>(w, w_stride, x, y, cols);
    }
};

#else
using Avx2 = Portable;  // never selected: use_avx2() is false
#endif

// ---------------------------------------------------------------------------------------------
// Drivers shared by both kernel sets.

// One block of T tokens over `rows` (<= kRowGroup) rows.
template <class K, DType DT, int T>
void token_block(Tile t, int64_t rows) {
    constexpr int R = K::rows_per_tile(T);
    static_assert(kRowGroup % R == 0);
    const uint8_t* w = t.w;
    float* y = t.y;
    int64_t r = 0;
    for (; r + R <= rows; r += R) {
        t.w = w + r * t.w_stride;
        t.y = y + r;
        K::template kernel<DT, R, T>(t);
    }
    for (; r < rows; ++r) {
        t.w = w + r * t.w_stride;
        t.y = y + r;
        K::template kernel<DT, 1, T>(t);
    }
}

// All `n_tokens` tokens of a tile over `rows` (<= kRowGroup) rows, 4 tokens at a time; the
// rows stay in cache between the token blocks.
template <class K, DType DT>
void all_tokens(Tile t, int n_tokens, int64_t rows) {
    const float* x = t.x;
    float* y = t.y;
    // Blocks of 4 tokens; a remainder of 5 goes as 3 + 2, so a lone token (the slowest tile
    // per token) only occurs when there is one token in all.
    for (int tk = 0; tk < n_tokens;) {
        const int left = n_tokens - tk;
        const int tb = left == 5 ? 3 : std::min(left, 4);
        t.x = x + tk * t.x_stride;
        t.y = y + tk * t.y_stride;
        switch (tb) {
            case 4:
                token_block<K, DT, 4>(t, rows);
                break;
            case 3:
                token_block<K, DT, 3>(t, rows);
                break;
            case 2:
                token_block<K, DT, 2>(t, rows);
                break;
            default:
                token_block<K, DT, 1>(t, rows);
                break;
        }
        tk += tb;
    }
}

// Rows [r0, r1) of the product.
template <class K, DType DT>
void matmul_rows(const WeightMatrix& w, const float* x, int64_t x_stride, float* y,
                 int64_t y_stride, int n_tokens, int64_t r0, int64_t r1) {
    const int64_t w_stride = w.row_stride * static_cast<int64_t>(dtype_size(DT));
    // Panels of tokens whose x fits in kXPanelBytes, of equal size (no lone token at the end).
    const int64_t x_token_bytes = std::max<int64_t>(1, w.cols * 4);
    const int max_panel = static_cast<int>(
        std::clamp<int64_t>(kXPanelBytes / x_token_bytes, kMinTokenPanel, n_tokens));
    const int n_panels = (n_tokens + max_panel - 1) / max_panel;
    const int panel = (n_tokens + n_panels - 1) / n_panels;
    for (int t0 = 0; t0 < n_tokens; t0 += panel) {
        const int nt = std::min(panel, n_tokens - t0);
        for (int64_t r = r0; r < r1; r += kRowGroup) {
            const Tile t{static_cast<const uint8_t*>(w.row(r)),
                         w_stride,
                         x + t0 * x_stride,
                         x_stride,
                         y + t0 * y_stride + r,
                         y_stride,
                         w.cols};
            all_tokens<K, DT>(t, nt, std::min(kRowGroup, r1 - r));
        }
    }
}

template <class K>
void matmul_rows_any(const WeightMatrix& w, const float* x, int64_t x_stride, float* y,
                     int64_t y_stride, int n_tokens, int64_t r0, int64_t r1) {
    switch (w.dtype) {
        case DType::F32:
            matmul_rows<K, DType::F32>(w, x, x_stride, y, y_stride, n_tokens, r0, r1);
            break;
        case DType::F16:
            matmul_rows<K, DType::F16>(w, x, x_stride, y, y_stride, n_tokens, r0, r1);
            break;
        case DType::BF16:
            matmul_rows<K, DType::BF16>(w, x, x_stride, y, y_stride, n_tokens, r0, r1);
            break;
        default:
            break;  // rejected by check_matrix
    }
}

void matmul_rows_dispatch(bool avx2, const WeightMatrix& w, const float* x, int64_t x_stride,
                          float* y, int64_t y_stride, int n_tokens, int64_t r0, int64_t r1) {
    if (avx2) {
        matmul_rows_any<Avx2>(w, x, x_stride, y, y_stride, n_tokens, r0, r1);
    } else {
        matmul_rows_any<Portable>(w, x, x_stride, y, y_stride, n_tokens, r0, r1);
    }
}

// Quantized types go to cpu_quant.cpp, which checks its own (whole blocks per row).
void check_matrix(const WeightMatrix& w) {
    if (dtype_is_quantized(w.dtype)) return check_quant_matrix(w);
    if (w.dtype == DType::Other)
        throw Error(std::string("A weight matrix has an element type the CPU backend cannot "
                                "multiply: ") +
                    dtype_name(w.dtype));
}

template <class K, DType DT>
void transposed(const WeightMatrix& w, const float* x, float* y) {
    const int64_t w_stride = w.row_stride * static_cast<int64_t>(dtype_size(DT));
    std::fill(y, y + w.cols, 0.0f);
    int64_t r = 0;
    for (; r + 4 <= w.rows; r += 4)
        K::template transposed_rows<DT, 4>(static_cast<const uint8_t*>(w.row(r)), w_stride, x + r,
                                           y, w.cols);
    for (; r < w.rows; ++r)
        K::template transposed_rows<DT, 1>(static_cast<const uint8_t*>(w.row(r)), w_stride, x + r,
                                           y, w.cols);
}

template <class K>
void transposed_any(const WeightMatrix& w, const float* x, float* y) {
    switch (w.dtype) {
        case DType::F32:
            transposed<K, DType::F32>(w, x, y);
            break;
        case DType::F16:
            transposed<K, DType::F16>(w, x, y);
            break;
        case DType::BF16:
            transposed<K, DType::BF16>(w, x, y);
            break;
        default:
            break;
    }
}

template <DType DT>
void widen_dispatch(const uint8_t* src, int64_t n, float* dst) {
#if LC_X86_DISPATCH
    if (use_avx2()) {
        widen_avx2<DT>(src, n, dst);
        return;
    }
#endif
    widen_portable<DT>(src, n, dst);
}

}  // namespace

void cpu_matmul_force_portable(bool force) {
    g_force_portable.store(force, std::memory_order_relaxed);
}

bool cpu_matmul_avx2_supported() {
    return avx2_supported();
}

bool cpu_has_avx2_fma() {
    return use_avx2();
}

void matmul(ThreadPool& pool, const WeightMatrix& w, const float* x, int64_t x_stride, float* y,
            int64_t y_stride, int n_tokens) {
    if (w.rows <= 0 || n_tokens <= 0) return;
    if (dtype_is_quantized(w.dtype))
        return quant_matmul(&pool, w, x, x_stride, y, y_stride, n_tokens);
    check_matrix(w);
    const bool avx2 = use_avx2();
    const int64_t groups = (w.rows + kRowGroup - 1) / kRowGroup;
    // At least ~64K multiply-adds per chunk, so small products do not pay for waking threads.
    const int64_t work_per_group = kRowGroup * std::max<int64_t>(w.cols, 1) * n_tokens;
    const int64_t grain = std::max<int64_t>(4, (int64_t(1) << 16) / work_per_group);
    pool.parallel_for(groups, grain, [&](int64_t g0, int64_t g1) {
        matmul_rows_dispatch(avx2, w, x, x_stride, y, y_stride, n_tokens, g0 * kRowGroup,
                             std::min(w.rows, g1 * kRowGroup));
    });
}

void matmul_batch(ThreadPool& pool, const MatmulJob* jobs, int n_jobs) {
    bool all_quantized = true;
    for (int i = 0; i < n_jobs; ++i)
        all_quantized = all_quantized && dtype_is_quantized(jobs[i].w->dtype);
    if (all_quantized) return quant_matmul_batch(&pool, jobs, n_jobs);
    for (int i = 0; i < n_jobs; ++i)
        matmul(pool, *jobs[i].w, jobs[i].x, jobs[i].x_stride, jobs[i].y, jobs[i].y_stride,
               jobs[i].n_tokens);
}

void matmul_serial(const WeightMatrix& w, const float* x, int64_t x_stride, float* y,
                   int64_t y_stride, int n_tokens) {
    if (w.rows <= 0 || n_tokens <= 0) return;
    if (dtype_is_quantized(w.dtype))
        return quant_matmul(nullptr, w, x, x_stride, y, y_stride, n_tokens);
    check_matrix(w);
    matmul_rows_dispatch(use_avx2(), w, x, x_stride, y, y_stride, n_tokens, 0, w.rows);
}

void matmul_transposed_serial(const WeightMatrix& w, const float* x, float* y) {
    if (w.cols <= 0) return;
    if (dtype_is_quantized(w.dtype))
        throw Error(std::string("The transposed product (W^T x) has no kernel for ") +
                    dtype_name(w.dtype) + " weights; such a matrix must be kept in float.");
    check_matrix(w);
    if (use_avx2()) {
        transposed_any<Avx2>(w, x, y);
    } else {
        transposed_any<Portable>(w, x, y);
    }
}

void widen_row(const void* src, DType dtype, int64_t n, float* dst) {
    if (n <= 0) return;
    const auto* s = static_cast<const uint8_t*>(src);
    switch (dtype) {
        case DType::F32:
            widen_dispatch<DType::F32>(s, n, dst);
            break;
        case DType::F16:
            widen_dispatch<DType::F16>(s, n, dst);
            break;
        case DType::BF16:
            widen_dispatch<DType::BF16>(s, n, dst);
            break;
        default:  // quantized: gguf-py's values (formats/dequant.h); Other: its lc::Error
            dequantize_row(dtype, src, n, dst);
            break;
    }
}

float dot_f32(const float* a, const float* b, int64_t n) {
#if LC_X86_DISPATCH
    if (use_avx2()) return dot_avx2(a, b, n);
#endif
    return dot_portable(a, b, n);
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
#if LC_X86_DISPATCH
    if (use_avx2()) {
        axpy_avx2(a, x, y, n);
        return;
    }
#endif
    axpy_portable(a, x, y, n);
}

}  // namespace lc
