// CPU hot loops: the thread pool, the matrix products over F32/F16/BF16 weights (both the
// AVX2 and the portable kernels, against a double-precision reference), and the bandwidth
// probe. Weight padding, x padding and y padding are filled with NaN or sentinels, so a kernel
// that reads or writes past the width of a row is caught.
#include <QtTest>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/dtype.h"
#include "cpu/cpu_matmul.h"
#include "cpu/cpu_matmul_internal.h"
#include "cpu/membench.h"
#include "cpu/thread_pool.h"

// Counts heap allocations, to check that the hot paths make none.
namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
    return ::operator new(n);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}

namespace {

using lc::DType;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kYSentinel = -12345.0f;
constexpr double kTolerance = 1e-5;

// A weight matrix in raw bytes plus its exact values widened to f32 (the reference uses the
// widened values, so only the arithmetic is being checked, not the rounding to 16 bits).
struct TestMatrix {
    std::vector<uint8_t> bytes;  // rows x row_stride elements, starting at byte `offset`
    std::vector<float> values;   // rows x cols, widened
    DType dtype = DType::F32;
    int64_t rows = 0, cols = 0, row_stride = 0;
    size_t offset = 0;
    const void* view = nullptr;  // when set, the data (e.g. a row_block of a bigger matrix)

    lc::WeightMatrix matrix() const {
        return lc::WeightMatrix{view ? view : bytes.data() + offset, dtype, rows, cols, row_stride};
    }
    float value(int64_t r, int64_t c) const { return values[static_cast<size_t>(r * cols + c)]; }
};

uint16_t random_f16(std::mt19937& rng) {
    // Exponents 0..20: subnormals, small and moderate values (|v| < 64); never inf/NaN.
    std::uniform_int_distribution<int> exp_dist(0, 20), mant_dist(0, 1023), sign_dist(0, 1);
    int e = exp_dist(rng);
    if (e > 0 && e < 8) e += 8;  // keep most values near 1, a few subnormals
    return static_cast<uint16_t>((sign_dist(rng) << 15) | (e << 10) | mant_dist(rng));
}

// offset: bytes before the first element, to make the data unaligned.
TestMatrix make_matrix(DType dtype, int64_t rows, int64_t cols, int64_t row_stride, size_t offset,
                       uint32_t seed) {
    TestMatrix m;
    m.dtype = dtype;
    m.rows = rows;
    m.cols = cols;
    m.row_stride = row_stride;
    m.offset = offset;
    const size_t es = lc::dtype_size(dtype);
    m.bytes.assign(offset + static_cast<size_t>(rows * row_stride) * es + 64, 0xff);
    m.values.resize(static_cast<size_t>(rows * cols));
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < row_stride; ++c) {
            const bool pad = c >= cols;
            uint8_t* dst = m.bytes.data() + offset + static_cast<size_t>(r * row_stride + c) * es;
            float widened = 0;
            if (dtype == DType::F32) {
                widened = pad ? kNaN : dist(rng);
                std::memcpy(dst, &widened, 4);
            } else {
                uint16_t h;
                if (dtype == DType::BF16) {
                    h = pad ? uint16_t(0x7fc0) : lc::f32_to_bf16(dist(rng));
                    widened = lc::bf16_to_f32(h);
                } else {
                    h = pad ? uint16_t(0x7e00) : random_f16(rng);
                    widened = lc::f16_to_f32(h);
                }
                std::memcpy(dst, &h, 2);
            }
            if (!pad) m.values[static_cast<size_t>(r * cols + c)] = widened;
        }
    }
    return m;
}

// Tokens x width floats, `stride` apart, the padding NaN.
std::vector<float> make_x(int n_tokens, int64_t width, int64_t stride, uint32_t seed) {
    std::vector<float> x(static_cast<size_t>(n_tokens * stride) + 1, kNaN);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (int t = 0; t < n_tokens; ++t)
        for (int64_t c = 0; c < width; ++c)
            x[static_cast<size_t>(t * stride + c)] = dist(rng);
    return x;
}

