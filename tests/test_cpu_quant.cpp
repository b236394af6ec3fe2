// Products on quantized weights (cpu/cpu_quant.h, reached through lc::matmul) for every GGUF
// block type and every kernel set this CPU has (portable, AVX2, AVX-512 VNNI), against a
// double-precision product on the weights as formats/dequant.h gives them (bit-exact with
// gguf-py, tested in test_dequant).
//
// Two checks per output, both in double:
//   * exact: against sum_i w_i * xq_i, where xq is x quantized the way the kernels promise
//     (blocks of 32 or 256, d = max|x| / 127, q = round-half-even(x * 127 / max|x|)). The only
//     difference left is f32 rounding of the block sums, so the tolerance is 1e-5 of
//     sum_i maxw_i * |xq_i| (maxw_i: the largest |w| of weight i's block, which bounds the
//     terms the kernels add before the scales and mins cancel). A wrong nibble, scale or
//     group moves a result by about |w| * |x|, thousands of times more.
//   * accuracy: against sum_i w_i * x_i. Rounding x to q moves each x_i by at most d / 2, so
//     |error| <= sum_i |w_i| * d_i / 2 (plus the exact check's margin); the relative L2 error
//     over the whole output is reported and must stay under 1e-2 for Gaussian activations and
//     under 3e-2 (the model's budget) when 1 in 64 of them is an 8-sigma outlier, which
//     coarsens its whole block.
// Weight and y padding is filled with sentinels or NaN, so a kernel that reads or writes past
// a row is caught.
#include <QtTest>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "base/quant_blocks.h"
#include "cpu/cpu_matmul.h"
#include "cpu/cpu_matmul_internal.h"
#include "cpu/cpu_quant.h"
#include "cpu/thread_pool.h"
#include "formats/dequant.h"
#include "quant_reference.h"

