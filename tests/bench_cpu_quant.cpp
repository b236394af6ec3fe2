// Speed of the products on quantized weights (cpu/cpu_quant.h through lc::matmul), per type and
// shape: decode (one token) as GB/s of weights read, prefill (many tokens) as GFLOP/s
// (2 * rows * cols * tokens per product). Not a test: run it by hand, e.g. on the 16-core host
//   bench_cpu_quant --threads 16
//   bench_cpu_quant --threads 16 --isa avx2 --types Q4_K --shapes 1408x2048 --tokens 1,64
// Every call reads a different copy of the matrix (enough copies for --footprint-mb), so decode
// measures memory, not a cache that already holds the matrix.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/quant_blocks.h"
#include "cpu/cpu_matmul.h"
#include "cpu/cpu_quant.h"
#include "cpu/thread_pool.h"
#include "quant_reference.h"

namespace {

using lc::DType;
using namespace lc::quant;

struct Options {
    int threads = 0;
    std::string isa;
    std::vector<std::string> types{"Q4_K", "Q6_K", "Q8_0", "Q5_0", "Q4_0",
                                   "Q5_K", "Q3_K", "Q2_K", "Q4_1", "Q5_1"};
    // DeepSeek-V2-Lite: attention 2048x2048, an expert's gate/up 1408x2048 and down 2048x1408,
    // the dense MLP 10944x2048, the output head 102400x2048.
    std::vector<std::string> shapes{"2048x2048", "1408x2048", "2048x1408", "10944x2048",
                                    "102400x2048"};
    std::vector<int> tokens{1, 64, 256, 512};
    int64_t footprint_mb = 1024;
    double seconds = 0.5;
    int batch = 0;  // --moe-batch E: also time E experts' gate and up products, batched or not
};

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

DType parse_type(const std::string& s) {
    for (int i = 0; i <= static_cast<int>(DType::Other); ++i)
        if (s == lc::dtype_name(static_cast<DType>(i))) return static_cast<DType>(i);
    return DType::Other;
}

// Offsets of the f16 scale fields in a block (everything else may be any bytes).
void fill_random(DType t, uint8_t* data, int64_t bytes, std::mt19937& rng) {
    for (int64_t i = 0; i < bytes; ++i)
        data[i] = static_cast<uint8_t>(rng());
    const int64_t bb = lc::dtype_block_bytes(t);
    for (int64_t b = 0; b + bb <= bytes; b += bb)
        for (const lc_test::HalfField& field : lc_test::half_fields(t)) {
            const size_t off = static_cast<size_t>(field.offset);
            const uint16_t h = static_cast<uint16_t>(0x2000 | (rng() & 0x3ff));  // ~0.008
            std::memcpy(data + b + off, &h, 2);
        }
}

double now() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Seconds per product, cycling through the copies.
double time_products(lc::ThreadPool& pool, const std::vector<lc::WeightMatrix>& copies,
                     const float* x, float* y, int n, double seconds) {
    const lc::WeightMatrix& w0 = copies[0];
    size_t next = 0;
    auto one = [&] {
        lc::matmul(pool, copies[next], x, w0.cols, y, w0.rows, n);
        next = (next + 1) % copies.size();
    };
    for (size_t i = 0; i < std::min<size_t>(copies.size(), 3); ++i)
        one();  // warm up threads and the activation buffer
    int64_t calls = 0;
    const double t0 = now();
    double t = t0;
    while (t - t0 < seconds || calls < 3) {
        one();
        ++calls;
        t = now();
    }
    return (t - t0) / static_cast<double>(calls);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--threads") {
            o.threads = std::atoi(value().c_str());
        } else if (a == "--isa") {
            o.isa = value();
        } else if (a == "--types") {
            o.types = split(value());
        } else if (a == "--shapes") {
            o.shapes = split(value());
        } else if (a == "--tokens") {
            o.tokens.clear();
            for (const auto& s : split(value()))
                o.tokens.push_back(std::atoi(s.c_str()));
        } else if (a == "--footprint-mb") {
            o.footprint_mb = std::atoll(value().c_str());
        } else if (a == "--seconds") {
            o.seconds = std::atof(value().c_str());
        } else if (a == "--moe-batch") {
            o.batch = std::atoi(value().c_str());
        } else {
            std::fprintf(stderr,
                         "usage: %s [--threads N] [--isa portable|avx2|avx512] [--types Q4_K,...] "
                         "[--shapes ROWSxCOLS,...] [--tokens 1,64,...] [--footprint-mb MB] "
                         "[--seconds S] [--moe-batch EXPERTS]\n",
                         argv[0]);
            return 2;
        }
    }
    if (o.isa == "portable") {
        lc::quant_set_isa_limit(lc::QuantIsa::Portable);
    } else if (o.isa == "avx2") {
        lc::quant_set_isa_limit(lc::QuantIsa::Avx2);
    }
    lc::ThreadPool pool(o.threads);
    std::printf("kernels: %s, threads: %d\n", lc::quant_isa_name(lc::quant_isa_in_use()),
                pool.size());
    std::printf("%-5s %-12s %8s %10s %10s", "type", "rows x cols", "MB", "t1 GB/s", "t1 us");
    for (int n : o.tokens)
        if (n > 1) std::printf("  t%-3d GF/s", n);
    std::printf("\n");

    std::mt19937 rng(1);
    const int max_tokens = *std::max_element(o.tokens.begin(), o.tokens.end());
    for (const std::string& type_name : o.types) {
        const DType t = parse_type(type_name);
        if (!lc::dtype_is_quantized(t)) {
            std::fprintf(stderr, "not a quantized type: %s\n", type_name.c_str());
            return 2;
        }
        for (const std::string& shape : o.shapes) {
            const int64_t rows = std::atoll(shape.c_str());
            const size_t xpos = shape.find('x');
            const int64_t cols =
                xpos == std::string::npos ? 0 : std::atoll(shape.c_str() + xpos + 1);
            if (rows <= 0 || cols <= 0 || cols % lc::dtype_block_elems(t) != 0) continue;
            const int64_t bytes = lc::dtype_row_bytes(t, cols) * rows;
            const int64_t n_copies =
                std::max<int64_t>(1, (o.footprint_mb << 20) / std::max<int64_t>(bytes, 1));
            std::vector<uint8_t> storage(static_cast<size_t>(bytes * n_copies + 64));
            fill_random(t, storage.data(), bytes, rng);
            for (int64_t c = 1; c < n_copies; ++c)
                std::memcpy(storage.data() + c * bytes, storage.data(), static_cast<size_t>(bytes));
            std::vector<lc::WeightMatrix> copies;
            for (int64_t c = 0; c < n_copies; ++c)
                copies.push_back(lc::WeightMatrix{storage.data() + c * bytes, t, rows, cols, cols});
            std::vector<float> x(static_cast<size_t>(cols * max_tokens));
            std::normal_distribution<float> normal(0.0f, 1.0f);
            for (auto& v : x)
                v = normal(rng);
            std::vector<float> y(static_cast<size_t>(rows * max_tokens));

            std::printf("%-5s %-12s %8.1f", type_name.c_str(), shape.c_str(),
                        static_cast<double>(bytes) / 1e6);
            for (int n : o.tokens) {
                const double s = time_products(pool, copies, x.data(), y.data(), n, o.seconds);
                if (n == 1) {
                    std::printf(" %10.1f %10.1f", static_cast<double>(bytes) / s / 1e9, s * 1e6);
                } else {
                    std::printf(" %10.0f", 2.0 * static_cast<double>(rows * cols) * n / s / 1e9);
                }
                std::fflush(stdout);
            }
            std::printf("\n");
        }
    }
    if (o.batch > 0) {
        // An MoE layer's decode: the gate and up projections of o.batch experts
        // (1408 x 2048 each), as separate products and as one batch.
        const DType t = parse_type(o.types.front());
        const int64_t rows = 1408, cols = 2048;
        const int n_mats = 2 * o.batch;
        const int64_t bytes = lc::dtype_row_bytes(t, cols) * rows;
        const int64_t sets = std::max<int64_t>(1, (o.footprint_mb << 20) / (bytes * n_mats));
        std::vector<uint8_t> storage(static_cast<size_t>(bytes * n_mats * sets));
        fill_random(t, storage.data(), bytes, rng);
        for (int64_t c = 1; c < n_mats * sets; ++c)
            std::memcpy(storage.data() + c * bytes, storage.data(), static_cast<size_t>(bytes));
        std::vector<lc::WeightMatrix> ws;
        for (int64_t c = 0; c < n_mats * sets; ++c)
            ws.push_back(lc::WeightMatrix{storage.data() + c * bytes, t, rows, cols, cols});
        std::vector<float> x(static_cast<size_t>(cols), 0.5f),
            y(static_cast<size_t>(rows * n_mats));
        std::vector<lc::MatmulJob> jobs(static_cast<size_t>(n_mats));
        for (int mode = 0; mode < 2; ++mode) {
            int64_t set = 0, calls = 0;
            auto one = [&] {
                for (int m = 0; m < n_mats; ++m)
                    jobs[static_cast<size_t>(m)] = {&ws[static_cast<size_t>(set * n_mats + m)],
                                                    x.data(),
                                                    cols,
                                                    y.data() + m * rows,
                                                    rows,
                                                    1};
                if (mode == 0) {
                    for (const auto& j : jobs)
                        lc::matmul(pool, *j.w, j.x, j.x_stride, j.y, j.y_stride, 1);
                } else {
                    lc::matmul_batch(pool, jobs.data(), n_mats);
                }
                set = (set + 1) % sets;
            };
            for (int i = 0; i < 3; ++i)
                one();
            const double t0 = now();
            double t1 = t0;
            while (t1 - t0 < o.seconds || calls < 3) {
                one();
                ++calls;
                t1 = now();
            }
            const double s = (t1 - t0) / static_cast<double>(calls);
            std::printf("%s, %d products of 1408x2048, one token, %s: %.1f us (%.1f GB/s)\n",
                        lc::dtype_name(t), n_mats, mode == 0 ? "one by one" : "batched", s * 1e6,
                        static_cast<double>(bytes * n_mats) / s / 1e9);
        }
    }
    return 0;
}
