// The CUDA backend against the CPU reference: every op on random data (odd sizes, page
// boundaries, several head counts and dtypes), the whole model on every fixture (decode steps
// replayed from a CUDA graph included), and the fixtures against transformers' logits.
// Quantized (GGUF) weights are checked against double products on formats/dequant.h's weights
// within the rounding their kernels may add (quant_reference.h). Skipped where no GPU is
// usable (CI).
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <random>

#include "base/dtype.h"
#include "cli_runner.h"
#include "cpu/cpu_backend.h"
#include "engine/backend_factory.h"
#include "engine/generator.h"
#include "engine/model.h"
#include "engine/moe_routing.h"
#include "formats/npy.h"
#include "quant_reference.h"
#include "session/open_model.h"

using namespace lc;

namespace {

std::mt19937 rng(1234);

std::vector<float> randn(size_t n, float scale = 1.0f) {
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (float& x : v)
        x = dist(rng);
    return v;
}

double rel_l2(const std::vector<float>& got, const std::vector<float>& want) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        if (!std::isfinite(got[i])) return INFINITY;
        diff += double(got[i] - want[i]) * (got[i] - want[i]);
        norm += double(want[i]) * want[i];
    }
    return std::sqrt(diff / std::max(norm, 1e-30));
}

uint16_t to_f16_bits(float v) {
    const _Float16 h = static_cast<_Float16>(v);
    uint16_t bits;
    std::memcpy(&bits, &h, 2);
    return bits;
}

// Host storage of a weight matrix in one dtype, with its WeightMatrix view.
struct HostMatrix {
    std::vector<uint8_t> bytes;
    WeightMatrix view;
    HostMatrix() = default;
    HostMatrix(int64_t rows, int64_t cols, DType dtype, float scale = 0.1f) {
        const std::vector<float> v = randn(rows * cols, scale);
        bytes.resize(v.size() * dtype_size(dtype));
        for (size_t i = 0; i < v.size(); ++i) {
            if (dtype == DType::F32) {
                std::memcpy(&bytes[i * 4], &v[i], 4);
            } else {
                const uint16_t h = dtype == DType::BF16 ? f32_to_bf16(v[i]) : to_f16_bits(v[i]);
                std::memcpy(&bytes[i * 2], &h, 2);
            }
        }
        view = WeightMatrix{bytes.data(), dtype, rows, cols, cols};
    }
};

// Copies host data into a backend buffer.
float* put(Backend& be, const std::vector<float>& v) {
    float* p = be.alloc(v.size());
    be.to_backend(v.data(), p, v.size());
    return p;
}
std::vector<float> get(Backend& be, const float* p, size_t n) {
    std::vector<float> v(n);
    be.to_host(p, v.data(), n);
    return v;
}

ModelConfig attention_config(int heads, int d_nope, int d_rope, int d_v, int d_c) {
    ModelConfig c;
    c.vocab_size = 64;
    c.hidden_size = 64;
    c.num_hidden_layers = 2;
    c.num_attention_heads = heads;
    c.max_position_embeddings = 4096;
    c.kv_lora_rank = d_c;
    c.qk_nope_head_dim = d_nope;
    c.qk_rope_head_dim = d_rope;
    c.v_head_dim = d_v;
    c.rope.type = RopeType::Yarn;
    c.rope.theta = 10000;
    c.rope.factor = 40;
    c.rope.original_max_position_embeddings = 128;
    c.rope.beta_fast = 32;
    c.rope.beta_slow = 1;
    c.rope.mscale = 0.707;
    c.rope.mscale_all_dim = 0.707;
    return c;
}

std::unique_ptr<Backend> gpu_backend() {
    BackendChoice choice = make_backend(Device::Cuda, 1);
    return std::move(choice.backend);
}

QJsonObject read_ref(const QString& fixture) {
    QFile f(QString(LC_FIXTURES_DIR) + "/" + fixture + "/ref.json");
    if (!f.open(QIODevice::ReadOnly)) return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}
QString model_dir(const QString& fixture, const QJsonObject& ref) {
    if (ref.contains("model_dir"))
        return QString(LC_SOURCE_DIR) + "/" + ref["model_dir"].toString();
    return QString(LC_FIXTURES_DIR) + "/" + fixture;
}
QStringList fixtures() {
    return {"v2_moe", "v2_group", "v3_yarn", "dense", "bundled_model", "glm4_moe_lite"};
}
QString id_list(const QJsonArray& ids) {
    QStringList parts;
    for (const auto& v : ids)
        parts << QString::number(v.toInt());
    return parts.join(',');
}

// A plain matrix's weights as floats (HostMatrix keeps only its bytes).
std::vector<float> values_of(const HostMatrix& m) {
    std::vector<float> v(static_cast<size_t>(m.view.rows * m.view.cols));
    for (size_t i = 0; i < v.size(); ++i)
        v[i] = load_as_f32(m.bytes.data(), m.view.dtype, i);
    return v;
}

// Which kernel a quantized product of n tokens takes (for the messages).
const char* quant_kernel(int n) {
    return n <= 8 ? "quant_gemv (8-bit x)" : "quant_gemm (F16 weights)";
}

}  // namespace

