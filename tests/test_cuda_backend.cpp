// The CUDA backend against the CPU reference: every op on random data (odd sizes, page
// boundaries, several head counts and dtypes), the whole model on every fixture (decode steps
// replayed from a CUDA graph included), and the fixtures against transformers' logits.
// Skipped where no GPU is usable (CI).
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
