// The forward's internal consistency on the reference fixtures: absorbed attention equals the
// naive form, token-by-token decode equals one prefill, and chunk size does not matter.
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>
#include <cmath>

#include "base/error.h"
#include "engine/model.h"
#include "session/open_model.h"

namespace {

QString fixture_dir(const QString& name) {
    return QString(LC_FIXTURES_DIR) + "/" + name;
}

std::vector<int> input_ids(const QString& name) {
    QFile f(fixture_dir(name) + "/ref.json");
    if (!f.open(QIODevice::ReadOnly)) return {};
    std::vector<int> ids;
    for (const auto& v : QJsonDocument::fromJson(f.readAll()).object()["input_ids"].toArray())
        ids.push_back(v.toInt());
    return ids;
}

std::unique_ptr<lc::Model> load(const QString& name, int batch = 64,
                                lc::AttentionMode mode = lc::AttentionMode::Absorbed) {
    lc::OpenOptions o;
    o.path = fixture_dir(name).toStdString();
    o.max_batch = batch;
    o.attention = mode;
    o.load_tokenizer = false;
    return lc::open_model(o).model;
}

std::vector<float> all_logits(lc::Model& m, const std::vector<int>& ids) {
    auto cache = m.new_cache();
    std::vector<float> out(ids.size() * m.config().vocab_size);
    m.forward(ids, *cache, out.data(), true);
    return out;
}

double relative_l2(const float* a, const float* b, size_t n) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; ++i) {
        diff += double(a[i] - b[i]) * (a[i] - b[i]);
        norm += double(b[i]) * b[i];
    }
    return std::sqrt(diff / norm);
}

void add_fixture_rows() {
    QTest::addColumn<QString>("fixture");
    for (const char* f : {"v2_moe", "v2_group", "v3_yarn", "dense"})
        QTest::newRow(f) << f;
}

}  // namespace

class TestModel : public QObject {
    Q_OBJECT

private slots:
    void absorbed_equals_naive_data() { add_fixture_rows(); }
    void absorbed_equals_naive() {
        QFETCH(QString, fixture);
        auto ids = input_ids(fixture);
        QVERIFY(!ids.empty());
        auto absorbed = load(fixture, 64, lc::AttentionMode::Absorbed);
        auto naive = load(fixture, 64, lc::AttentionMode::Naive);
        auto a = all_logits(*absorbed, ids);
        auto b = all_logits(*naive, ids);
        const double rel = relative_l2(a.data(), b.data(), a.size());
        QVERIFY2(rel < 1e-5, qPrintable(QString::number(rel)));
    }

    void decode_equals_prefill_data() { add_fixture_rows(); }
    void decode_equals_prefill() {
        QFETCH(QString, fixture);
        auto ids = input_ids(fixture);
        auto m = load(fixture);
        const int V = m->config().vocab_size;
        auto prefill = all_logits(*m, ids);
        auto cache = m->new_cache();
        std::vector<float> step(V);
        for (size_t t = 0; t < ids.size(); ++t) {
            const int one[1] = {ids[t]};
            m->forward(one, *cache, step.data());
            QCOMPARE(cache->size(), static_cast<int>(t + 1));
            const double rel = relative_l2(step.data(), &prefill[t * V], V);
            QVERIFY2(rel < 1e-5, qPrintable(QString("position %1: %2").arg(t).arg(rel)));
        }
    }

