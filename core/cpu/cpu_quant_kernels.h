#pragma once
// What cpu_quant.cpp shares with the kernel files (cpu_quant_portable.cpp, cpu_quant_avx2.cpp,
// cpu_quant_avx512.cpp): the layout of the quantized activations, the description of one
// product, and the row/token loops every kernel set runs its tiles in.
#include <algorithm>
#include <cstdint>

#include "base/dtype.h"

namespace lc::cpuq {

// ---------------------------------------------------------------------------------------------
// Quantized activations: one token's row of `cols` floats, as 8-bit values in blocks with an
// f32 scale (x ~= d * q, d = max|x| / 127, q in [-127, 127]). The weight type picks the block:
//   *_0/*_1 types and Q8_0: blocks of 32, with s = d * sum(q) and corr = -offset * sum(q),
//     where `offset` is what the kernels add to the weight's stored integer to make it unsigned
//     (8 for Q4_0, 16 for Q5_0, 128 for Q8_0, 0 for Q4_1/Q5_1);
//   K types: blocks of 256, with the sums of q over each 16 (bsum) for the weights' offsets
//     and mins.
// Sections are 64-byte aligned within a token; tokens are `bytes` apart.
struct XLayout {
    int64_t cols = 0;
    int64_t n_blocks = 0;  // of 32 or 256
    bool k_blocks = false;
    int32_t offset = 0;    // see above (32-blocks)
    int64_t d_off = 0;     // float [n_blocks]
    int64_t s_off = 0;     // float [n_blocks] (32-blocks)
    int64_t corr_off = 0;  // int32 [n_blocks] (32-blocks)
    int64_t bsum_off = 0;  // int16 [cols / 16] (K blocks)
    int64_t bytes = 0;
};
XLayout x_layout(DType weight_type, int64_t cols);

// Weights' unsigned offset for the 32-blocks (see XLayout).
inline int32_t weight_offset(DType t) {
    switch (t) {
        case DType::Q4_0:
            return 8;
        case DType::Q5_0:
            return 16;
        case DType::Q8_0:
            return 128;
        default:
            return 0;
    }
}

// One product: y[t * y_stride + r] = W[r, :] . x[t, :] for rows r of the matrix (the caller's
// range) and tokens t in [0, n_tokens).
struct Product {
    DType dtype = DType::Q4_0;
    const uint8_t* w = nullptr;   // row 0
    int64_t w_stride = 0;         // bytes between rows
    int64_t n_blocks = 0;         // weight blocks per row
    const uint8_t* xq = nullptr;  // token 0's quantized activations
    XLayout lx;                   // their layout; tokens lx.bytes apart
    float* y = nullptr;
    int64_t y_stride = 0;
    int n_tokens = 0;
};

// ---------------------------------------------------------------------------------------------
// Token panels (prefill, where the CPU has VNNI): kPanel tokens side by side, so that one
// vpdpbusd multiplies 4 weights of a row, broadcast, with the same 4 columns of all 16 tokens.
// Within a panel every 4 consecutive columns of the 16 tokens make 64 bytes:
// qs[(c / 4) * 64 + t * 4 + c % 4] = q of token t, column c. The per-block numbers are
// vectors over the 16 tokens (tokens past the last are zero). As XLayout, per weight type:
//   d      float [n_blocks][16]
//   corr   int32 [n_blocks][16]   32-blocks: -offset * sum(q)
//   s      float [n_blocks][16]   Q4_1/Q5_1: d * sum(q)
//   kbias  int32 [cols/16][16]    Q3_K/Q6_K: -offset * sum(q) over each 16 (offset 4 / 32)
//   msum   float [cols/16][16]    Q2_K/Q4_K/Q5_K: d * sum(q) over each 16
constexpr int kPanel = 16;
constexpr int kPanelMinTokens = 8;  // fewer tokens: the row kernels (panels would be half empty)
constexpr int64_t kPanelRowGroup = 16;  // rows unpacked together and handed to a thread

struct PanelLayout {
    int64_t cols = 0;
    int64_t n_blocks = 0;
    int64_t d_off = 0, corr_off = 0, s_off = 0, kbias_off = 0, msum_off = 0;
    int64_t bytes = 0;
};
PanelLayout panel_layout(DType weight_type, int64_t cols);

struct PanelProduct {
    DType dtype = DType::Q4_0;
    const uint8_t* w = nullptr;
    int64_t w_stride = 0;
    int64_t n_blocks = 0;
    const uint8_t* panels = nullptr;  // panel p at panels + p * pl.bytes
    PanelLayout pl;
    float* y = nullptr;
    int64_t y_stride = 0;
    int n_tokens = 0;
};

// One kernel set (one instruction set).
struct KernelSet {
    // Quantizes one token's activations for weights of `weight_type` into xq (lx.bytes).
    void (*quantize)(const XLayout& lx, const float* x, uint8_t* xq);
    // Rows [r0, r1) of the product, all tokens.
    void (*rows)(const Product& p, int64_t r0, int64_t r1);
    // Token panels, where this set has them (else null): quantizes tokens [0, n) (n <= kPanel)
    // into one panel, and computes rows [r0, r1) of a product from panels.
    void (*quantize_panel)(DType weight_type, const PanelLayout& pl, const float* x,
                           int64_t x_stride, int n, uint8_t* panel);
    void (*panel_rows)(const PanelProduct& p, int64_t r0, int64_t r1);
};
void quantize_panel_avx512(DType weight_type, const PanelLayout& pl, const float* x,
                           int64_t x_stride, int n, uint8_t* panel);
void panel_rows_avx512(const PanelProduct& p, int64_t r0, int64_t r1);
const KernelSet& kernels_portable();
const KernelSet& kernels_avx2();    // only where the CPU has AVX2/FMA/F16C
const KernelSet& kernels_avx512();  // only where the CPU has AVX-512 F/BW/VL/VNNI

// Per-thread buffers that grow to the largest size asked and are reused after (64-byte
// aligned): after the first calls of each size no product allocates.
enum ScratchSlot { kScratchActivations, kScratchWeights, kScratchRow, kScratchSlots };
uint8_t* scratch(int slot, size_t bytes);

// ---------------------------------------------------------------------------------------------
// The loops around the tiles, shared by the kernel sets.

// One tile: R weight rows x T tokens over whole rows.
struct Tile {
    const uint8_t* w;  // first row
    int64_t w_stride;
    const uint8_t* x;  // first token's quantized activations
    int64_t x_stride;
    float* y;  // first token, first row
    int64_t y_stride;
    int64_t n_blocks;
    const XLayout* lx;
};

// How far ahead of the weights being multiplied a one-token product prefetches, in bytes.
// Measured on the 16-core host (Xeon, 16 threads, DeepSeek-V2-Lite shapes): 512 to 4096 all
// help (60-80 -> 85-105 GB/s); 4096 was best, and with 4 rows per tile it reaches into the
// rows of the next tile.
constexpr int64_t kPrefetchBytes = 4096;

// Rows handed to the tile kernels together: their weights stay in L1/L2 while every token of a
// panel passes over them.
constexpr int64_t kQuantRowGroup = 16;
// Most bytes of quantized activations per token panel (the tokens that meet a row group while
// it is in cache); at least kMinPanel tokens.
constexpr int64_t kQuantPanelBytes = int64_t(1) << 20;
constexpr int kMinPanel = 16;

// K supplies: kMaxTokens (<= 8), rows_per_tile(T) (dividing kQuantRowGroup), and
// template <DType DT, int R, int T> static void tile(const Tile&).
template <class K, DType DT, int T>
void token_block(Tile t, int64_t rows) {
    constexpr int R = K::rows_per_tile(T);
    static_assert(kQuantRowGroup % R == 0);
    const uint8_t* w = t.w;
    float* y = t.y;
    int64_t r = 0;
    for (; r + R <= rows; r += R) {
        t.w = w + r * t.w_stride;
        t.y = y + r;
        K::template tile<DT, R, T>(t);
    }
    for (; r < rows; ++r) {
        t.w = w + r * t.w_stride;
        t.y = y + r;
        K::template tile<DT, 1, T>(t);
    }
}

template <class K, DType DT, int T>
void token_block_upto(Tile t, int n_tokens, int64_t rows) {
    if constexpr (T > 1) {
        if (n_tokens < T) {
            token_block_upto<K, DT, T - 1>(t, n_tokens, rows);
            return;
        }
    }
    token_block<K, DT, T>(t, rows);
}

// All tokens over `rows` rows, K::kMaxTokens at a time; a short remainder is split so that no
// block is much smaller than the others.
template <class K, DType DT>
void all_tokens(Tile t, int n_tokens, int64_t rows) {
    constexpr int TM = K::kMaxTokens;
    const uint8_t* x = t.x;
    float* y = t.y;
    for (int tk = 0; tk < n_tokens;) {
        const int left = n_tokens - tk;
        const int tb = left > TM && left < 2 * TM ? (left + 1) / 2 : std::min(left, TM);
        t.x = x + tk * t.x_stride;
        t.y = y + tk * t.y_stride;
        token_block_upto<K, DT, TM>(t, tb, rows);
        tk += tb;
    }
}

template <class K, DType DT>
void rows_of(const Product& p, int64_t r0, int64_t r1) {
    const int max_panel = static_cast<int>(std::clamp<int64_t>(
        kQuantPanelBytes / std::max<int64_t>(1, p.lx.bytes), kMinPanel, std::max(1, p.n_tokens)));
    const int n_panels = (p.n_tokens + max_panel - 1) / max_panel;
    const int panel = (p.n_tokens + n_panels - 1) / n_panels;
    for (int t0 = 0; t0 < p.n_tokens; t0 += panel) {
        const int nt = std::min(panel, p.n_tokens - t0);
        for (int64_t r = r0; r < r1; r += kQuantRowGroup) {
            const Tile t{p.w + r * p.w_stride,
                         p.w_stride,
                         p.xq + t0 * p.lx.bytes,
                         p.lx.bytes,
                         p.y + t0 * p.y_stride + r,
                         p.y_stride,
                         p.n_blocks,
                         &p.lx};
            all_tokens<K, DT>(t, nt, std::min(kQuantRowGroup, r1 - r));
        }
    }
}

template <class K>
void rows_any(const Product& p, int64_t r0, int64_t r1) {
    switch (p.dtype) {
        case DType::Q4_0:
            return rows_of<K, DType::Q4_0>(p, r0, r1);
        case DType::Q4_1:
            return rows_of<K, DType::Q4_1>(p, r0, r1);
        case DType::Q5_0:
            return rows_of<K, DType::Q5_0>(p, r0, r1);
        case DType::Q5_1:
            return rows_of<K, DType::Q5_1>(p, r0, r1);
        case DType::Q8_0:
            return rows_of<K, DType::Q8_0>(p, r0, r1);
        case DType::Q2_K:
            return rows_of<K, DType::Q2_K>(p, r0, r1);
        case DType::Q3_K:
            return rows_of<K, DType::Q3_K>(p, r0, r1);
        case DType::Q4_K:
            return rows_of<K, DType::Q4_K>(p, r0, r1);
        case DType::Q5_K:
            return rows_of<K, DType::Q5_K>(p, r0, r1);
        case DType::Q6_K:
            return rows_of<K, DType::Q6_K>(p, r0, r1);
        default:
            return;  // rejected by check_quant_matrix
    }
}

}  // namespace lc::cpuq
