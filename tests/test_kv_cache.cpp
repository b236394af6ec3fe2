// The paged latent cache: pages come and go with the context, rows never overlap, and the
// stats equal docs/design.md section 5's formulas.
#include <QtTest>
#include <algorithm>
#include <set>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "engine/kv_cache.h"

namespace {

// DeepSeek-V2's attention shape (docs/design.md 5): 128 heads, d_c 512, rope 64, nope/v 128.
lc::ModelConfig v2_shape(int layers) {
    lc::ModelConfig c;
    c.num_hidden_layers = layers;
    c.num_attention_heads = 128;
    c.kv_lora_rank = 512;
    c.qk_rope_head_dim = 64;
    c.qk_nope_head_dim = 128;
    c.v_head_dim = 128;
    return c;
}

// Host pages that claim bf16 elements, as the GPU's do: the row copies must convert.
class Bf16HostPages : public lc::HostPageAllocator {
public:
    size_t element_bytes() const override { return 2; }
};

}  // namespace

class TestKvCache : public QObject {
    Q_OBJECT

private slots:
    void deepseek_v2_elements_per_token() {
        lc::HostPageAllocator pages;
        lc::LatentCache cache(v2_shape(60), 4096, pages);
        lc::CacheStats s = cache.stats();
        QCOMPARE(s.mla_elements, int64_t(576));
        QCOMPARE(s.mha_elements, int64_t(40960));
        QCOMPARE(s.mqa_elements, int64_t(128 + 64 + 128));
        QCOMPARE(s.gqa_elements, int64_t(8 * (128 + 64 + 128)));
    }

    void stats_follow_the_formulas_data() {
        QTest::addColumn<int>("tokens");
        for (int n : {0, 1, 63, 64, 65, 200, 1000})
            QTest::newRow(qPrintable(QString::number(n))) << n;
    }
    void stats_follow_the_formulas() {
        QFETCH(int, tokens);
        const int layers = 3;
        lc::HostPageAllocator pages;
        lc::LatentCache cache(v2_shape(layers), 4096, pages, 64);
        cache.reserve(tokens);
        cache.set_size(tokens);
        lc::CacheStats s = cache.stats();
        const size_t e = sizeof(float);
        const size_t n_pages = (tokens + 63) / 64;
        QCOMPARE(s.tokens, tokens);
        QCOMPARE(s.pages, static_cast<int>(n_pages));
        QCOMPARE(s.layer_bytes_live, size_t(tokens) * 576 * e);
        QCOMPARE(s.layer_bytes_allocated, n_pages * 64 * 576 * e);
        QCOMPARE(s.bytes_live, size_t(tokens) * 576 * e * layers);
        QCOMPARE(s.bytes_allocated, n_pages * 64 * 576 * e * layers);
        QCOMPARE(s.mha_bytes, size_t(tokens) * (128 * (128 + 64) + 128 * 128) * e * layers);
        QCOMPARE(s.mqa_bytes, size_t(tokens) * (128 + 64 + 128) * e * layers);
        QCOMPARE(s.gqa_bytes, size_t(tokens) * 8 * (128 + 64 + 128) * e * layers);
    }

    void rows_are_distinct_and_inside_pages() {
        lc::ModelConfig c = v2_shape(2);
        c.kv_lora_rank = 6;
        c.qk_rope_head_dim = 2;
        lc::HostPageAllocator pages;
        lc::LatentCache cache(c, 100, pages, 4);
        cache.reserve(10);
        std::set<const float*> seen;
        for (int l = 0; l < 2; ++l)
            for (int p = 0; p < 10; ++p) {
                float* row = cache.row(l, p);
                QVERIFY(seen.insert(row).second);
                for (int i = 0; i < cache.row_elements(); ++i)
                    row[i] = float(l * 1000 + p * 10 + i);
            }
        for (int l = 0; l < 2; ++l)
            for (int p = 0; p < 10; ++p)
                for (int i = 0; i < cache.row_elements(); ++i)
                    QCOMPARE(cache.row(l, p)[i], float(l * 1000 + p * 10 + i));
    }

    void truncate_releases_pages() {
        lc::HostPageAllocator pages;
        lc::LatentCache cache(v2_shape(1), 1000, pages, 64);
        cache.reserve(300);
        cache.set_size(300);
        QCOMPARE(cache.pages(), 5);
        cache.truncate(64);
        QCOMPARE(cache.size(), 64);
        QCOMPARE(cache.pages(), 1);
        cache.clear();
        QCOMPARE(cache.pages(), 0);
        QCOMPARE(cache.stats().bytes_allocated, size_t(0));
    }

    // Rows written and read back across page boundaries, in f32 pages (exact) and bf16 pages
    // (rounded to bf16, half the bytes); other rows and layers untouched.
    void row_copies_cross_pages_and_convert() {
        lc::ModelConfig c = v2_shape(3);
        c.kv_lora_rank = 24;
        c.qk_rope_head_dim = 8;
        lc::HostPageAllocator f32;
        Bf16HostPages bf16;
        for (lc::PageAllocator* pages :
             {static_cast<lc::PageAllocator*>(&f32), static_cast<lc::PageAllocator*>(&bf16)}) {
            lc::LatentCache cache(c, 300, *pages, 64);
            cache.reserve(200);
            const int width = cache.row_elements();
            std::vector<float> rows(static_cast<size_t>(150) * width), back(rows.size(), -1.0f);
            for (size_t i = 0; i < rows.size(); ++i)
                rows[i] = 0.001f * static_cast<float>(i) - 1.7f;
            std::vector<float> zeros(static_cast<size_t>(200) * width, 0.0f);
            for (int l = 0; l < 3; ++l)
                cache.write_rows(l, 0, 200, zeros.data());
            cache.write_rows(1, 30, 150, rows.data());  // pages 0, 1 and 2
            cache.read_rows(1, 30, 150, back.data());
            const bool half = pages->element_bytes() == 2;
            QCOMPARE(cache.stats().bytes_per_element, pages->element_bytes());
            for (size_t i = 0; i < rows.size(); ++i) {
                const float want = half ? lc::bf16_to_f32(lc::f32_to_bf16(rows[i])) : rows[i];
                QCOMPARE(back[i], want);
            }
            std::vector<float> other(static_cast<size_t>(200) * width, -1.0f);
            cache.read_rows(0, 0, 200, other.data());
            QCOMPARE(*std::max_element(other.begin(), other.end()), 0.0f);
            cache.read_rows(1, 0, 30, other.data());
            QCOMPARE(*std::min_element(other.begin(), other.begin() + 30 * width), 0.0f);
        }
    }

    void growing_past_the_context_is_an_error() {
        lc::HostPageAllocator pages;
        lc::LatentCache cache(v2_shape(1), 100, pages, 64);
        cache.reserve(100);
        QVERIFY_THROWS_EXCEPTION(lc::Error, cache.reserve(101));
    }
};

QTEST_APPLESS_MAIN(TestKvCache)
#include "test_kv_cache.moc"
