// Sampler: greedy, determinism, the filters' distributions (checked empirically against an
// independent reference), the repetition penalty, bad logits, validation, no allocation.
#include <QtTest>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <numeric>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/sampler.h"
#include "error_of.h"

// Counts heap allocations while `g_counting` is set, to check that sample() makes none.
namespace {

using lc_test::error_of;
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
    if (g_counting.load(std::memory_order_relaxed)) ++g_allocations;
    if (void* p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
// The other forms go through the same pair, so every new meets its own delete.
void* operator new[](std::size_t size) {
    return operator new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    try {
        return operator new(size);
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
    return operator new(size, tag);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The distribution sample() should draw from, computed independently in double: softmax of
// logit / T, then top-k, min-p (p >= min_p * p_max) and top-p (smallest prefix holding at
// least top_p of what is left), each on the renormalised survivors of the one before.
std::vector<double> reference(const std::vector<float>& logits, const lc::SamplingParams& p) {
    const size_t n = logits.size();
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return logits[a] > logits[b]; });
    std::vector<double> prob(n, 0.0);
    const double mx = logits[order[0]];
    for (size_t i = 0; i < n; ++i)
        prob[i] = std::exp((logits[i] - mx) / p.temperature);
    size_t kept = n;
    if (p.top_k > 0) kept = std::min(kept, static_cast<size_t>(p.top_k));
    const double pmax = prob[order[0]];
    size_t k = 0;
    while (k < kept && prob[order[k]] >= p.min_p * pmax)
        ++k;
    kept = k;
    double total = 0.0;
    for (size_t i = 0; i < kept; ++i)
        total += prob[order[i]];
    if (p.top_p < 1.0f) {
        double cum = 0.0;
        size_t m = 0;
        while (m < kept) {
            cum += prob[order[m++]] / total;
            if (cum >= p.top_p) break;
        }
        kept = m;
    }
    std::vector<double> out(n, 0.0);
    total = 0.0;
    for (size_t i = 0; i < kept; ++i)
        total += prob[order[i]];
    for (size_t i = 0; i < kept; ++i)
        out[order[i]] = prob[order[i]] / total;
    return out;
}

lc::SamplingParams plain(float temperature = 1.0f) {
    lc::SamplingParams p;
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repetition_penalty = 1.0f;
    p.seed = 7;
    return p;
}

std::vector<int> counts(const lc::SamplingParams& params, const std::vector<float>& logits,
                        int draws, const std::vector<int>& recent = {}) {
    lc::Sampler sampler(params, static_cast<int>(logits.size()));
    std::vector<int> c(logits.size(), 0);
    std::vector<float> work(logits.size());
    for (int i = 0; i < draws; ++i) {
        work = logits;
        const int id = sampler.sample(work, recent);
        if (id < 0 || id >= static_cast<int>(logits.size())) return {};
        ++c[static_cast<size_t>(id)];
    }
    return c;
}

// Every count within 5 sigma of its expectation; impossible ids never drawn.
bool matches(const std::vector<int>& c, const std::vector<double>& want, int draws, QString* why) {
    if (c.size() != want.size()) {
        *why = "bad id drawn";
        return false;
    }
    for (size_t i = 0; i < c.size(); ++i) {
        const double mean = draws * want[i];
        const double sigma = std::sqrt(draws * want[i] * (1.0 - want[i]));
        if (want[i] == 0.0 ? c[i] != 0 : std::abs(c[i] - mean) > 5.0 * sigma + 1.0) {
            *why = QString("id %1: drawn %2 times, expected %3 (p=%4)")
                       .arg(i)
                       .arg(c[i])
                       .arg(mean)
                       .arg(want[i]);
            return false;
        }
    }
    return true;
}

const std::vector<float> kLogits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f, 0.0f, 1.9f, -3.0f};

}  // namespace

