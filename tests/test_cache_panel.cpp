// The cache panel plots the engine's CacheStats exactly (x = tokens, y = bytes) and states the
// MHA ratio and the context fill in words.
#include <QChartView>
#include <QLabel>
#include <QLineSeries>
#include <QLocale>
#include <QtTest>
#include <vector>

#include "cache_panel.h"
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

// The stats after each token count, from a real cache.
std::vector<lc::CacheStats> grow(lc::LatentCache& cache, const std::vector<int>& counts) {
    std::vector<lc::CacheStats> out;
    for (int n : counts) {
        cache.reserve(n);
        cache.set_size(n);
        out.push_back(cache.stats());
    }
    return out;
}

void check_series(const QLineSeries* series, const std::vector<lc::CacheStats>& samples,
                  size_t lc::CacheStats::*field) {
    QVERIFY(series != nullptr);
    QCOMPARE(series->count(), static_cast<int>(samples.size()));
    for (size_t i = 0; i < samples.size(); ++i) {
        QCOMPARE(series->at(static_cast<int>(i)).x(), static_cast<double>(samples[i].tokens));
        QCOMPARE(series->at(static_cast<int>(i)).y(), static_cast<double>(samples[i].*field));
    }
}

}  // namespace

class TestCachePanel : public QObject {
    Q_OBJECT

private slots:
    void format_bytes_reads_well() {
        QCOMPARE(lc::ui::format_bytes(0), QStringLiteral("0 B"));
        QCOMPARE(lc::ui::format_bytes(512), QStringLiteral("512 B"));
        QCOMPARE(lc::ui::format_bytes(12 * 1024), QStringLiteral("12.0 KiB"));
        QCOMPARE(lc::ui::format_bytes(21.3 * 1024 * 1024), QStringLiteral("21.3 MiB"));
        QCOMPARE(lc::ui::format_bytes(1.2 * 1024 * 1024 * 1024), QStringLiteral("1.20 GiB"));
        QCOMPARE(lc::ui::format_bytes(512 * 1024), QStringLiteral("512 KiB"));
        // Never "1024 KiB".
        QCOMPARE(lc::ui::format_bytes(1024 * 1024 - 1), QStringLiteral("1.00 MiB"));
    }

    void before_any_model() {
        lc::ui::CachePanel panel;
        QVERIFY(panel.minimumWidth() >= 300);
        QCOMPARE(panel.allocated_series()->count(), 0);
        QVERIFY(!panel.ratio_text().isEmpty());
    }

    void samples_are_the_engines_numbers() {
        lc::HostPageAllocator pages;
        lc::LatentCache cache(v2_shape(60), 4096, pages);
        lc::ui::CachePanel panel;
        panel.reset(cache.stats());
        // Before any token: the per-token ratio 40960 / 576.
        QVERIFY2(panel.ratio_text().contains(QStringLiteral("71.1x")),
                 qPrintable(panel.ratio_text()));
        QVERIFY2(panel.ratio_text().contains(QStringLiteral("per token")),
                 qPrintable(panel.ratio_text()));

        const auto samples = grow(cache, {1, 50, 64, 65, 300, 1234});
        for (const lc::CacheStats& s : samples)
            panel.add_sample(s);

        check_series(panel.allocated_series(), samples, &lc::CacheStats::bytes_allocated);
        check_series(panel.live_series(), samples, &lc::CacheStats::bytes_live);
        check_series(panel.mha_series(), samples, &lc::CacheStats::mha_bytes);
        check_series(panel.gqa_series(), samples, &lc::CacheStats::gqa_bytes);
        check_series(panel.mqa_series(), samples, &lc::CacheStats::mqa_bytes);

        const lc::CacheStats& last = samples.back();
        QVERIFY2(panel.ratio_text().contains(QStringLiteral("71.1x")),
                 qPrintable(panel.ratio_text()));
        QVERIFY2(panel.ratio_text().contains(lc::ui::format_bytes(double(last.mha_bytes))),
                 qPrintable(panel.ratio_text()));
        QVERIFY2(panel.ratio_text().contains(lc::ui::format_bytes(double(last.bytes_live))),
                 qPrintable(panel.ratio_text()));
        const QString context = panel.context_text();
        QVERIFY2(context.contains(QLocale().toString(1234)), qPrintable(context));
        QVERIFY2(context.contains(QLocale().toString(4096)), qPrintable(context));

        // The per-layer line names the elements per token of both designs.
        auto* layers = panel.findChild<QLabel*>(QStringLiteral("cacheLayers"));
        QVERIFY(layers != nullptr);
        QVERIFY2(layers->text().contains(QStringLiteral("576")), qPrintable(layers->text()));
        QVERIFY2(layers->text().contains(QLocale().toString(40960)), qPrintable(layers->text()));

        // On a GPU: the room is the GPU memory free at load less the pages allocated since.
        const double gib = 1024.0 * 1024.0 * 1024.0;
        panel.reset(cache.stats(), gib);
        panel.add_sample(last);
        const QString gpu = panel.context_text();
        QVERIFY2(gpu.contains(QStringLiteral("free on the GPU")), qPrintable(gpu));
        QVERIFY2(gpu.contains(lc::ui::format_bytes(gib - double(last.bytes_allocated))),
                 qPrintable(gpu));

        panel.reset(cache.stats());
        QVERIFY2(!panel.context_text().contains(QStringLiteral("GPU")),
                 qPrintable(panel.context_text()));
        for (const QLineSeries* s : {panel.allocated_series(), panel.live_series(),
                                     panel.mha_series(), panel.gqa_series(), panel.mqa_series()})
            QCOMPARE(s->count(), 0);
    }