namespace {

using lc::DType;
using lc::QuantIsa;
using namespace lc::quant;

constexpr float kYSentinel = -12345.0f;

const DType kTypes[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,
                        DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// A random f16 in +-[2^-9, 2^-3): the size of real block scales.
uint16_t random_scale(std::mt19937& rng) {
    std::uniform_int_distribution<int> exp_dist(6, 11), mant_dist(0, 1023), sign_dist(0, 1);
    return static_cast<uint16_t>((sign_dist(rng) << 15) | (exp_dist(rng) << 10) | mant_dist(rng));
}

// A matrix of `rows` rows whose storage is `stride` weights wide; the matrix under test is
// the `cols` weights starting `col0` weights in (all multiples of the block), at a 2-byte
// aligned address. values[r * cols + c] are its weights dequantized by formats/dequant.
struct QMatrix {
    DType dtype;
    int64_t rows = 0, cols = 0, stride = 0, col0 = 0;
    std::vector<uint8_t> bytes;
    std::vector<float> values;
    std::vector<float> block_max;  // per (row, block of the matrix): max |w|

    lc::WeightMatrix matrix() const {
        return lc::WeightMatrix{bytes.data() + 2 + lc::dtype_row_bytes(dtype, col0), dtype, rows,
                                cols, stride};
    }
};

QMatrix make_matrix(DType t, int64_t rows, int64_t cols, int64_t stride, int64_t col0,
                    uint32_t seed) {
    QMatrix m{t, rows, cols, stride, col0, {}, {}, {}};
    std::mt19937 rng(seed);
    const int64_t row_bytes = lc::dtype_row_bytes(t, stride);
    m.bytes.resize(static_cast<size_t>(2 + rows * row_bytes));
    for (auto& b : m.bytes)
        b = static_cast<uint8_t>(rng());
    const int64_t bb = lc::dtype_block_bytes(t), be = lc::dtype_block_elems(t);
    for (int64_t i = 0; i < rows * (stride / be); ++i)
        for (const lc_test::HalfField& field : lc_test::half_fields(t)) {
            const size_t off = static_cast<size_t>(field.offset);
            const uint16_t h = random_scale(rng);
            std::memcpy(m.bytes.data() + 2 + i * bb + off, &h, 2);
        }
    m.values.resize(static_cast<size_t>(rows * cols));
    const auto* w = static_cast<const uint8_t*>(m.matrix().data);
    for (int64_t r = 0; r < rows; ++r)
        lc::dequantize_row(t, w + r * row_bytes, cols, m.values.data() + r * cols);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t b = 0; b < cols / be; ++b) {
            float mx = 0.0f;
            for (int64_t i = 0; i < be; ++i)
                mx = std::max(mx, std::fabs(m.values[static_cast<size_t>(r * cols + b * be + i)]));
            m.block_max.push_back(mx);
        }
    return m;
}

// x quantized as the kernels promise (see the file comment), returned as floats d * q, and the
// step d of each element.
void quantize_like_kernels(const float* x, int64_t n, int64_t block, float* xq, float* step) {
    for (int64_t b = 0; b < n; b += block) {
        float amax = 0.0f;
        for (int64_t i = b; i < b + block; ++i)
            amax = std::max(amax, std::fabs(x[i]));
        const float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
        for (int64_t i = b; i < b + block; ++i) {
            xq[i] = d * std::nearbyint(x[i] * id);
            step[i] = d;
        }
    }
}

struct Errors {
    double worst_exact = 0.0;           // largest |y - exact| / tolerance
    double worst_bound = 0.0;           // largest |y - y_float| / bound
    double err2[2] = {}, ref2[2] = {};  // tokens without / with outliers
    std::string first;
};

// Runs one product (threaded or serial) and checks every output against both references.
Errors check_product(lc::ThreadPool& pool, const QMatrix& m, int n_tokens, bool threaded,
                     uint32_t seed) {
    const int64_t x_stride = m.cols + 5, y_stride = m.rows + 3;
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(n_tokens * x_stride),
                         std::numeric_limits<float>::quiet_NaN());
    for (int t = 0; t < n_tokens; ++t)
        for (int64_t c = 0; c < m.cols; ++c) {
            float v = normal(rng);
            if (t % 2 == 1 && rng() % 64 == 0) v *= 8.0f;  // odd tokens: outliers
            x[static_cast<size_t>(t * x_stride + c)] = v;
        }
    std::vector<float> y(static_cast<size_t>(n_tokens * y_stride), kYSentinel);
    if (threaded) {
        lc::matmul(pool, m.matrix(), x.data(), x_stride, y.data(), y_stride, n_tokens);
    } else {
        lc::matmul_serial(m.matrix(), x.data(), x_stride, y.data(), y_stride, n_tokens);
    }

    Errors e;
    const int64_t be = lc::dtype_block_elems(m.dtype);
    std::vector<float> xq(static_cast<size_t>(m.cols)), step(static_cast<size_t>(m.cols));
    for (int t = 0; t < n_tokens; ++t) {
        const float* xt = x.data() + t * x_stride;
        quantize_like_kernels(xt, m.cols, be, xq.data(), step.data());
        for (int64_t r = 0; r < m.rows; ++r) {
            const float* w = m.values.data() + r * m.cols;
            double exact = 0, ref = 0, mag = 0, bound = 0;
            for (int64_t c = 0; c < m.cols; ++c) {
                exact += double(w[c]) * xq[c];
                ref += double(w[c]) * xt[c];
                mag += double(m.block_max[static_cast<size_t>(r * (m.cols / be) + c / be)]) *
                       std::fabs(xq[c]);
                bound += std::fabs(double(w[c])) * step[c] * 0.5;
            }
            const double got = y[static_cast<size_t>(t * y_stride + r)];
            const double tol = 1e-5 * mag + 1e-30;
            const double over_exact = std::fabs(got - exact) / tol;
            const double over_bound = std::fabs(got - ref) / (bound * 1.0001 + tol);
            if (!(over_exact <= 1.0 && over_bound <= 1.0) && e.first.empty())
                e.first = "token " + std::to_string(t) + " row " + std::to_string(r) + ": got " +
                          std::to_string(got) + ", exact " + std::to_string(exact) + ", float x " +
                          std::to_string(ref) + " (tolerance " + std::to_string(tol) + ", bound " +
                          std::to_string(bound) + ")";
            if (!(over_exact <= e.worst_exact)) e.worst_exact = over_exact;  // NaN sticks
            if (!(over_bound <= e.worst_bound)) e.worst_bound = over_bound;
            e.err2[t % 2] += (got - ref) * (got - ref);
            e.ref2[t % 2] += ref * ref;
        }
        for (int64_t r = m.rows; r < y_stride; ++r)
            if (y[static_cast<size_t>(t * y_stride + r)] != kYSentinel && e.first.empty())
                e.first = "wrote past the rows at token " + std::to_string(t);
    }
    return e;
}