class TestCudaBackend : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        std::string why;
        if (!gpu_available(&why)) QSKIP(qPrintable(QString::fromStdString(why)));
    }

    // ---- ops ----------------------------------------------------------------------------------
    void matmul_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("cols");
        QTest::addColumn<int>("tokens");
        for (DType t : {DType::BF16, DType::F16, DType::F32})
            for (int n : {1, 3, 8, 9, 70})
                for (auto [r, c] : {std::pair{67, 131}, std::pair{256, 512}, std::pair{1000, 2048}})
                    QTest::newRow(qPrintable(
                        QString("%1 %2x%3 n=%4").arg(dtype_name(t)).arg(r).arg(c).arg(n)))
                        << int(t) << r << c << n;
    }
    void matmul() {
        QFETCH(int, dtype);
        QFETCH(int, rows);
        QFETCH(int, cols);
        QFETCH(int, tokens);
        const DType t = static_cast<DType>(dtype);
        auto cpu = make_cpu_backend(2);
        auto gpu = gpu_backend();
        ModelConfig c = attention_config(16, 16, 16, 16, 64);
        HostMatrix a(rows, cols, t), b(rows, cols, t), down(cols, rows, t);
        ModelWeights w;
        w.layers.resize(1);
        w.layers[0].q_proj = a.view;
        w.layers[0].o_proj = b.view;
        w.layers[0].kv_b_proj = down.view;
        gpu->upload(w, c, 128);
        const std::vector<float> x = randn(size_t(tokens) * cols);
        const std::vector<float> y0 = randn(size_t(tokens) * rows);
        float* gx = put(*gpu, x);
        float* gy = put(*gpu, y0);
        // y = A x
        std::vector<float> want(y0.size());
        cpu->matmul(a.view, x.data(), cols, want.data(), rows, tokens);
        gpu->matmul(w.layers[0].q_proj, gx, cols, gy, rows, tokens);
        const double tol = 1e-4;  // f32 accumulation; prefill splits x into two bf16/f16 parts
        QVERIFY2(rel_l2(get(*gpu, gy, y0.size()), want) < tol, "matmul");
        // y += A x
        std::vector<float> acc = y0;
        cpu->matmul_add(a.view, x.data(), cols, acc.data(), rows, tokens);
        gpu->to_backend(y0.data(), gy, y0.size());
        gpu->matmul_add(w.layers[0].q_proj, gx, cols, gy, rows, tokens);
        QVERIFY2(rel_l2(get(*gpu, gy, y0.size()), acc) < tol, "matmul_add");
        // h = silu(A x) * (B x)
        cpu->swiglu(a.view, b.view, x.data(), cols, want.data(), rows, tokens);
        gpu->swiglu(w.layers[0].q_proj, w.layers[0].o_proj, gx, cols, gy, rows, tokens);
        QVERIFY2(rel_l2(get(*gpu, gy, y0.size()), want) < 2 * tol, "swiglu");
    }

    // RMSNorm fused with several products (plain, SwiGLU, accumulating), as decode uses it.
    void project_data() {
        QTest::addColumn<int>("tokens");
        QTest::addColumn<int>("cols");
        for (int n : {1, 3, 8, 20})
            for (int cols : {2048, 264, 100})
                QTest::newRow(qPrintable(QString("n%1 cols%2").arg(n).arg(cols))) << n << cols;
    }
    void project() {
        QFETCH(int, tokens);
        QFETCH(int, cols);
        auto cpu = make_cpu_backend(2);
        auto gpu = gpu_backend();
        ModelConfig c = attention_config(16, 16, 16, 16, 64);
        HostMatrix a(300, cols, DType::BF16), g(77, cols, DType::BF16), u(77, cols, DType::BF16),
            b(64, cols, DType::BF16);
        ModelWeights w;
        w.layers.resize(1);
        w.layers[0].q_proj = a.view;
        w.layers[0].o_proj = g.view;
        w.layers[0].kv_b_proj = u.view;
        w.layers[0].router = b.view;
        gpu->upload(w, c, 128);
        const std::vector<float> x = randn(size_t(tokens) * cols);
        const std::vector<float> norm = randn(cols);
        const std::vector<float> acc0 = randn(size_t(tokens) * 64);
        std::vector<float> ya(tokens * 300), yg(tokens * 77), yb = acc0, xn(x.size());
        const Projection host[] = {{&a.view, nullptr, ya.data(), 300, false},
                                   {&g.view, &u.view, yg.data(), 77, false},
                                   {&b.view, nullptr, yb.data(), 64, true}};
        cpu->project(x.data(), cols, norm.data(), 1e-6f, xn.data(), cols, host, tokens);
        float* gx = put(*gpu, x);
        float* gn = put(*gpu, norm);
        float* gxn = gpu->alloc(x.size());
        float* ga = gpu->alloc(ya.size());
        float* gg = gpu->alloc(yg.size());
        float* gb = put(*gpu, acc0);
        const Projection dev[] = {{&w.layers[0].q_proj, nullptr, ga, 300, false},
                                  {&w.layers[0].o_proj, &w.layers[0].kv_b_proj, gg, 77, false},
                                  {&w.layers[0].router, nullptr, gb, 64, true}};
        gpu->project(gx, cols, gn, 1e-6f, gxn, cols, dev, tokens);
        QVERIFY2(rel_l2(get(*gpu, gxn, xn.size()), xn) < 1e-5, "normed x");
        QVERIFY2(rel_l2(get(*gpu, ga, ya.size()), ya) < 1e-4, "plain");
        QVERIFY2(rel_l2(get(*gpu, gg, yg.size()), yg) < 1e-4, "swiglu");
        QVERIFY2(rel_l2(get(*gpu, gb, yb.size()), yb) < 1e-4, "accumulate");
    }

    void norm_and_rope() {
        auto cpu = make_cpu_backend(2);
        auto gpu = gpu_backend();
        ModelConfig c = attention_config(20, 32, 64, 16, 512);
        ModelWeights w;
        w.layers.resize(1);
        gpu->upload(w, c, 128);
        Rope rope(c);
        for (int dim : {7, 2048, 5000}) {
            const int n = 5;
            const std::vector<float> x = randn(size_t(n) * dim);
            std::vector<float> weight = randn(dim);
            std::vector<float> want(x.size());
            cpu->rms_norm(x.data(), dim, weight.data(), 1e-6f, want.data(), dim, n, dim);
            float* gx = put(*gpu, x);
            float* gw = put(*gpu, weight);
            gpu->rms_norm(gx, dim, gw, 1e-6f, gx, dim, n, dim);  // in place
            QVERIFY2(rel_l2(get(*gpu, gx, x.size()), want) < 1e-5, "rms_norm");
        }
        // q: [n, heads, d_nope + d_rope], positions from 3000 on (YaRN's long range).
        const int n = 9, qk = c.qk_head_dim(), heads = c.num_attention_heads;
        std::vector<float> q = randn(size_t(n) * heads * qk);
        float* gq = put(*gpu, q);
        LatentCache cache(c, 4096, gpu->cache_pages());
        cache.reserve(3000 + n);
        std::vector<int> ids(n, 0);
        gpu->begin_chunk(cache, 3000, ids.data(), n);
        cpu->rope(q.data(), heads * qk, heads, qk, c.qk_nope_head_dim, 3000, n, rope);
        gpu->rope(gq, heads * qk, heads, qk, c.qk_nope_head_dim, 3000, n, rope);
        QVERIFY2(rel_l2(get(*gpu, gq, q.size()), q) < 1e-5, "rope");
    }

    void attention_data() {
        QTest::addColumn<int>("heads");
        QTest::addColumn<int>("d_c");
        QTest::addColumn<int>("d_rope");
        QTest::addColumn<int>("context");
        QTest::addColumn<int>("tokens");
        for (auto [h, dc, dr] : {std::tuple{16, 512, 64}, std::tuple{20, 512, 64},
                                 std::tuple{8, 64, 16}, std::tuple{4, 48, 8}})
            for (auto [ctx, n] :
                 {std::pair{1, 1}, std::pair{63, 1}, std::pair{64, 1}, std::pair{65, 1},
                  std::pair{1000, 1}, std::pair{130, 7}, std::pair{0, 70}})
                QTest::newRow(qPrintable(
                    QString("h%1 dc%2 r%3 ctx%4 n%5").arg(h).arg(dc).arg(dr).arg(ctx).arg(n)))
                    << h << dc << dr << ctx << n;
    }
    // The paged bf16 cache, absorbed (tensor cores or the scalar kernel) and naive, against
    // the CPU's absorbed attention over the same (bf16-representable) rows.
    void attention() {
        QFETCH(int, heads);
        QFETCH(int, d_c);
        QFETCH(int, d_rope);
        QFETCH(int, context);
        QFETCH(int, tokens);
        const int d_nope = 32, d_v = 24, layer = 1;
        ModelConfig c = attention_config(heads, d_nope, d_rope, d_v, d_c);
        auto cpu = make_cpu_backend(2);
        auto gpu = gpu_backend();
        HostMatrix kv_b(int64_t(heads) * (d_nope + d_v), d_c, DType::BF16);
        ModelWeights w;
        w.layers.resize(2);
        w.layers[1].kv_b_proj = kv_b.view;
        gpu->upload(w, c, 128);

        const int total = context + tokens;
        const int width = d_c + d_rope;
        std::vector<float> rows = randn(size_t(total) * width);
        for (float& v : rows)
            v = bf16_to_f32(f32_to_bf16(v));
        LatentCache cpu_cache(c, 4096, cpu->cache_pages());
        LatentCache gpu_cache(c, 4096, gpu->cache_pages());
        for (LatentCache* cache : {&cpu_cache, &gpu_cache}) {
            cache->reserve(total);
            for (int l = 0; l < 2; ++l)
                cache->write_rows(l, 0, total, rows.data());
        }
        const int qk = d_nope + d_rope;
        std::vector<float> q = randn(size_t(tokens) * heads * qk);
        std::vector<int> ids(tokens, 0);
        gpu->begin_chunk(gpu_cache, context, ids.data(), tokens);

        AttentionArgs a;
        a.layer = layer;
        a.first_position = context;
        a.n_tokens = tokens;
        a.n_heads = heads;
        a.d_nope = d_nope;
        a.d_rope = d_rope;
        a.d_v = d_v;
        a.d_c = d_c;
        a.scale = 1.0f / std::sqrt(float(qk));
        std::vector<float> want(size_t(tokens) * heads * d_v);
        a.q = q.data();
        a.kv_b = &kv_b.view;
        a.out = want.data();
        cpu->attention(AttentionMode::Absorbed, cpu_cache, a);

        a.q = put(*gpu, q);
        a.kv_b = &w.layers[1].kv_b_proj;
        a.out = gpu->alloc(want.size());
        for (AttentionMode mode : {AttentionMode::Absorbed, AttentionMode::Naive}) {
            gpu->attention(mode, gpu_cache, a);
            const double err = rel_l2(get(*gpu, a.out, want.size()), want);
            qInfo("%s: relative L2 %.3g", mode == AttentionMode::Absorbed ? "absorbed" : "naive",
                  err);
            QVERIFY2(err < 1e-2, qPrintable(QString("relative L2 %1").arg(err)));
        }
    }

    void moe_data() {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<int>("tokens");
        for (const char* kind : {"v2_greedy", "v2_group", "v3_noaux"})
            for (int n : {1, 5, 40})  // 1: the decode path (router kernel routes)
                QTest::newRow(qPrintable(QString("%1 n%2").arg(kind).arg(n))) << kind << n;
    }
    void moe() {
        QFETCH(QString, kind);
        QFETCH(int, tokens);
        ModelConfig c = attention_config(16, 16, 16, 16, 64);
        c.hidden_size = 264;
        c.moe_intermediate_size = 72;
        c.n_routed_experts = 16;
        c.num_experts_per_tok = 4;
        c.routed_scaling_factor = 2.5;
        if (kind != "v2_greedy") {
            c.n_group = 4;
            c.topk_group = 2;
        }
        c.topk_method = kind == "v2_group"   ? TopkMethod::GroupLimitedGreedy
                        : kind == "v3_noaux" ? TopkMethod::NoauxTc
                                             : TopkMethod::Greedy;
        if (kind == "v3_noaux") {
            c.model_type = ModelType::DeepseekV3;
            c.scoring_func = ScoringFunc::Sigmoid;
            c.norm_topk_prob = true;
        }
        auto cpu = make_cpu_backend(2);
        auto gpu = gpu_backend();
        std::vector<HostMatrix> storage;
        ModelWeights host;
        host.layers.resize(1);
        LayerWeights& L = host.layers[0];
        L.is_moe = true;
        storage.reserve(3 * c.n_routed_experts + 4);
        for (int e = 0; e < c.n_routed_experts; ++e) {
            FeedForwardWeights f;
            storage.emplace_back(c.moe_intermediate_size, c.hidden_size, DType::BF16);
            f.gate = storage.back().view;
            storage.emplace_back(c.moe_intermediate_size, c.hidden_size, DType::BF16);
            f.up = storage.back().view;
            storage.emplace_back(c.hidden_size, c.moe_intermediate_size, DType::BF16);
            f.down = storage.back().view;
            f.intermediate = c.moe_intermediate_size;
            L.experts.push_back(f);
        }
        if (kind == "v3_noaux") L.router_bias.host = randn(c.n_routed_experts, 0.1f);
        // Two shared experts, fused as published (the GPU treats them as two more experts).
        c.n_shared_experts = 2;
        const int shared = 2 * c.moe_intermediate_size;
        storage.emplace_back(shared, c.hidden_size, DType::BF16);
        L.shared.gate = storage.back().view;
        storage.emplace_back(shared, c.hidden_size, DType::BF16);
        L.shared.up = storage.back().view;
        storage.emplace_back(c.hidden_size, shared, DType::BF16);
        L.shared.down = storage.back().view;
        L.shared.intermediate = shared;
        storage.emplace_back(c.n_routed_experts, c.hidden_size, DType::BF16, 0.3f);
        L.router = storage.back().view;
        ModelWeights device = host;
        gpu->upload(device, c, 128);

        // x is the residual stream; the op norms it, routes, and adds the experts to out (= x).
        const std::vector<float> x = randn(size_t(tokens) * c.hidden_size);
        const std::vector<float> norm = randn(c.hidden_size);
        std::vector<float> want = x, xn(x.size()), logits(size_t(tokens) * c.n_routed_experts);
        MoeArgs a;
        a.n_tokens = tokens;
        a.x = want.data();
        a.norm = norm.data();
        a.eps = 1e-6f;
        a.xn = xn.data();
        a.router_logits = logits.data();
        a.layer = &host.layers[0];
        a.out = want.data();
        cpu->moe(c, a);
        a.x = a.out = put(*gpu, x);
        a.norm = put(*gpu, norm);
        a.xn = gpu->alloc(xn.size());
        a.router_logits = gpu->alloc(logits.size());
        a.layer = &device.layers[0];
        gpu->moe(c, a);
        QVERIFY2(rel_l2(get(*gpu, a.xn, xn.size()), xn) < 1e-5, "normed x");
        QVERIFY2(rel_l2(get(*gpu, a.router_logits, logits.size()), logits) < 1e-4, "router");
        const double err = rel_l2(get(*gpu, a.out, want.size()), want);
        QVERIFY2(err < 1e-4, qPrintable(QString("relative L2 %1").arg(err)));
    }

    // ---- quantized weights (GGUF) -------------------------------------------------------------
    // Every type; odd row counts; cols one or a few blocks and a model's width; decode (n <= 8,
    // 8-bit activations) and prefill (F16 dequantization, tensor cores); a padded row stride on
    // the host. SwiGLU pairs the type with another (gate and up may differ in a file).
    void quant_matmul_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("cols");
        QTest::addColumn<int>("tokens");
        for (DType t : lc_test::kQuantTypes) {
            const int block = static_cast<int>(dtype_block_elems(t));
            for (auto [r, c] :
                 {std::pair{67, 3 * block}, std::pair{301, block == 32 ? 1408 : 2048}})
                for (int n : {1, 5, 64, 300})
                    QTest::newRow(qPrintable(
                        QString("%1 %2x%3 n=%4").arg(dtype_name(t)).arg(r).arg(c).arg(n)))
                        << int(t) << r << c << n;
        }
    }
    void quant_matmul() {
        QFETCH(int, dtype);
        QFETCH(int, rows);
        QFETCH(int, cols);
        QFETCH(int, tokens);
        const DType t = static_cast<DType>(dtype);
        const DType up_type = t == DType::Q8_0 ? DType::Q4_0 : DType::Q8_0;
        auto gpu = gpu_backend();
        ModelConfig c = attention_config(16, 16, 16, 16, 64);
        lc_test::QuantMatrix a(rows, cols, t, rng, 1), g(rows, cols, t, rng),
            u(rows, cols, up_type, rng);
        ModelWeights w;
        w.layers.resize(1);
        w.layers[0].q_proj = a.view;
        w.layers[0].o_proj = g.view;
        w.layers[0].q_a_proj = u.view;
        gpu->upload(w, c, 320);
        const std::vector<float> x = randn(size_t(tokens) * cols);
        const std::vector<float> y0 = randn(size_t(tokens) * rows);
        float* gx = put(*gpu, x);
        float* gy = put(*gpu, y0);
        auto variance = [&](const lc_test::QuantMatrix& m) {
            return tokens <= 8 ? lc_test::q8_variance(m.values, rows, cols, x, tokens)
                               : lc_test::f16_variance(m.values, rows, cols, x, tokens);
        };
        auto verdict = [&](const char* op, DType type, const lc_test::Agreement& r) {
            const QString text = QString("%1 %2 %3 %4x%5 n=%6: %7")
                                     .arg(quant_kernel(tokens), op, dtype_name(type))
                                     .arg(rows)
                                     .arg(cols)
                                     .arg(tokens)
                                     .arg(QString::fromStdString(r.text()));
            qInfo("%s", qPrintable(text));
            QVERIFY2(r.ok, qPrintable(text));
        };
        // y = A x
        const std::vector<double> want = lc_test::product(a.values, rows, cols, x, tokens);
        const std::vector<double> var = variance(a);
        gpu->matmul(w.layers[0].q_proj, gx, cols, gy, rows, tokens);
        verdict("matmul", t, lc_test::agree(get(*gpu, gy, y0.size()), want, var));
        // y += A x
        std::vector<double> acc = want;
        for (size_t i = 0; i < acc.size(); ++i)
            acc[i] += y0[i];
        gpu->to_backend(y0.data(), gy, y0.size());
        gpu->matmul_add(w.layers[0].q_proj, gx, cols, gy, rows, tokens);
        verdict("matmul_add", t, lc_test::agree(get(*gpu, gy, y0.size()), acc, var));
        // h = silu(G x) * (U x), G and U of different types
        std::vector<double> h, var_h;
        lc_test::swiglu(lc_test::product(g.values, rows, cols, x, tokens),
                        lc_test::product(u.values, rows, cols, x, tokens), variance(g), variance(u),
                        h, var_h);
        gpu->swiglu(w.layers[0].o_proj, w.layers[0].q_a_proj, gx, cols, gy, rows, tokens);
        verdict("swiglu", t, lc_test::agree(get(*gpu, gy, y0.size()), h, var_h));
    }

    // Rows of a quantized embedding table, dequantized as gguf-py does (to within one part in a
    // million; the kernel follows gguf-py's roundings, so they are normally equal).
    void quant_embed_data() {
        QTest::addColumn<int>("dtype");
        for (DType t : lc_test::kQuantTypes)
            QTest::newRow(dtype_name(t)) << int(t);
    }
    void quant_embed() {
        QFETCH(int, dtype);
        const DType t = static_cast<DType>(dtype);
        const int cols = t == DType::Q8_0 ? 1408 : 2048, vocab = 37;
        auto gpu = gpu_backend();
        ModelConfig c = attention_config(16, 16, 16, 16, 64);
        lc_test::QuantMatrix table(vocab, cols, t, rng);
        ModelWeights w;
        w.layers.resize(1);
        w.embed = table.view;
        gpu->upload(w, c, 16);
        const std::vector<int> ids = {0, 36, 5, 5, 17};
        const int n = static_cast<int>(ids.size());
        LatentCache cache(c, 4096, gpu->cache_pages());
        cache.reserve(n);
        gpu->begin_chunk(cache, 0, ids.data(), n);
        float* out = gpu->alloc(size_t(n) * cols);
        gpu->embed(w.embed, ids.data(), n, out);
        const std::vector<float> got = get(*gpu, out, size_t(n) * cols);
        int exact = 0, worst = -1;
        double worst_err = 0;
        for (int i = 0; i < n * cols; ++i) {
            const float want = table.values[size_t(ids[i / cols]) * cols + i % cols];
            exact += got[i] == want;
            const double err =
                std::fabs(double(got[i]) - want) / std::max(1e-30, std::fabs(double(want)));
            if (!(err <= worst_err)) worst_err = err, worst = i;
        }
        qInfo("%s embed: %d of %d values equal to gguf-py's", dtype_name(t), exact, n * cols);
        QVERIFY2(
            worst_err <= 1e-6,
            qPrintable(QString("%1 embed: token %2 column %3 is %4, gguf-py says %5")
                           .arg(dtype_name(t))
                           .arg(worst / cols)
                           .arg(worst % cols)
                           .arg(got[worst])
                           .arg(table.values[size_t(ids[worst / cols]) * cols + worst % cols])));
    }

    // RMSNorm folded into quantized products of several types in one project() call, beside a
    // plain one (decode: one launch each; n = 20: the prefill path).
    void quant_project_data() {
        QTest::addColumn<int>("tokens");
        for (int n : {1, 5, 20})
            QTest::newRow(qPrintable(QString("n=%1").arg(n))) << n;
    }
    void quant_project() {
        QFETCH(int, tokens);
        const int cols = 2048;
        auto gpu = gpu_backend();
        ModelConfig c = attention_config(16, 16, 16, 16, 64);
        lc_test::QuantMatrix a(300, cols, DType::Q4_K, rng), g(77, cols, DType::Q6_K, rng),
            u(77, cols, DType::Q5_K, rng), b(64, cols, DType::Q8_0, rng);
        HostMatrix p(50, cols, DType::BF16);
        ModelWeights w;
        w.layers.resize(1);
        LayerWeights& L = w.layers[0];
        L.q_proj = a.view;
        L.o_proj = g.view;
        L.q_b_proj = u.view;
        L.kv_a_proj = b.view;
        L.q_a_proj = p.view;
        gpu->upload(w, c, 64);
        const std::vector<float> x = randn(size_t(tokens) * cols);
        const std::vector<float> norm = randn(cols);
        const std::vector<float> acc0 = randn(size_t(tokens) * 64);
        std::vector<float> xn(x.size());
        std::vector<double> xn_want(x.size());
        for (int t = 0; t < tokens; ++t) {
            double ss = 0;
            for (int i = 0; i < cols; ++i)
                ss += double(x[t * cols + i]) * x[t * cols + i];
            const double inv = 1 / std::sqrt(ss / cols + 1e-6);
            for (int i = 0; i < cols; ++i) {
                xn_want[t * cols + i] = norm[i] * x[t * cols + i] * inv;
                xn[t * cols + i] = static_cast<float>(xn_want[t * cols + i]);
            }
        }
        float* gx = put(*gpu, x);
        float* gn = put(*gpu, norm);
        float* gxn = gpu->alloc(x.size());
        float* ga = gpu->alloc(size_t(tokens) * 300);
        float* gg = gpu->alloc(size_t(tokens) * 77);
        float* gb = put(*gpu, acc0);
        float* gp = gpu->alloc(size_t(tokens) * 50);
        const Projection dev[] = {{&L.q_proj, nullptr, ga, 300, false},
                                  {&L.o_proj, &L.q_b_proj, gg, 77, false},
                                  {&L.kv_a_proj, nullptr, gb, 64, true},
                                  {&L.q_a_proj, nullptr, gp, 50, false}};
        gpu->project(gx, cols, gn, 1e-6f, gxn, cols, dev, tokens);
        const char* kernel = quant_kernel(tokens);
        QVERIFY2(lc_test::agree(get(*gpu, gxn, xn.size()), xn_want, {}).ok, "normed x");
        auto variance = [&](const lc_test::QuantMatrix& m, int64_t rows) {
            return tokens <= 8 ? lc_test::q8_variance(m.values, rows, cols, xn, tokens)
                               : lc_test::f16_variance(m.values, rows, cols, xn, tokens);
        };
        auto check = [&](const char* what, const lc_test::Agreement& r) {
            const QString text = QString("%1 project n=%2 %3: %4")
                                     .arg(kernel)
                                     .arg(tokens)
                                     .arg(what, QString::fromStdString(r.text()));
            qInfo("%s", qPrintable(text));
            QVERIFY2(r.ok, qPrintable(text));
        };
        check("Q4_K 300 rows",
              lc_test::agree(get(*gpu, ga, size_t(tokens) * 300),
                             lc_test::product(a.values, 300, cols, xn, tokens), variance(a, 300)));
        std::vector<double> h, var_h;
        lc_test::swiglu(lc_test::product(g.values, 77, cols, xn, tokens),
                        lc_test::product(u.values, 77, cols, xn, tokens), variance(g, 77),
                        variance(u, 77), h, var_h);
        check("SwiGLU Q6_K/Q5_K 77 rows", lc_test::agree(get(*gpu, gg, h.size()), h, var_h));
        std::vector<double> acc = lc_test::product(b.values, 64, cols, xn, tokens);
        for (size_t i = 0; i < acc.size(); ++i)
            acc[i] += acc0[i];
        check("Q8_0 64 rows accumulated",
              lc_test::agree(get(*gpu, gb, acc.size()), acc, variance(b, 64)));
        const std::vector<double> plain = lc_test::product(values_of(p), 50, cols, xn, tokens);
        std::vector<float> plain_f(plain.begin(), plain.end());
        const double plain_err = rel_l2(get(*gpu, gp, plain.size()), plain_f);
        QVERIFY2(plain_err < 1e-4,
                 qPrintable(QString("BF16 beside them: relative L2 %1").arg(plain_err)));
    }

    // An MoE layer whose routed gate, up and down and shared gate, up and down are six different
    // types, with an F32 router (decode: its kernel routes) or a quantized one; the shared
    // experts' width need not be a multiple of the routed one's, and they may be plain BF16
    // beside quantized routed experts.
    void quant_moe_data() {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<int>("tokens");
        for (const char* kind :
             {"v2_mixed", "v3_partial_shared", "quantized_router", "plain_shared"})
            for (int n : {1, 5, 40})
                QTest::newRow(qPrintable(QString("%1 n%2").arg(kind).arg(n))) << kind << n;
    }
    void quant_moe() {
        QFETCH(QString, kind);
        QFETCH(int, tokens);
        const bool v3 = kind == "v3_partial_shared";
        ModelConfig c = attention_config(16, 16, 16, 16, 64);
        const int d = 512, I = 160, E = 16;
        c.hidden_size = d;
        c.moe_intermediate_size = I;
        c.n_routed_experts = E;
        c.num_experts_per_tok = 4;
        c.routed_scaling_factor = 2.5;
        if (v3) {
            c.model_type = ModelType::DeepseekV3;
            c.scoring_func = ScoringFunc::Sigmoid;
            c.norm_topk_prob = true;
            c.topk_method = TopkMethod::NoauxTc;
            c.n_group = 4;
            c.topk_group = 2;
        }
        c.n_shared_experts = 2;
        const int shared = v3 ? 256 : 2 * I;  // v3: 160 + 96, a partial second slot
        const DType gate_t = v3 ? DType::Q3_K : DType::Q4_K, up_t = v3 ? DType::Q2_K : DType::Q5_K,
                    down_t = v3 ? DType::Q5_1 : DType::Q5_0;
        const DType sg_t = v3 ? DType::Q4_0 : DType::Q6_K, su_t = v3 ? DType::Q4_1 : DType::Q8_0,
                    sd_t = v3 ? DType::Q6_K : DType::Q4_1;
        std::vector<lc_test::QuantMatrix> q;
        q.reserve(3 * E + 4);
        ModelWeights host;
        host.layers.resize(1);
        LayerWeights& L = host.layers[0];
        L.is_moe = true;
        for (int e = 0; e < E; ++e) {
            FeedForwardWeights f;
            f.gate = q.emplace_back(I, d, gate_t, rng).view;
            f.up = q.emplace_back(I, d, up_t, rng).view;
            f.down = q.emplace_back(d, I, down_t, rng).view;
            f.intermediate = I;
            L.experts.push_back(f);
        }
        L.shared.gate = q.emplace_back(shared, d, sg_t, rng).view;
        L.shared.up = q.emplace_back(shared, d, su_t, rng).view;
        L.shared.down = q.emplace_back(d, shared, sd_t, rng).view;
        L.shared.intermediate = shared;
        std::vector<float> shared_values[3] = {q[3 * E].values, q[3 * E + 1].values,
                                               q[3 * E + 2].values};
        HostMatrix plain[3];
        if (kind == "plain_shared") {
            plain[0] = HostMatrix(shared, d, DType::BF16, 0.05f);
            plain[1] = HostMatrix(shared, d, DType::BF16, 0.05f);
            plain[2] = HostMatrix(d, shared, DType::BF16, 0.05f);
            for (int i = 0; i < 3; ++i)
                shared_values[i] = values_of(plain[i]);
            L.shared.gate = plain[0].view;
            L.shared.up = plain[1].view;
            L.shared.down = plain[2].view;
        }
        HostMatrix router_plain(E, d, DType::F32, 0.3f);
        std::vector<float> router_values;
        if (kind == "quantized_router") {
            L.router = q.emplace_back(E, d, DType::Q8_0, rng).view;
            router_values = q.back().values;
        } else {
            L.router = router_plain.view;
            router_values = values_of(router_plain);
        }
        if (v3) L.router_bias.host = randn(E, 0.1f);
        ModelWeights device = host;
        auto gpu = gpu_backend();
        gpu->upload(device, c, 64);

        const std::vector<float> x = randn(size_t(tokens) * d);
        const std::vector<float> norm = randn(d);
        MoeArgs a;
        a.n_tokens = tokens;
        a.x = a.out = put(*gpu, x);
        a.norm = put(*gpu, norm);
        a.eps = 1e-6f;
        a.xn = gpu->alloc(x.size());
        a.router_logits = gpu->alloc(size_t(tokens) * E);
        a.layer = &device.layers[0];
        gpu->moe(c, a);
        const std::vector<float> got_out = get(*gpu, a.out, x.size());
        const std::vector<float> got_xn = get(*gpu, a.xn, x.size());
        const std::vector<float> got_logits = get(*gpu, a.router_logits, size_t(tokens) * E);

        // The reference, token by token, routed on the GPU's logits (checked first) so that a
        // near tie cannot send the two to different experts.
        std::vector<float> xn(x.size());
        std::vector<double> xn_want(x.size());
        for (int t = 0; t < tokens; ++t) {
            double ss = 0;
            for (int i = 0; i < d; ++i)
                ss += double(x[t * d + i]) * x[t * d + i];
            const double inv = 1 / std::sqrt(ss / d + 1e-6);
            for (int i = 0; i < d; ++i)
                xn[t * d + i] =
                    static_cast<float>(xn_want[t * d + i] = norm[i] * x[t * d + i] * inv);
        }
        QVERIFY2(lc_test::agree(got_xn, xn_want, {}).ok, "normed x");
        const bool q8_router = kind == "quantized_router" && tokens <= 8;
        const lc_test::Agreement logits =
            lc_test::agree(got_logits, lc_test::product(router_values, E, d, xn, tokens),
                           kind != "quantized_router" ? std::vector<double>{}
                           : q8_router ? lc_test::q8_variance(router_values, E, d, xn, tokens)
                                       : lc_test::f16_variance(router_values, E, d, xn, tokens));
        QVERIFY2(logits.ok, qPrintable("router logits: " + QString::fromStdString(logits.text())));

        std::vector<double> want(x.size()), var(x.size());
        std::vector<float> scratch(3 * E + 64);
        // One expert (rows [first, first + rows) of gate/up, the same columns of down) on token t.
        auto expert = [&](const std::vector<float>& G, const std::vector<float>& U,
                          const std::vector<float>& D, int width, double weight, int t) {
            const std::vector<float> xt(xn.begin() + t * d, xn.begin() + (t + 1) * d);
            std::vector<double> h, var_h;
            lc_test::swiglu(lc_test::product(G, width, d, xt, 1),
                            lc_test::product(U, width, d, xt, 1),
                            lc_test::q8_variance(G, width, d, xt, 1),
                            lc_test::q8_variance(U, width, d, xt, 1), h, var_h);
            std::vector<double> spread(
                width);  // per column of down: 8-bit rounding of h, and h's own
            for (int b = 0; b < width; b += 32) {
                double amax = 0;
                for (int i = b; i < b + 32; ++i)
                    amax = std::max(amax, std::fabs(h[i]));
                for (int i = b; i < b + 32; ++i)
                    spread[i] = (amax / 127) * (amax / 127) / 12 + var_h[i];
            }
            for (int r = 0; r < d; ++r) {
                double s = 0, v = 0;
                for (int i = 0; i < width; ++i) {
                    const double dw = D[size_t(r) * width + i];
                    s += dw * h[i];
                    v += dw * dw * spread[i];
                }
                want[t * d + r] += weight * s;
                var[t * d + r] += weight * weight * v;
            }
        };
        for (int t = 0; t < tokens; ++t) {
            int ids[16];
            float weights[16];
            route_token(c, got_logits.data() + t * E, L.router_bias.host, scratch.data(), ids,
                        weights);
            for (int j = 0; j < c.num_experts_per_tok; ++j)
                expert(q[3 * ids[j]].values, q[3 * ids[j] + 1].values, q[3 * ids[j] + 2].values, I,
                       weights[j], t);
            expert(shared_values[0], shared_values[1], shared_values[2], shared, 1.0, t);
        }
        std::vector<float> delta(x.size());
        for (size_t i = 0; i < x.size(); ++i)
            delta[i] = got_out[i] - x[i];
        const lc_test::Agreement r = lc_test::agree(delta, want, var);
        const QString text =
            QString("quant_moe %1 n=%2 (routed %3/%4/%5, shared %6/%7/%8): %9")
                .arg(kind)
                .arg(tokens)
                .arg(dtype_name(gate_t), dtype_name(up_t), dtype_name(down_t),
                     dtype_name(L.shared.gate.dtype), dtype_name(L.shared.up.dtype),
                     dtype_name(L.shared.down.dtype), QString::fromStdString(r.text()));
        qInfo("%s", qPrintable(text));
        QVERIFY2(r.ok, qPrintable(text));
    }

    // The GPU draws from the same distribution with the same uniform: the same id except where
    // f32 and f64 prefix sums disagree at a boundary.
    void sampling() {
        auto gpu = gpu_backend();
        ModelConfig c = attention_config(16, 16, 16, 16, 64);
        ModelWeights w;
        w.layers.resize(1);
        gpu->upload(w, c, 8);
        const int vocab = 50000;
        float* g = gpu->alloc(vocab);
        int same = 0, total = 0;
        for (float temperature : {0.0f, 0.7f, 1.3f})
            for (int top_k : {0, 40})
                for (float top_p : {1.0f, 0.9f})
                    for (float min_p : {0.0f, 0.05f})
                        for (int trial = 0; trial < 4; ++trial) {
                            SamplingParams p;
                            p.temperature = temperature;
                            p.top_k = top_k;
                            p.top_p = top_p;
                            p.min_p = min_p;
                            p.repetition_penalty = 1.3f;
                            p.seed = 99 + trial;
                            std::vector<float> logits = randn(vocab, 3.0f);
                            logits[17] = NAN;
                            std::vector<int> recent = {5, 9, 5, 1200, 17};
                            gpu->to_backend(logits.data(), g, vocab);
                            Sampler cpu_sampler(p, vocab);
                            const double u = std::uniform_real_distribution<double>(0, 1)(rng);
                            int gpu_id = -1;
                            bool penalized = false;
                            const bool done =
                                gpu->sample(g, vocab, p, recent, u, &gpu_id, &penalized);
                            const int cpu_id = cpu_sampler.sample(
                                logits, recent, temperature == 0.0f ? nullptr : &u);
                            if (!done) {  // min-p off: too many candidates, the host draws
                                QVERIFY(min_p == 0.0f && temperature > 0.0f);
                                QVERIFY(penalized);
                                continue;
                            }
                            ++total;
                            same += gpu_id == cpu_id;
                            if (temperature == 0.0f) QCOMPARE(gpu_id, cpu_id);
                        }
        qInfo("GPU and CPU sampling chose the same id %d of %d times", same, total);
        QVERIFY(same >= total * 95 / 100);
    }

    // ---- the whole model ---------------------------------------------------------------------
    void model_matches_cpu_data() {
        QTest::addColumn<QString>("fixture");
        for (const QString& f : fixtures())
            QTest::newRow(qPrintable(f)) << f;
    }
    // Prefill across a page boundary, then decode steps (recorded once, then replayed from the
    // graph at new positions): logits at every step agree with the CPU.
    void model_matches_cpu() {
        QFETCH(QString, fixture);
        const std::filesystem::path dir = model_dir(fixture, read_ref(fixture)).toStdString();
        OpenOptions options;
        options.path = dir;
        options.load_tokenizer = false;
        auto cpu = open_model(options).model;
        options.device = Device::Cuda;
        options.max_batch = 32;  // two prefill chunks
        auto gpu = open_model(options).model;
        const int vocab = cpu->config().vocab_size;
        std::vector<int> prompt(60);
        for (size_t i = 0; i < prompt.size(); ++i)
            prompt[i] = int((i * 7919 + 13) % vocab);
        for (AttentionMode mode : {AttentionMode::Absorbed, AttentionMode::Naive}) {
            cpu->set_attention_mode(mode);
            gpu->set_attention_mode(mode);
            auto cc = cpu->new_cache(256), gc = gpu->new_cache(256);
            std::vector<float> want(vocab), got(vocab);
            cpu->forward(prompt, *cc, want.data());
            gpu->forward(prompt, *gc, got.data());
            QVERIFY2(rel_l2(got, want) < 1e-2, "prefill");
            for (int step = 0; step < 10; ++step) {
                const int next[1] = {argmax(want)};
                cpu->forward(next, *cc, want.data());
                gpu->forward(next, *gc, got.data());
                const double err = rel_l2(got, want);
                QVERIFY2(err < 1e-2, qPrintable(QString("step %1: %2").arg(step).arg(err)));
            }
            QCOMPARE(gc->size(), 70);
        }
    }

    void fixtures_match_reference_data() { model_matches_cpu_data(); }
    void fixtures_match_reference() {
        QFETCH(QString, fixture);
        const QJsonObject ref = read_ref(fixture);
        const QString dir = model_dir(fixture, ref);
        QTemporaryDir tmp;
        const QString out = tmp.filePath("logits.npy");
        lc_test::CliResult r =
            lc_test::run_cli({"logits", "--device", "cuda", "--model", dir, "--tokens",
                              id_list(ref["input_ids"].toArray()), "--out", out});
        QVERIFY2(r.code == 0, r.err.constData());
        QVERIFY2(r.err.isEmpty(), r.err.constData());  // no "running on the CPU" notice
        NpyArray ours = read_npy_f32(out.toStdString());
        NpyArray want = read_npy_f32(
            (QString(LC_FIXTURES_DIR) + "/" + fixture + "/ref_logits.npy").toStdString());
        QCOMPARE(ours.shape, want.shape);
        const double err = rel_l2(ours.data, want.data);
        qInfo("%s on CUDA: relative L2 %.3g", qPrintable(fixture), err);
        QVERIFY2(err < 1e-2, qPrintable(QString("relative L2 %1").arg(err)));

        const QJsonArray greedy = ref["greedy_ids"].toArray();
        r = lc_test::run_cli({"generate", "--device", "cuda", "--model", dir, "--tokens",
                              id_list(ref["input_ids"].toArray()), "--temperature", "0",
                              "--max-tokens", QString::number(greedy.size()), "--ignore-eos",
                              "--print-ids"});
        QVERIFY2(r.code == 0, r.err.constData());
        QCOMPARE(QString(r.out.trimmed().split('\n').last()), id_list(greedy));
    }
};

QTEST_GUILESS_MAIN(TestCudaBackend)
#include "test_cuda_backend.moc"