    void a_shorter_context_drops_later_points() {
        lc::HostPageAllocator pages;
        lc::LatentCache cache(v2_shape(2), 1000, pages);
        lc::ui::CachePanel panel;
        panel.reset(cache.stats());
        for (const lc::CacheStats& s : grow(cache, {10, 20, 30}))
            panel.add_sample(s);
        cache.truncate(15);
        panel.add_sample(cache.stats());
        QCOMPARE(panel.live_series()->count(), 2);
        QCOMPARE(panel.live_series()->at(1).x(), 15.0);
        QCOMPARE(panel.live_series()->at(1).y(), double(cache.stats().bytes_live));
    }

    void hand_made_stats_and_screenshot() {
        // A small model: ratio 8x as the bundled one (640 / 80 numbers per token).
        lc::CacheStats shape;
        shape.max_tokens = 1024;
        shape.page_tokens = 64;
        shape.layers = 6;
        shape.bytes_per_element = 4;
        shape.mla_elements = 80;
        shape.mha_elements = 640;
        shape.gqa_elements = 640;
        shape.mqa_elements = 80;
        shape.gqa_groups = 8;
        lc::ui::CachePanel panel;
        panel.reset(shape);
        QVERIFY2(panel.ratio_text().contains(QStringLiteral("8.0x")),
                 qPrintable(panel.ratio_text()));
        for (int t : {0, 40, 100, 200, 350, 500, 700}) {
            lc::CacheStats s = shape;
            s.tokens = t;
            s.pages = (t + 63) / 64;
            const size_t e = s.bytes_per_element;
            s.layer_bytes_allocated = size_t(s.pages) * 64 * 80 * e;
            s.layer_bytes_live = size_t(t) * 80 * e;
            s.layer_mha_bytes = size_t(t) * 640 * e;
            s.layer_gqa_bytes = size_t(t) * 640 * e;
            s.layer_mqa_bytes = size_t(t) * 80 * e;
            s.bytes_allocated = s.layer_bytes_allocated * 6;
            s.bytes_live = s.layer_bytes_live * 6;
            s.mha_bytes = s.layer_mha_bytes * 6;
            s.gqa_bytes = s.layer_gqa_bytes * 6;
            s.mqa_bytes = s.layer_mqa_bytes * 6;
            panel.add_sample(s);
        }
        // The sample at 0 tokens adds no point: zero bytes have no place on the log axis.
        QCOMPARE(panel.mha_series()->count(), 6);
        QCOMPARE(panel.mha_series()->at(5).y(), 700.0 * 640 * 4 * 6);
        QVERIFY2(panel.ratio_text().startsWith(QStringLiteral("MHA would need 8.0x more: ")),
                 qPrintable(panel.ratio_text()));
        QVERIFY2(panel.context_text().contains(QStringLiteral("700")),
                 qPrintable(panel.context_text()));

        // Not asserted: a picture for people to look at.
        panel.resize(640, 520);
        panel.show();
        QCoreApplication::processEvents();
        panel.grab().save(QStringLiteral("/tmp/cache_panel.png"));

        lc::HostPageAllocator pages;
        lc::LatentCache cache(v2_shape(60), 4096, pages);
        panel.reset(cache.stats());
        for (const lc::CacheStats& s : grow(cache, {0, 100, 400, 800, 1500, 2200, 3000}))
            panel.add_sample(s);
        QCoreApplication::processEvents();
        panel.grab().save(QStringLiteral("/tmp/cache_panel_v2.png"));
    }
};

QTEST_MAIN(TestCachePanel)
#include "test_cache_panel.moc"