std::vector<QuantIsa> isas() {
    std::vector<QuantIsa> v{QuantIsa::Portable};
    if (lc::quant_isa_supported() >= QuantIsa::Avx2) v.push_back(QuantIsa::Avx2);
    if (lc::quant_isa_supported() >= QuantIsa::Avx512Vnni) v.push_back(QuantIsa::Avx512Vnni);
    return v;
}

struct IsaGuard {
    explicit IsaGuard(QuantIsa isa) { lc::quant_set_isa_limit(isa); }
    ~IsaGuard() { lc::quant_set_isa_limit(QuantIsa::Avx512Vnni); }
    IsaGuard(const IsaGuard&) = delete;
    IsaGuard& operator=(const IsaGuard&) = delete;
};

}  // namespace

class TestCpuQuant : public QObject {
    Q_OBJECT

private slots:
    // Every type, every kernel set, token counts through every tile remainder (1-7 tokens: the
    // row tiles of 1-4 tokens; 17, 64, 200: the AVX-512 token panels, full and part-filled),
    // odd row counts, and a block of columns inside a wider matrix (row stride > cols, not
    // starting at 0).
    void productsMatchDequantizedReference() {
        lc::ThreadPool pool(3);
        struct Shape {
            int64_t rows, cols_blocks, stride_blocks, col0_blocks;
        };
        // In blocks of the type: 3 K blocks are 768 weights, 25 blocks of 32 are 800.
        const Shape shapes[] = {{37, 3, 3, 0}, {21, 2, 5, 2}, {1, 1, 1, 0}};
        for (QuantIsa isa : isas()) {
            IsaGuard guard(isa);
            QCOMPARE(lc::quant_isa_in_use(), isa);
            for (DType t : kTypes) {
                const int64_t be = lc::dtype_block_elems(t);
                const int64_t scale = be == 256 ? 1 : 25;  // blocks of 32: ~the same widths
                for (const Shape& s : shapes) {
                    const int64_t cols = s.cols_blocks * scale * be;
                    const int64_t stride = s.stride_blocks * scale * be;
                    const QMatrix m =
                        make_matrix(t, s.rows, cols, stride, s.col0_blocks * scale * be,
                                    uint32_t(int(t) * 1000 + s.rows));
                    double err2[2] = {}, ref2[2] = {};
                    for (int n_tokens : {1, 3, 5, 7, 17, 64, 200}) {
                        for (bool threaded : {false, true}) {
                            const Errors e =
                                check_product(pool, m, n_tokens, threaded, uint32_t(n_tokens));
                            const std::string what =
                                std::string(lc::quant_isa_name(isa)) + " " + lc::dtype_name(t) +
                                " " + std::to_string(s.rows) + "x" + std::to_string(cols) +
                                " (stride " + std::to_string(stride) + ") t" +
                                std::to_string(n_tokens) + (threaded ? " threaded" : " serial") +
                                ": " + e.first;
                            QVERIFY2(e.first.empty(), what.c_str());
                            for (int k = 0; k < 2; ++k) {
                                err2[k] += e.err2[k];
                                ref2[k] += e.ref2[k];
                            }
                        }
                    }
                    const double rel = std::sqrt(err2[0] / ref2[0]);
                    const double rel_outliers = std::sqrt(err2[1] / ref2[1]);
                    if (s.rows == 37)
                        qInfo(
                            "%-12s %-5s relative L2 error vs float activations: %.2e "
                            "(with outliers: %.2e)",
                            lc::quant_isa_name(isa), lc::dtype_name(t), rel, rel_outliers);
                    QVERIFY2(rel < 1e-2, lc::dtype_name(t));
                    QVERIFY2(rel_outliers < 3e-2, lc::dtype_name(t));
                }
            }
        }
    }

