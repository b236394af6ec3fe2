#pragma once
// Quantized matrices for the GPU tests: random valid GGUF blocks, their weights as
// formats/dequant.h gives them (gguf-py's, bit for bit), double-precision products, and the
// error the GPU's kernels may add to such a product:
// - decode's integer kernels round the input to 8 bits per 32 values (scale max|v| / 127): an
//   error uniform in +-scale/2 per value, variance scale^2 / 12, summed over the row;
// - prefill rounds each weight to F16 for the tensor cores: variance ulp(w)^2 / 12 times x^2.
// A result is accepted within 3 standard deviations of that error (the sum over a whole
// output of thousands of independent roundings is close to its expectation), plus 1e-5 of the
// norm for f32 accumulation. A decoding mistake (a wrong scale, bit or position) moves results
// by a sizeable fraction of their norm, far beyond that.
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "engine/weight_matrix.h"
#include "formats/dequant.h"

namespace lc_test {

inline constexpr lc::DType kQuantTypes[] = {
    lc::DType::Q4_0, lc::DType::Q4_1, lc::DType::Q5_0, lc::DType::Q5_1, lc::DType::Q8_0,
    lc::DType::Q2_K, lc::DType::Q3_K, lc::DType::Q4_K, lc::DType::Q5_K, lc::DType::Q6_K};

inline uint16_t f16_bits(float v) {
    const _Float16 h = static_cast<_Float16>(v);
    uint16_t bits;
    std::memcpy(&bits, &h, 2);
    return bits;
}

// The f16 fields of a block (d, dmin or m) with the size that keeps weights near 0.05: the
// largest quant times the largest scale times this is about 0.05.
struct HalfField {
    int offset;
    double magnitude;
    bool any_sign;
};
inline std::vector<HalfField> half_fields(lc::DType t) {
    const double s = 0.05;
    switch (t) {
        case lc::DType::Q4_0:
            return {{0, s / 8, true}};
        case lc::DType::Q4_1:
            return {{0, 2 * s / 15, false}, {2, s, true}};
        case lc::DType::Q5_0:
            return {{0, s / 16, true}};
        case lc::DType::Q5_1:
            return {{0, 2 * s / 31, false}, {2, s, true}};
        case lc::DType::Q8_0:
            return {{0, s / 127, true}};
        case lc::DType::Q2_K:
            return {{80, s / 22, false}, {82, s / 15, false}};
        case lc::DType::Q3_K:
            return {{108, s / 64, true}};
        case lc::DType::Q4_K:
            return {{0, 2 * s / 945, false}, {2, s / 63, false}};
        case lc::DType::Q5_K:
            return {{0, 2 * s / (63 * 31), false}, {2, s / 63, false}};
        case lc::DType::Q6_K:
            return {{208, s / (127 * 32), true}};
        default:
            return {};
    }
}

// A [rows, cols] matrix of random valid blocks (every quant and scale byte random, the f16
// fields finite), rows `row_stride` weights apart (cols plus `pad_blocks` blocks), and its
// weights from dequantize_rows.
struct QuantMatrix {
    std::vector<uint8_t> bytes;
    std::vector<float> values;  // [rows, cols]
    lc::WeightMatrix view;