class TestSampler : public QObject {
    Q_OBJECT

private slots:
    void argmax_first_max() {
        const std::vector<float> v = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f};
        QCOMPARE(lc::argmax(v), 1);
        const std::vector<float> with_nan = {kNaN, -5.0f, kNaN, -1.0f};
        QCOMPARE(lc::argmax(with_nan), 3);
        QCOMPARE(lc::argmax(std::vector<float>{kNaN, kNaN}), 0);
        QCOMPARE(lc::argmax(std::vector<float>{}), -1);
    }

    void greedy_is_argmax() {
        lc::Sampler sampler(plain(0.0f), static_cast<int>(kLogits.size()));
        for (int i = 0; i < 50; ++i) {
            auto work = kLogits;
            QCOMPARE(sampler.sample(work, {}), lc::argmax(kLogits));
        }
        std::vector<float> ties = {0.0f, 4.0f, 4.0f, 4.0f, 1.0f, 0.0f, 0.0f, 0.0f};
        QCOMPARE(sampler.sample(ties, {}), 1);
    }

    void top_k_one_is_greedy() {
        for (float t : {0.1f, 1.0f, 5.0f, 100.0f}) {
            auto p = plain(t);
            p.top_k = 1;
            lc::Sampler sampler(p, static_cast<int>(kLogits.size()));
            for (int i = 0; i < 200; ++i) {
                auto work = kLogits;
                QCOMPARE(sampler.sample(work, {}), 1);
            }
        }
    }

    void same_seed_same_sequence() {
        auto p = plain(1.5f);
        p.seed = 1234;
        lc::Sampler a(p, static_cast<int>(kLogits.size()));
        lc::Sampler b(p, static_cast<int>(kLogits.size()));
        p.seed = 1235;
        lc::Sampler c(p, static_cast<int>(kLogits.size()));
        std::vector<int> sa, sb, sc;
        for (int i = 0; i < 2000; ++i) {
            auto w1 = kLogits, w2 = kLogits, w3 = kLogits;
            sa.push_back(a.sample(w1, {}));
            sb.push_back(b.sample(w2, {}));
            sc.push_back(c.sample(w3, {}));
        }
        QCOMPARE(sa, sb);
        QVERIFY(sa != sc);

        // reseed() starts the same sequence again.
        a.reseed(1234);
        QCOMPARE(a.params().seed, uint64_t(1234));
        for (int i = 0; i < 2000; ++i) {
            auto w = kLogits;
            QCOMPARE(a.sample(w, {}), sa[static_cast<size_t>(i)]);
        }
    }

    void golden_sequence() {
        // The draw uses mt19937_64 and its own uniform, so the ids are the same with every
        // standard library; a change here changes what users with a fixed seed get.
        auto p = plain(1.0f);
        p.seed = 42;
        lc::Sampler sampler(p, static_cast<int>(kLogits.size()));
        std::vector<int> got;
        for (int i = 0; i < 24; ++i) {
            auto w = kLogits;
            got.push_back(sampler.sample(w, {}));
        }
        const std::vector<int> want = {4, 4, 4, 1, 2, 1, 6, 6, 1, 6, 1, 6,
                                       4, 4, 0, 5, 4, 6, 1, 1, 4, 1, 6, 1};
        QCOMPARE(got, want);
    }

    void frequencies_match_softmax_data() {
        QTest::addColumn<float>("temperature");
        QTest::addColumn<int>("top_k");
        QTest::addColumn<float>("top_p");
        QTest::addColumn<float>("min_p");
        QTest::newRow("softmax") << 1.0f << 0 << 1.0f << 0.0f;
        QTest::newRow("hot") << 2.0f << 0 << 1.0f << 0.0f;
        QTest::newRow("cold") << 0.5f << 0 << 1.0f << 0.0f;
        QTest::newRow("top_k") << 1.0f << 3 << 1.0f << 0.0f;
        QTest::newRow("top_p") << 1.0f << 0 << 0.7f << 0.0f;
        QTest::newRow("top_p_tiny") << 1.0f << 0 << 0.01f << 0.0f;
        QTest::newRow("min_p") << 1.0f << 0 << 1.0f << 0.3f;
        QTest::newRow("all") << 1.3f << 5 << 0.8f << 0.1f;
        QTest::newRow("defaults") << 0.8f << 40 << 0.95f << 0.05f;
    }

    void frequencies_match_softmax() {
        QFETCH(float, temperature);
        QFETCH(int, top_k);
        QFETCH(float, top_p);
        QFETCH(float, min_p);
        auto p = plain(temperature);
        p.top_k = top_k;
        p.top_p = top_p;
        p.min_p = min_p;
        const int draws = 20000;
        const auto want = reference(kLogits, p);
        QString why;
        QVERIFY2(matches(counts(p, kLogits, draws), want, draws, &why), qPrintable(why));
    }

    void repetition_penalty_lowers_repeats() {
        // CTRL: positive logits divided, negative multiplied, each distinct id once.
        auto p = plain(0.0f);
        p.repetition_penalty = 2.0f;
        lc::Sampler greedy(p, 2);
        std::vector<float> pos = {2.0f, 1.5f};
        QCOMPARE(greedy.sample(pos, std::vector<int>{0}), 1);
        std::vector<float> neg = {-1.0f, -1.5f};
        QCOMPARE(greedy.sample(neg, std::vector<int>{0}), 1);
        std::vector<float> once = {2.0f, 0.9f};  // 2 / 2 = 1 > 0.9, not 2 / 8
        QCOMPARE(greedy.sample(once, std::vector<int>{0, 0, 0}), 0);
        // Only the last `repetition_window` ids count.
        p.repetition_window = 2;
        lc::Sampler windowed(p, 3);
        std::vector<float> w = {2.0f, 1.5f, 0.0f};
        QCOMPARE(windowed.sample(w, std::vector<int>{0, 2, 2}), 0);  // 0 is out of the window
        std::vector<float> w2 = {2.0f, 1.5f, 0.0f};
        QCOMPARE(windowed.sample(w2, std::vector<int>{2, 0, 2}), 1);
        // Ids outside the vocabulary are ignored.
        std::vector<float> w3 = {2.0f, 1.5f, 0.0f};
        QCOMPARE(windowed.sample(w3, std::vector<int>{-1, 7}), 0);

        // Empirically: the repeated id is drawn less often, as the reference predicts.
        auto s = plain(1.0f);
        s.repetition_penalty = 1.5f;
        const std::vector<int> recent = {1, 4, 1};
        auto penalised = kLogits;
        penalised[1] /= 1.5f;
        penalised[4] /= 1.5f;
        const int draws = 20000;
        const auto c = counts(s, kLogits, draws, recent);
        const auto base = counts(plain(1.0f), kLogits, draws);
        QVERIFY(c[1] < base[1] && c[4] < base[4]);
        QString why;
        QVERIFY2(matches(c, reference(penalised, plain(1.0f)), draws, &why), qPrintable(why));
    }

    void bad_logits() {
        auto p = plain(1.0f);
        lc::Sampler sampler(p, 4);
        for (int i = 0; i < 200; ++i) {
            std::vector<float> v = {kNaN, 1.0f, kNaN, -kInf};
            QCOMPARE(sampler.sample(v, {}), 1);
        }
        std::vector<float> all_nan = {kNaN, kNaN, kNaN, kNaN};
        QCOMPARE(sampler.sample(all_nan, {}), 0);
        std::vector<float> all_ninf = {-kInf, -kInf, -kInf, -kInf};
        QCOMPARE(sampler.sample(all_ninf, {}), 0);
        std::vector<float> pinf = {1.0f, kInf, 3.0f, kNaN};
        QCOMPARE(sampler.sample(pinf, {}), 1);
        // A temperature too small to invert is still greedy-like, not NaN.
        p.temperature = 1e-40f;
        lc::Sampler tiny(p, 4);
        std::vector<float> v = {1.0f, 2.0f, 1.5f, 0.0f};
        QCOMPARE(tiny.sample(v, {}), 1);
        // Wrong logit count.
        std::vector<float> short_logits = {1.0f};
        QVERIFY(error_of([&] { sampler.sample(short_logits, {}); }).find("4") != std::string::npos);
    }

    void validate_names_the_field() {
        const auto msg = [](auto change) {
            lc::SamplingParams p;
            change(p);
            return error_of([&] { p.validate(); });
        };
        QCOMPARE(error_of([] { lc::SamplingParams().validate(); }),
                 std::string("(no lc::Error thrown)"));
        QCOMPARE(msg([](auto& p) { p.top_p = 1.5f; }),
                 std::string("top_p must be in (0, 1], got 1.5"));
        QVERIFY(msg([](auto& p) { p.top_p = 0.0f; }).starts_with("top_p "));
        QVERIFY(msg([](auto& p) { p.temperature = -1.0f; }).starts_with("temperature "));
        QVERIFY(msg([](auto& p) { p.temperature = kNaN; }).starts_with("temperature "));
        QVERIFY(msg([](auto& p) { p.temperature = kInf; }).starts_with("temperature "));
        QVERIFY(msg([](auto& p) { p.top_k = -1; }).starts_with("top_k "));
        QVERIFY(msg([](auto& p) { p.min_p = 1.0f; }).starts_with("min_p "));
        QVERIFY(msg([](auto& p) { p.min_p = -0.1f; }).starts_with("min_p "));
        QVERIFY(
            msg([](auto& p) { p.repetition_penalty = 0.0f; }).starts_with("repetition_penalty "));
        QVERIFY(msg([](auto& p) { p.repetition_window = -2; }).starts_with("repetition_window "));
        // Edges that are allowed.
        QCOMPARE(msg([](auto& p) {
                     p.temperature = 0.0f;
                     p.top_k = 0;
                     p.top_p = 1.0f;
                     p.min_p = 0.0f;
                     p.repetition_window = 0;
                 }),
                 std::string("(no lc::Error thrown)"));
        // The sampler refuses bad parameters too.
        lc::SamplingParams bad;
        bad.top_k = -3;
        QVERIFY(error_of([&] { lc::Sampler s(bad, 10); }).starts_with("top_k "));
    }

    void sample_does_not_allocate() {
        const int n = 32000;
        std::vector<float> logits(n);
        std::mt19937 rng(5);
        std::normal_distribution<float> normal(0.0f, 3.0f);
        for (float& v : logits)
            v = normal(rng);
        std::vector<int> recent(100);
        for (int& id : recent)
            id = static_cast<int>(rng() % n);

        // The counter sees allocations at all.
        g_allocations = 0;
        g_counting = true;
        auto probe = std::make_unique<std::vector<int>>(10);
        g_counting = false;
        QVERIFY(g_allocations.load() >= 2);
        probe.reset();

        lc::SamplingParams configs[4];
        configs[0] = plain(1.0f);              // full sort
        configs[1].repetition_penalty = 1.3f;  // defaults: top-k, top-p, min-p
        configs[2] = plain(0.0f);
        configs[3] = plain(0.7f);
        configs[3].top_p = 0.9f;
        for (const auto& p : configs) {
            lc::Sampler sampler(p, n);
            std::vector<float> work = logits;
            g_allocations = 0;
            g_counting = true;
            for (int i = 0; i < 20; ++i) {
                std::copy(logits.begin(), logits.end(), work.begin());
                const int id = sampler.sample(work, recent);
                if (id < 0 || id >= n) g_allocations += 1000;
            }
            g_counting = false;
            QCOMPARE(g_allocations.load(), 0L);
        }
    }
};

QTEST_APPLESS_MAIN(TestSampler)
#include "test_sampler.moc"