    // Prefill chunks go through the blocked attention (query blocks of 64, latent pages of 64,
    // an online softmax); a 300-token prompt in chunks of 150 starts the second chunk inside a
    // page and splits query blocks across pages. It must equal the naive form and, position by
    // position, the one-query form that decoding uses.
    void long_prompt_blocked_attention_data() {
        QTest::addColumn<QString>("fixture");
        for (const char* f : {"v2_moe", "v2_group"})
            QTest::newRow(f) << f;
    }
    void long_prompt_blocked_attention() {
        QFETCH(QString, fixture);
        auto blocked = load(fixture, 150, lc::AttentionMode::Absorbed);
        auto naive = load(fixture, 64, lc::AttentionMode::Naive);
        const int V = blocked->config().vocab_size;
        std::vector<int> ids(300);
        uint32_t state = 12345;
        for (int& id : ids) {
            state = state * 1664525u + 1013904223u;
            id = static_cast<int>((state >> 8) % static_cast<uint32_t>(V));
        }
        auto a = all_logits(*blocked, ids);
        auto b = all_logits(*naive, ids);
        const double rel = relative_l2(a.data(), b.data(), a.size());
        QVERIFY2(rel < 1e-5, qPrintable(QString::number(rel)));
        auto decoder = load(fixture, 150, lc::AttentionMode::Absorbed);
        auto cache = decoder->new_cache();
        std::vector<float> step(V);
        for (size_t t = 0; t < ids.size(); ++t) {
            const int one[1] = {ids[t]};
            decoder->forward(one, *cache, step.data());
            const double r = relative_l2(step.data(), &a[t * V], V);
            QVERIFY2(r < 1e-5, qPrintable(QString("position %1: %2").arg(t).arg(r)));
        }
    }

    void prefill_chunk_size_does_not_matter() {
        auto ids = input_ids("v3_yarn");
        auto whole = load("v3_yarn", 64);
        auto chunked = load("v3_yarn", 3);
        auto a = all_logits(*whole, ids);
        auto b = all_logits(*chunked, ids);
        QVERIFY(relative_l2(b.data(), a.data(), a.size()) < 1e-5);
    }

    void cache_holds_only_latents() {
        auto m = load("v2_moe");
        auto ids = input_ids("v2_moe");
        auto cache = m->new_cache();
        std::vector<float> logits(m->config().vocab_size);
        m->forward(ids, *cache, logits.data());
        const lc::ModelConfig& c = m->config();
        lc::CacheStats s = cache->stats();
        QCOMPARE(s.tokens, static_cast<int>(ids.size()));
        QCOMPARE(s.mla_elements, static_cast<int64_t>(c.kv_lora_rank + c.qk_rope_head_dim));
        QCOMPARE(s.bytes_live, ids.size() * (c.kv_lora_rank + c.qk_rope_head_dim) * sizeof(float) *
                                   c.num_hidden_layers);
        // The latent rows are normalised c_kv: with kv_a_layernorm weights near 1 their RMS is
        // near 1, which would not hold for raw projections or zeros.
        const float* row = cache->row(0, 0);
        double ss = 0;
        for (int i = 0; i < c.kv_lora_rank; ++i)
            ss += double(row[i]) * row[i];
        QVERIFY(std::sqrt(ss / c.kv_lora_rank) > 0.2);
    }

    void bad_token_id_is_an_error() {
        auto m = load("dense");
        auto cache = m->new_cache();
        std::vector<float> logits(m->config().vocab_size);
        const int ids[2] = {1, m->config().vocab_size};
        QVERIFY_THROWS_EXCEPTION(lc::Error, m->forward(ids, *cache, logits.data()));
        QCOMPARE(cache->size(), 0);
    }

    void context_limit_is_an_error() {
        auto m = load("dense");
        auto cache = m->new_cache(4);
        std::vector<float> logits(m->config().vocab_size);
        const int ids[5] = {1, 5, 6, 7, 8};
        QVERIFY_THROWS_EXCEPTION(lc::Error, m->forward(ids, *cache, logits.data()));
    }

    void cancel_between_prefill_chunks() {
        auto m = load("v2_moe", 4);
        auto ids = input_ids("v2_moe");
        auto cache = m->new_cache();
        std::atomic<bool> cancel{true};
        std::vector<float> logits(m->config().vocab_size);
        QVERIFY(!m->forward(ids, *cache, logits.data(), false, &cancel));
        QCOMPARE(cache->size(), 0);
    }
};

QTEST_APPLESS_MAIN(TestModel)
#include "test_model.moc"