// Checks y against the double reference; y padding must still hold the sentinel.
// Returns an empty string when all is well, else a description of the first failure.
std::string check_product(const TestMatrix& m, const std::vector<float>& x, int64_t x_stride,
                          const std::vector<float>& y, int64_t y_stride, int n_tokens) {
    for (int t = 0; t < n_tokens; ++t) {
        for (int64_t r = 0; r < y_stride; ++r) {
            const float got = y[static_cast<size_t>(t * y_stride + r)];
            if (r >= m.rows) {
                if (got != kYSentinel)
                    return "wrote past the row count at token " + std::to_string(t) + " row " +
                           std::to_string(r);
                continue;
            }
            double ref = 0, scale = 0;
            for (int64_t c = 0; c < m.cols; ++c) {
                const double p = double(m.value(r, c)) * double(x[size_t(t * x_stride + c)]);
                ref += p;
                scale += std::fabs(p);
            }
            const double err = std::fabs(double(got) - ref);
            if (!(err <= kTolerance * scale + 1e-30))
                return "token " + std::to_string(t) + " row " + std::to_string(r) + ": got " +
                       std::to_string(got) + " want " + std::to_string(ref) + " (scale " +
                       std::to_string(scale) + ")";
        }
    }
    return {};
}

std::vector<bool> paths() {
    // false: AVX2 (where supported), true: forced portable.
    if (lc::cpu_matmul_avx2_supported()) return {false, true};
    return {true};
}

struct PortableGuard {
    explicit PortableGuard(bool force) { lc::cpu_matmul_force_portable(force); }
    ~PortableGuard() { lc::cpu_matmul_force_portable(false); }
    PortableGuard(const PortableGuard&) = delete;
    PortableGuard& operator=(const PortableGuard&) = delete;
};

const char* path_name(bool portable) {
    return portable ? "portable" : "avx2";
}

// Runs matmul (threaded and serial) on m and checks the result.
void run_and_check(lc::ThreadPool& pool, const TestMatrix& m, int n_tokens, int64_t x_pad,
                   int64_t y_pad, const std::string& what) {
    const int64_t x_stride = m.cols + x_pad;
    const int64_t y_stride = m.rows + y_pad;
    const auto x = make_x(n_tokens, m.cols, x_stride, uint32_t(m.rows * 31 + m.cols + n_tokens));
    for (int threaded = 0; threaded < 2; ++threaded) {
        std::vector<float> y(static_cast<size_t>(n_tokens * y_stride), kYSentinel);
        if (threaded) {
            lc::matmul(pool, m.matrix(), x.data(), x_stride, y.data(), y_stride, n_tokens);
        } else {
            lc::matmul_serial(m.matrix(), x.data(), x_stride, y.data(), y_stride, n_tokens);
        }
        const std::string err = check_product(m, x, x_stride, y, y_stride, n_tokens);
        const std::string msg = what + (threaded ? " matmul: " : " matmul_serial: ") + err;
        QVERIFY2(err.empty(), msg.c_str());
    }
}

}  // namespace

// Stops the test function at the first failed product instead of reporting hundreds.
#define RUN_AND_CHECK(...)                      \
    do {                                        \
        run_and_check(__VA_ARGS__);             \
        if (QTest::currentTestFailed()) return; \
    } while (0)