    // Row blocks of a matrix (what the MoE and the split projections pass) give the rows of
    // the whole product.
    void rowBlocksMatchWholeMatrix() {
        lc::ThreadPool pool(2);
        for (QuantIsa isa : isas()) {
            IsaGuard guard(isa);
            for (DType t : {DType::Q4_K, DType::Q6_K, DType::Q8_0, DType::Q5_0}) {
                const int64_t cols = lc::dtype_block_elems(t) == 256 ? 512 : 320;
                const QMatrix m = make_matrix(t, 50, cols, cols, 0, 7);
                const int n = 5;
                std::vector<float> x(static_cast<size_t>(n * cols));
                std::mt19937 rng(3);
                std::normal_distribution<float> normal(0.0f, 1.0f);
                for (auto& v : x)
                    v = normal(rng);
                std::vector<float> whole(static_cast<size_t>(n * 50));
                lc::matmul(pool, m.matrix(), x.data(), cols, whole.data(), 50, n);
                for (int64_t begin : {0, 13, 49}) {
                    const int64_t count = std::min<int64_t>(17, 50 - begin);
                    std::vector<float> part(static_cast<size_t>(n * count));
                    lc::matmul(pool, m.matrix().row_block(begin, count), x.data(), cols,
                               part.data(), count, n);
                    for (int tk = 0; tk < n; ++tk)
                        for (int64_t r = 0; r < count; ++r)
                            QCOMPARE(part[static_cast<size_t>(tk * count + r)],
                                     whole[static_cast<size_t>(tk * 50 + begin + r)]);
                }
            }
        }
    }

    // A batch (one pass over the pool for all its products) gives each product exactly as
    // matmul alone does, for every mix of row kernels and panels, types and shapes.
    void batchMatchesSeparateProducts() {
        lc::ThreadPool pool(3);
        struct Spec {
            DType t;
            int64_t rows, cols;
            int n_tokens;
        };
        const Spec specs[] = {{DType::Q4_K, 40, 512, 1},  {DType::Q6_K, 17, 256, 1},
                              {DType::Q8_0, 33, 96, 20},  {DType::Q5_0, 5, 160, 3},
                              {DType::Q4_K, 70, 768, 64}, {DType::Q2_K, 1, 256, 9}};
        for (QuantIsa isa : isas()) {
            IsaGuard guard(isa);
            std::vector<QMatrix> ms;
            std::vector<std::vector<float>> xs, ys, refs;
            std::mt19937 rng(9);
            std::normal_distribution<float> normal(0.0f, 1.0f);
            for (const Spec& sp : specs) {
                ms.push_back(make_matrix(sp.t, sp.rows, sp.cols, sp.cols, 0, uint32_t(sp.rows)));
                xs.emplace_back(static_cast<size_t>(sp.n_tokens * sp.cols));
                for (auto& v : xs.back())
                    v = normal(rng);
                ys.emplace_back(static_cast<size_t>(sp.n_tokens * (sp.rows + 1)), kYSentinel);
                refs.push_back(ys.back());
            }
            std::vector<lc::WeightMatrix> ws;
            for (const QMatrix& m : ms)
                ws.push_back(m.matrix());
            std::vector<lc::MatmulJob> jobs;
            for (size_t i = 0; i < ms.size(); ++i) {
                const Spec& sp = specs[i];
                jobs.push_back(
                    {&ws[i], xs[i].data(), sp.cols, ys[i].data(), sp.rows + 1, sp.n_tokens});
                lc::matmul(pool, ws[i], xs[i].data(), sp.cols, refs[i].data(), sp.rows + 1,
                           sp.n_tokens);
            }
            lc::matmul_batch(pool, jobs.data(), static_cast<int>(jobs.size()));
            for (size_t i = 0; i < ms.size(); ++i)
                QVERIFY2(
                    ys[i] == refs[i],
                    (std::string(lc::quant_isa_name(isa)) + " job " + std::to_string(i)).c_str());
        }
    }