    QuantMatrix() = default;
    QuantMatrix(int64_t rows, int64_t cols, lc::DType t, std::mt19937& rng, int pad_blocks = 0) {
        const int64_t stride = cols + pad_blocks * lc::dtype_block_elems(t);
        const int64_t blocks = rows * stride / lc::dtype_block_elems(t);
        const int64_t block_bytes = lc::dtype_block_bytes(t);
        bytes.resize(static_cast<size_t>(blocks * block_bytes));
        std::uniform_int_distribution<int> byte(0, 255);
        std::uniform_real_distribution<double> spread(0.5, 1.5);
        for (uint8_t& b : bytes)
            b = static_cast<uint8_t>(byte(rng));
        for (int64_t b = 0; b < blocks; ++b)
            for (const HalfField& f : half_fields(t)) {
                double v = f.magnitude * spread(rng);
                if (f.any_sign && byte(rng) < 128) v = -v;
                const uint16_t bits = f16_bits(static_cast<float>(v));
                std::memcpy(&bytes[b * block_bytes + f.offset], &bits, 2);
            }
        view = lc::WeightMatrix{bytes.data(), t, rows, cols, stride};
        values.resize(static_cast<size_t>(rows * cols));
        lc::dequantize_rows(t, bytes.data(), rows, cols, view.stride_bytes(), values.data());
    }
};

// y[t, r] = sum_c w[r, c] x[t, c] in double; w [rows, cols], x [n, cols].
inline std::vector<double> product(const std::vector<float>& w, int64_t rows, int64_t cols,
                                   const std::vector<float>& x, int n) {
    std::vector<double> y(static_cast<size_t>(n * rows));
    for (int t = 0; t < n; ++t)
        for (int64_t r = 0; r < rows; ++r) {
            double s = 0;
            for (int64_t c = 0; c < cols; ++c)
                s += double(w[r * cols + c]) * x[t * cols + c];
            y[t * rows + r] = s;
        }
    return y;
}

// Variance of each y[t, r] from rounding v[t] (the vector the kernel quantizes) to 8 bits per 32.
inline std::vector<double> q8_variance(const std::vector<float>& w, int64_t rows, int64_t cols,
                                       const std::vector<float>& v, int n) {
    std::vector<double> var(static_cast<size_t>(n * rows));
    std::vector<double> step2(static_cast<size_t>(cols));  // (scale of c's 32)^2 / 12
    for (int t = 0; t < n; ++t) {
        for (int64_t b = 0; b < cols; b += 32) {
            double amax = 0;
            for (int64_t c = b; c < std::min(b + 32, cols); ++c)
                amax = std::max(amax, std::fabs(double(v[t * cols + c])));
            for (int64_t c = b; c < std::min(b + 32, cols); ++c)
                step2[c] = (amax / 127) * (amax / 127) / 12;
        }
        for (int64_t r = 0; r < rows; ++r) {
            double s = 0;
            for (int64_t c = 0; c < cols; ++c)
                s += double(w[r * cols + c]) * w[r * cols + c] * step2[c];
            var[t * rows + r] = s;
        }
    }
    return var;
}

// Variance of each y[t, r] from rounding every weight to F16 (half an ulp, uniform).
inline std::vector<double> f16_variance(const std::vector<float>& w, int64_t rows, int64_t cols,
                                        const std::vector<float>& x, int n) {
    std::vector<double> ulp2(w.size());
    for (size_t i = 0; i < w.size(); ++i) {
        const double a = std::fabs(double(w[i]));
        const int e = a < std::ldexp(1.0, -14) ? -14 : static_cast<int>(std::floor(std::log2(a)));
        const double ulp = std::ldexp(1.0, e - 10);
        ulp2[i] = ulp * ulp / 12;
    }
    std::vector<double> var(static_cast<size_t>(n * rows));
    for (int t = 0; t < n; ++t)
        for (int64_t r = 0; r < rows; ++r) {
            double s = 0;
            for (int64_t c = 0; c < cols; ++c)
                s += ulp2[r * cols + c] * x[t * cols + c] * x[t * cols + c];
            var[t * rows + r] = s;
        }
    return var;
}

inline double silu(double g) {
    return g / (1 + std::exp(-g));
}
inline double silu_slope(double g) {
    const double s = 1 / (1 + std::exp(-g));
    return s * (1 + g * (1 - s));
}
// h = silu(g) * u and its variance from those of g and u (their errors added in magnitude,
// as both come from the same rounded input).
inline void swiglu(const std::vector<double>& g, const std::vector<double>& u,
                   const std::vector<double>& var_g, const std::vector<double>& var_u,
                   std::vector<double>& h, std::vector<double>& var_h) {
    h.resize(g.size());
    var_h.resize(g.size());
    for (size_t i = 0; i < g.size(); ++i) {
        h[i] = silu(g[i]) * u[i];
        const double sd = std::fabs(silu_slope(g[i]) * u[i]) * std::sqrt(var_g[i]) +
                          std::fabs(silu(g[i])) * std::sqrt(var_u[i]);
        var_h[i] = sd * sd;
    }
}

// How far `got` is from `want`, and whether within the bound described at the top.
struct Agreement {
    double error = 0, bound = 0, norm = 0;
    bool ok = false;
    std::string text() const {
        char buf[160];
        std::snprintf(buf, sizeof buf, "relative L2 %.3g (allowed %.3g)", error / norm,
                      bound / norm);
        return buf;
    }
};
inline Agreement agree(const std::vector<float>& got, const std::vector<double>& want,
                       const std::vector<double>& var) {
    Agreement a;
    double diff = 0, norm = 0, total = 0;
    bool finite = true;
    for (size_t i = 0; i < want.size(); ++i) {
        if (!std::isfinite(got[i])) finite = false;
        diff += (got[i] - want[i]) * (got[i] - want[i]);
        norm += want[i] * want[i];
        total += var.empty() ? 0 : var[i];
    }
    a.norm = std::sqrt(std::max(norm, 1e-300));
    a.error = finite ? std::sqrt(diff) : INFINITY;
    a.bound = 3 * std::sqrt(total) + 1e-5 * a.norm;
    a.ok = a.error <= a.bound;
    return a;
}

}  // namespace lc_test