class TestCpuOps : public QObject {
    Q_OBJECT

private slots:
    void matmulMatchesReference() {
        lc::ThreadPool pool(3);
        for (bool portable : paths()) {
            PortableGuard guard(portable);
            QCOMPARE(lc::cpu_has_avx2_fma(), !portable);
            for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
                for (int64_t rows : {1, 7, 33, 1000}) {
                    for (int64_t cols : {1, 3, 17, 64, 129, 2048}) {
                        // Unaligned by one element; F32 additionally by a non-multiple of 4.
                        const size_t offset = dt == DType::F32 ? 1 : 2;
                        const auto m =
                            make_matrix(dt, rows, cols, cols, offset, uint32_t(rows * 7919 + cols));
                        for (int n_tokens : {1, 3, 5, 9}) {
                            const std::string what =
                                std::string(path_name(portable)) + " " + lc::dtype_name(dt) + " " +
                                std::to_string(rows) + "x" + std::to_string(cols) + " t" +
                                std::to_string(n_tokens);
                            RUN_AND_CHECK(pool, m, n_tokens, 5, 3, what);
                        }
                    }
                }
            }
        }
    }

    // Prefill sizes: many tokens, token remainders of every kind, and wide rows whose x
    // does not fit one token panel (so the tokens are split into several panels).
    void matmulManyTokens() {
        lc::ThreadPool pool(2);
        struct Case {
            int64_t rows, cols;
            int n_tokens;
        };
        const Case cases[] = {{37, 5, 10},     {37, 1030, 13},  {37, 1030, 64}, {37, 2500, 70},
                              {37, 2500, 130}, {13, 40000, 40}, {25, 70000, 17}};
        for (bool portable : paths()) {
            PortableGuard guard(portable);
            for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
                for (const Case& c : cases) {
                    const auto m = make_matrix(dt, c.rows, c.cols, c.cols + 3, 0, uint32_t(c.cols));
                    const std::string what = std::string(path_name(portable)) + " " +
                                             lc::dtype_name(dt) + " " + std::to_string(c.rows) +
                                             "x" + std::to_string(c.cols) + " t" +
                                             std::to_string(c.n_tokens);
                    RUN_AND_CHECK(pool, m, c.n_tokens, 1, 2, what);
                }
            }
        }
    }

    // A block of rows and a block of columns inside a bigger tensor (row_stride > cols).
    void rowBlockSubMatrix() {
        lc::ThreadPool pool(2);
        for (bool portable : paths()) {
            PortableGuard guard(portable);
            for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
                const auto full = make_matrix(dt, 64, 257, 300, 0, 99);
                const lc::WeightMatrix block = full.matrix().row_block(5, 40);
                QCOMPARE(block.rows, int64_t(40));
                QCOMPARE(block.row_stride, int64_t(300));
                QCOMPARE(block.cols, int64_t(257));
                QCOMPARE(block.data, full.matrix().row(5));
                // The block as a TestMatrix: the reference values of rows 5..44, the data
                // the row_block view itself.
                TestMatrix sub;
                sub.dtype = dt;
                sub.rows = block.rows;
                sub.cols = block.cols;
                sub.row_stride = block.row_stride;
                sub.view = block.data;
                sub.values.assign(full.values.begin() + 5 * 257, full.values.begin() + 45 * 257);
                for (int n_tokens : {1, 4, 9, 20})
                    RUN_AND_CHECK(
                        pool, sub, n_tokens, 7, 1,
                        std::string(path_name(portable)) + " row block " + lc::dtype_name(dt));
            }
        }
    }

    void emptyColumnsGiveZeros() {
        lc::ThreadPool pool(2);
        for (bool portable : paths()) {
            PortableGuard guard(portable);
            const float w = 1.0f;
            const lc::WeightMatrix m{&w, DType::F32, 3, 0, 0};
            for (int n_tokens : {1, 20}) {
                std::vector<float> x(1, 1.0f), y(static_cast<size_t>(3 * n_tokens), kYSentinel);
                lc::matmul(pool, m, x.data(), 0, y.data(), 3, n_tokens);
                for (float v : y)
                    QCOMPARE(v, 0.0f);
            }
        }
    }

    void portableAndAvx2Agree() {
        if (!lc::cpu_matmul_avx2_supported()) QSKIP("this CPU has no AVX2/FMA/F16C");
        lc::ThreadPool pool(2);
        for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
            const auto m = make_matrix(dt, 301, 1027, 1030, 2, 5);
            for (int n_tokens : {1, 4, 7, 33}) {
                const auto x = make_x(n_tokens, 1027, 1027, 17);
                std::vector<float> ya(static_cast<size_t>(301 * n_tokens));
                std::vector<float> yp(ya.size());
                lc::matmul(pool, m.matrix(), x.data(), 1027, ya.data(), 301, n_tokens);
                {
                    PortableGuard guard(true);
                    lc::matmul(pool, m.matrix(), x.data(), 1027, yp.data(), 301, n_tokens);
                }
                for (int t = 0; t < n_tokens; ++t) {
                    for (int64_t r = 0; r < 301; ++r) {
                        double scale = 0;
                        for (int64_t c = 0; c < 1027; ++c)
                            scale += std::fabs(double(m.value(r, c)) * x[size_t(t * 1027 + c)]);
                        const size_t i = static_cast<size_t>(t * 301 + r);
                        QVERIFY2(std::fabs(double(ya[i]) - yp[i]) <= kTolerance * scale,
                                 qPrintable(QStringLiteral("%1 t%2 r%3: %4 vs %5")
                                                .arg(lc::dtype_name(dt))
                                                .arg(t)
                                                .arg(r)
                                                .arg(ya[i])
                                                .arg(yp[i])));
                    }
                }
            }
            // Widening must be bit-identical (including F16 subnormals).
            std::vector<float> wa(1027), wp(1027);
            lc::widen_row(m.matrix().row(3), dt, 1027, wa.data());
            {
                PortableGuard guard(true);
                lc::widen_row(m.matrix().row(3), dt, 1027, wp.data());
            }
            QCOMPARE(std::memcmp(wa.data(), wp.data(), wa.size() * 4), 0);
        }
    }

    void transposedMatchesReference() {
        for (bool portable : paths()) {
            PortableGuard guard(portable);
            for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
                for (int64_t rows : {1, 5, 33, 300}) {
                    for (int64_t cols : {1, 7, 64, 129}) {
                        const auto m =
                            make_matrix(dt, rows, cols, cols + 2, 2, uint32_t(rows * 13 + cols));
                        const auto x = make_x(1, rows, rows, 3);
                        std::vector<float> y(static_cast<size_t>(cols) + 1, kYSentinel);
                        lc::matmul_transposed_serial(m.matrix(), x.data(), y.data());
                        QCOMPARE(y[static_cast<size_t>(cols)], kYSentinel);
                        for (int64_t c = 0; c < cols; ++c) {
                            double ref = 0, scale = 0;
                            for (int64_t r = 0; r < rows; ++r) {
                                const double p = double(m.value(r, c)) * x[size_t(r)];
                                ref += p;
                                scale += std::fabs(p);
                            }
                            QVERIFY2(std::fabs(y[size_t(c)] - ref) <= kTolerance * scale + 1e-30,
                                     qPrintable(QStringLiteral("%1 %2 %3x%4 c%5: %6 vs %7")
                                                    .arg(path_name(portable))
                                                    .arg(lc::dtype_name(dt))
                                                    .arg(rows)
                                                    .arg(cols)
                                                    .arg(c)
                                                    .arg(y[size_t(c)])
                                                    .arg(ref)));
                        }
                    }
                }
            }
        }
    }

    void widenDotAxpy() {
        for (bool portable : paths()) {
            PortableGuard guard(portable);
            for (int64_t n : {0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 1000}) {
                for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
                    const auto m = make_matrix(dt, 1, n, n, 2, uint32_t(n));
                    std::vector<float> out(static_cast<size_t>(n) + 1, kYSentinel);
                    lc::widen_row(m.matrix().row(0), dt, n, out.data());
                    for (int64_t i = 0; i < n; ++i)
                        QCOMPARE(out[size_t(i)], m.value(0, i));
                    QCOMPARE(out[size_t(n)], kYSentinel);
                }
                const auto a = make_x(1, n, n, 1);
                const auto b = make_x(1, n, n, 2);
                double ref = 0, scale = 0;
                for (int64_t i = 0; i < n; ++i) {
                    ref += double(a[size_t(i)]) * b[size_t(i)];
                    scale += std::fabs(double(a[size_t(i)]) * b[size_t(i)]);
                }
                QVERIFY(std::fabs(lc::dot_f32(a.data(), b.data(), n) - ref) <=
                        kTolerance * scale + 1e-30);

                std::vector<float> y(b.begin(), b.end());
                y.back() = kYSentinel;
                lc::axpy_f32(0.75f, a.data(), y.data(), n);
                for (int64_t i = 0; i < n; ++i) {
                    const double want = double(b[size_t(i)]) + 0.75 * a[size_t(i)];
                    QVERIFY(std::fabs(y[size_t(i)] - want) <= 1e-6);
                }
                QCOMPARE(y.back(), kYSentinel);
            }
        }
    }

    void hotPathsDoNotAllocate() {
        lc::ThreadPool pool(3);
        const auto m = make_matrix(DType::BF16, 200, 300, 300, 0, 1);
        const auto x = make_x(20, 300, 300, 1);
        std::vector<float> y(200 * 20), yt(300);
        std::atomic<int64_t> sum{0};
        lc::matmul(pool, m.matrix(), x.data(), 300, y.data(), 200, 1);  // warm up

        const long before = g_allocations.load();
        for (int i = 0; i < 100; ++i) {
            pool.parallel_for(1000, 1, [&](int64_t b, int64_t e) { sum += e - b; });
            lc::matmul(pool, m.matrix(), x.data(), 300, y.data(), 200, 1);
            lc::matmul(pool, m.matrix(), x.data(), 300, y.data(), 200, 20);
            lc::matmul_serial(m.matrix(), x.data(), 300, y.data(), 200, 5);
            lc::matmul_transposed_serial(m.matrix(), x.data(), yt.data());
        }
        const long after = g_allocations.load();
        QCOMPARE(after - before, 0L);
        QCOMPARE(sum.load(), int64_t(100 * 1000));
    }

    void threadPoolCoversEveryIndexOnce() {
        for (int threads : {1, 2, 3, 4, 8}) {
            lc::ThreadPool pool(threads);
            QCOMPARE(pool.size(), threads);
            for (int64_t n : {1, 2, 3, 5, 16, 17, 100, 1000, 4097}) {
                for (int64_t grain : {1, 2, 7, 64, 1000, 5000}) {
                    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
                    std::atomic<bool> bad_range{false};
                    pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
                        if (b < 0 || e > n || b >= e || (e - b < grain && e != n)) bad_range = true;
                        for (int64_t i = b; i < e; ++i)
                            hits[size_t(i)].fetch_add(1);
                    });
                    QVERIFY2(!bad_range, qPrintable(QStringLiteral("threads %1 n %2 grain %3")
                                                        .arg(threads)
                                                        .arg(n)
                                                        .arg(grain)));
                    for (int64_t i = 0; i < n; ++i)
                        QCOMPARE(hits[size_t(i)].load(), 1);
                }
            }
            // Nothing to do: fn is not called.
            bool called = false;
            pool.parallel_for(0, 1, [&](int64_t, int64_t) { called = true; });
            QVERIFY(!called);
        }
    }

    // 10000 jobs in a row, tiny ones (the caller may do them alone) and ones with some work
    // per index (the workers join in), each checked for the exact sum.
    void threadPoolRepeatedQuickly() {
        for (int threads : {2, 4}) {
            lc::ThreadPool pool(threads);
            for (int work : {0, 200}) {
                const auto caller = std::this_thread::get_id();
                std::atomic<int64_t> total{0}, on_workers{0};
                const auto start = std::chrono::steady_clock::now();
                int64_t want = 0;
                for (int rep = 0; rep < 10000; ++rep) {
                    const int64_t n = 1 + rep % 97;
                    want += n * (n - 1) / 2;
                    pool.parallel_for(n, 1, [&](int64_t b, int64_t e) {
                        int64_t s = 0;
                        for (int64_t i = b; i < e; ++i) {
                            volatile int64_t spin = 0;
                            for (int k = 0; k < work; ++k)
                                spin = spin + k;
                            s += i;
                        }
                        total += s;
                        if (std::this_thread::get_id() != caller) on_workers += e - b;
                    });
                }
                const double seconds =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                QCOMPARE(total.load(), want);
                qInfo(
                    "%d threads, work %d: 10000 parallel_for in %.3f s, %.0f%% of indices on "
                    "workers",
                    threads, work, seconds, 100.0 * double(on_workers.load()) / (10000 * 49));
                QVERIFY2(seconds < 30, "parallel_for is far too slow");
            }
        }
    }

    void threadPoolUsesWorkers() {
        lc::ThreadPool pool(2);
        const auto caller = std::this_thread::get_id();
        std::atomic<int> on_worker{0};
        // Slow chunks so that the worker surely takes some.
        for (int rep = 0; rep < 20 && on_worker.load() == 0; ++rep) {
            pool.parallel_for(8, 1, [&](int64_t, int64_t) {
                if (std::this_thread::get_id() != caller) ++on_worker;
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            });
        }
        QVERIFY(on_worker.load() > 0);

        // One thread (or n <= grain): inline on the caller.
        lc::ThreadPool single(1);
        single.parallel_for(100, 1, [&](int64_t b, int64_t e) {
            QCOMPARE(std::this_thread::get_id(), caller);
            QCOMPARE(b, int64_t(0));
            QCOMPARE(e, int64_t(100));
        });
        pool.parallel_for(10, 10, [&](int64_t b, int64_t e) {
            QCOMPARE(std::this_thread::get_id(), caller);
            QCOMPARE(e - b, int64_t(10));
        });
        QVERIFY(lc::ThreadPool(0).size() >= 1);
    }

    void threadPoolCallerExceptionPropagates() {
        lc::ThreadPool pool(2);
        const auto caller = std::this_thread::get_id();
        bool thrown = false, caught = false;
        try {
            pool.parallel_for(64, 1, [&](int64_t, int64_t) {
                if (std::this_thread::get_id() == caller) {
                    if (!thrown) {
                        thrown = true;
                        throw std::runtime_error("boom");
                    }
                } else {
                    std::this_thread::sleep_for(std::chrono::microseconds(200));
                }
            });
        } catch (const std::runtime_error&) {
            caught = true;
        }
        QCOMPARE(caught, thrown);
        // Still usable afterwards.
        std::atomic<int64_t> count{0};
        pool.parallel_for(1000, 1, [&](int64_t b, int64_t e) { count += e - b; });
        QCOMPARE(count.load(), int64_t(1000));
    }

    void threadPoolDestructorJoins() {
        for (int i = 0; i < 200; ++i) {
            lc::ThreadPool pool(1 + i % 4);
            if (i % 3 != 0) {
                std::atomic<int64_t> count{0};
                pool.parallel_for(100, 1, [&](int64_t b, int64_t e) { count += e - b; });
                QCOMPARE(count.load(), int64_t(100));
            }
            if (i % 5 == 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
    }

    void readBandwidth() {
        lc::ThreadPool pool(2);
        const size_t bytes = size_t(64) << 20;
        const lc::ReadBandwidth bw = lc::measure_read_bandwidth(pool, bytes, 2);
        QCOMPARE(bw.buffer_bytes, bytes);
        QCOMPARE(bw.repetitions, 2);
        QVERIFY(bw.bytes_per_second > 1e8);  // 0.1 GB/s: anything real is far above
        qInfo("read bandwidth (64 MiB, 2 threads): %.1f GB/s", bw.bytes_per_second / 1e9);
        // Tiny and odd sizes work too.
        const lc::ReadBandwidth tiny = lc::measure_read_bandwidth(pool, 1000, 1);
        QCOMPARE(tiny.buffer_bytes, size_t(896));
        QVERIFY(tiny.bytes_per_second > 0);
    }
};

QTEST_APPLESS_MAIN(TestCpuOps)
#include "test_cpu_ops.moc"