    // The SIMD kernels compute the same integer sums as the portable ones: only the order of
    // the f32 additions differs.
    void simdAgreesWithPortable() {
        if (lc::quant_isa_supported() == QuantIsa::Portable) QSKIP("no SIMD kernels here");
        lc::ThreadPool pool(2);
        for (DType t : kTypes) {
            const int64_t cols = lc::dtype_block_elems(t) == 256 ? 2048 : 2080;
            const QMatrix m = make_matrix(t, 24, cols, cols, 0, 11);
            const int n = 9;
            std::vector<float> x(static_cast<size_t>(n * cols));
            std::mt19937 rng(5);
            std::normal_distribution<float> normal(0.0f, 1.0f);
            for (auto& v : x)
                v = normal(rng);
            std::vector<float> ref(static_cast<size_t>(n * 24));
            {
                IsaGuard guard(QuantIsa::Portable);
                lc::matmul(pool, m.matrix(), x.data(), cols, ref.data(), 24, n);
            }
            for (QuantIsa isa : isas()) {
                IsaGuard guard(isa);
                std::vector<float> y(ref.size());
                lc::matmul(pool, m.matrix(), x.data(), cols, y.data(), 24, n);
                double err2 = 0, ref2 = 0;
                for (size_t i = 0; i < y.size(); ++i) {
                    err2 += double(y[i] - ref[i]) * (y[i] - ref[i]);
                    ref2 += double(ref[i]) * ref[i];
                }
                const std::string what = std::string(lc::quant_isa_name(isa)) + " " +
                                         lc::dtype_name(t) + ": " +
                                         std::to_string(std::sqrt(err2 / ref2));
                QVERIFY2(std::sqrt(err2 / ref2) < 1e-6, what.c_str());
            }
        }
    }

    void forcePortableReachesQuantizedKernels() {
        lc::cpu_matmul_force_portable(true);
        const QuantIsa in_use = lc::quant_isa_in_use();
        lc::cpu_matmul_force_portable(false);
        QCOMPARE(in_use, QuantIsa::Portable);
    }

    void rejectsPartialBlocks() {
        const QMatrix m = make_matrix(DType::Q4_K, 4, 512, 512, 0, 1);
        std::vector<float> x(600, 1.0f), y(8);
        lc::WeightMatrix w = m.matrix();
        w.cols = 300;  // not a whole number of 256-blocks
        lc::ThreadPool pool(1);
        QVERIFY_THROWS_EXCEPTION(lc::Error, lc::matmul(pool, w, x.data(), 600, y.data(), 4, 1));
        w.cols = 256;
        w.row_stride = 200;
        QVERIFY_THROWS_EXCEPTION(lc::Error, lc::matmul_serial(w, x.data(), 600, y.data(), 4, 1));
        std::vector<float> yt(512);
        QVERIFY_THROWS_EXCEPTION(lc::Error,
                                 lc::matmul_transposed_serial(m.matrix(), x.data(), yt.data()));
    }
};

QTEST_APPLESS_MAIN(TestCpuQuant)
#include "test_cpu_quant.moc"
