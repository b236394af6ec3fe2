// The inference worker on a real QThread, driven only by queued invocations and observed with
// QSignalSpy, as the main window drives it; plus ConversationSettings and ChatModel.
#include <QDir>
#include <QMetaObject>
#include <QSettings>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>
#include <atomic>
#include <functional>

#include "chat_model.h"
#include "conversation_settings.h"
#include "inference_worker.h"

using lc::CacheStats;
using lc::Message;
using lc::MessageMeta;
using lc::ui::ChatModel;
using lc::ui::ConversationSettings;
using lc::ui::InferenceWorker;
using lc::ui::ModelSummary;

namespace {

const QString kBundled = QStringLiteral(LC_SOURCE_DIR "/resources/models/latentchat-stories-13m");
constexpr int kWaitMs = 120000;

// Everything one generate() call sent back.
struct Reply {
    bool finished = false;
    QString failure;
    int prompt_tokens = -1;  // generation_started
    int reused_tokens = -1;
    QStringList pieces;  // tokens_arrived texts
    QList<CacheStats> piece_cache;
    QList<int> piece_generated;
    QString text;  // generation_finished
    MessageMeta stats;
    CacheStats cache;
};

ConversationSettings seeded(quint64 seed, int max_tokens) {
    ConversationSettings s;
    s.random_seed = false;
    s.seed = seed;
    s.max_tokens = max_tokens;
    return s;
}

QList<Message> ask(const QString& text) {
    return {Message("user", text.toStdString())};
}

}  // namespace

// Lives on the test's thread and re-sends the worker's signals: they cross threads by queued
// connection (arguments copied through the meta-type system) as they do to the main window.
// The spies watch the relay; QSignalSpy on the worker itself would record on the worker's
// thread, unsynchronised with the test's reads.
class Relay : public QObject {
    Q_OBJECT

public:
    explicit Relay(InferenceWorker* w) {
        connect(w, &InferenceWorker::load_progress, this, &Relay::load_progress);
        connect(w, &InferenceWorker::model_loaded, this, &Relay::model_loaded);
        connect(w, &InferenceWorker::load_failed, this, &Relay::load_failed);
        connect(w, &InferenceWorker::generation_started, this, &Relay::generation_started);
        connect(w, &InferenceWorker::tokens_arrived, this, &Relay::tokens_arrived);
        connect(w, &InferenceWorker::generation_finished, this, &Relay::generation_finished);
        connect(w, &InferenceWorker::generation_failed, this, &Relay::generation_failed);
    }

signals:
    void load_progress(int percent, const QString& what);
    void model_loaded(const lc::ui::ModelSummary& summary);
    void load_failed(const QString& message);
    void generation_started(int prompt_tokens, int reused_tokens);
    void tokens_arrived(const QString& text, const lc::CacheStats& cache, int generated_tokens,
                        double tokens_per_second);
    void generation_finished(const QString& reply, const lc::MessageMeta& stats,
                             const lc::CacheStats& cache);
    void generation_failed(const QString& message);
};

class TestInferenceWorker : public QObject {
    Q_OBJECT

private:
    QThread* thread_ = nullptr;
    InferenceWorker* worker_ = nullptr;
    Relay* relay_ = nullptr;

    // Starts a generation by queued invocation and waits for its last signal.
    Reply run(const QList<Message>& conversation, const ConversationSettings& settings,
              const std::function<void(int)>& on_piece = {}) {
        Reply r;
        QSignalSpy started(relay_, &Relay::generation_started);
        QSignalSpy arrived(relay_, &Relay::tokens_arrived);
        QSignalSpy finished(relay_, &Relay::generation_finished);
        QSignalSpy failed(relay_, &Relay::generation_failed);
        QMetaObject::Connection watch;
        if (on_piece)  // runs on this (the test's) thread, as each piece arrives
            watch = connect(relay_, &Relay::tokens_arrived, this,
                            [&](const QString&, const CacheStats&, int n, double) { on_piece(n); });
        const bool ok = QMetaObject::invokeMethod(worker_, "generate", Qt::QueuedConnection,
                                                  Q_ARG(QList<lc::Message>, conversation),
                                                  Q_ARG(lc::ui::ConversationSettings, settings));
        if (!ok) {
            r.failure = QStringLiteral("invokeMethod failed");
            return r;
        }
        QElapsedTimer t;
        t.start();
        while (finished.isEmpty() && failed.isEmpty() && t.elapsed() < kWaitMs)
            QTest::qWait(5);
        if (watch) disconnect(watch);
        if (!started.isEmpty()) {
            r.prompt_tokens = started.at(0).at(0).toInt();
            r.reused_tokens = started.at(0).at(1).toInt();
        }
        for (const QList<QVariant>& a : arrived) {
            r.pieces << a.at(0).toString();
            r.piece_cache << a.at(1).value<CacheStats>();
            r.piece_generated << a.at(2).toInt();
        }
        if (!failed.isEmpty()) r.failure = failed.at(0).at(0).toString();
        if (!finished.isEmpty()) {
            r.finished = true;
            r.text = finished.at(0).at(0).toString();
            r.stats = finished.at(0).at(1).value<MessageMeta>();
            r.cache = finished.at(0).at(2).value<CacheStats>();
        }
        return r;
    }

    // Loads by queued invocation; returns the summary, or fails the test.
    bool load(const QString& dir, ModelSummary* summary = nullptr, QString* failure = nullptr,
              const QString& device = QStringLiteral("cpu")) {
        QSignalSpy loaded(relay_, &Relay::model_loaded);
        QSignalSpy failed(relay_, &Relay::load_failed);
        QMetaObject::invokeMethod(worker_, "load_model", Qt::QueuedConnection, Q_ARG(QString, dir),
                                  Q_ARG(QString, device));
        QElapsedTimer t;
        t.start();
        while (loaded.isEmpty() && failed.isEmpty() && t.elapsed() < kWaitMs)
            QTest::qWait(5);
        if (!loaded.isEmpty() && summary) *summary = loaded.at(0).at(0).value<ModelSummary>();
        if (!failed.isEmpty() && failure) *failure = failed.at(0).at(0).toString();
        return !loaded.isEmpty();
    }

    void reset_context() {
        QMetaObject::invokeMethod(worker_, "reset_context", Qt::QueuedConnection);
    }

private slots:
    void initTestCase() {
        thread_ = new QThread;
        worker_ = new InferenceWorker;
        worker_->moveToThread(thread_);
        relay_ = new Relay(worker_);
        thread_->start();
    }

    void cleanupTestCase() {
        thread_->quit();
        thread_->wait();
        delete worker_;  // its thread has finished: nothing else touches it
        delete thread_;
        delete relay_;
    }

    void generate_without_model_fails() {
        Reply r = run(ask("Hello"), seeded(1, 8));
        QVERIFY(!r.finished);
        QCOMPARE(r.failure, QStringLiteral("No model is loaded."));
    }

    void loads_the_bundled_model() {
        QSignalSpy progress(relay_, &Relay::load_progress);
        ModelSummary s;
        QVERIFY(load(kBundled, &s));
        QCOMPARE(progress.size(), 4);
        QCOMPARE(progress.at(0).at(0).toInt(), 0);
        QCOMPARE(progress.at(0).at(1).toString(), QStringLiteral("Reading config"));
        QCOMPARE(progress.at(1).at(0).toInt(), 30);
        QCOMPARE(progress.at(2).at(0).toInt(), 70);
        QCOMPARE(progress.at(3).at(0).toInt(), 100);
        QCOMPARE(progress.at(3).at(1).toString(), QStringLiteral("Ready"));
        QCOMPARE(s.name, QStringLiteral("latentchat-stories-13m"));
        QCOMPARE(s.parameters, qint64(12753320));
        QCOMPARE(s.layers, 6);
        QCOMPARE(s.context, 1024);
        QCOMPARE(s.model_type, QStringLiteral("deepseek_v3"));
        QCOMPARE(s.licence, QStringLiteral("CDLA-Sharing-1.0"));
        QCOMPARE(s.empty_cache.tokens, 0);
        QCOMPARE(s.empty_cache.layers, 6);
        QCOMPARE(s.empty_cache.mla_elements, int64_t(64 + 16));
        QCOMPARE(s.empty_cache.max_tokens, 1024);
    }

    void a_bad_folder_fails_and_keeps_the_model() {
        QTemporaryDir empty;
        QVERIFY(empty.isValid());
        QString failure;
        QVERIFY(!load(empty.path(), nullptr, &failure));
        QVERIFY2(failure.contains(empty.path()), qPrintable(failure));
        QVERIFY(!load(empty.path() + "/missing", nullptr, &failure));
        QVERIFY2(failure.contains("missing"), qPrintable(failure));
        // The previous model still answers.
        Reply r = run(ask("Tell me a story."), seeded(3, 4));
        QVERIFY2(r.finished, qPrintable(r.failure));
        QVERIFY(r.stats.token_count >= 1);
        // And a good folder still loads.
        ModelSummary s;
        QVERIFY(load(kBundled, &s));
        QCOMPARE(s.layers, 6);
    }

    void empty_folder_means_the_bundled_model() {
        // Found through the source tree (LATENTCHAT_SOURCE_MODELS) or else LATENTCHAT_MODEL.
        qputenv("LATENTCHAT_MODEL", kBundled.toUtf8());
        QSignalSpy progress(relay_, &Relay::load_progress);
        ModelSummary s;
        QVERIFY(load(QString(), &s, nullptr, QStringLiteral("cuda")));
        QCOMPARE(s.name, QStringLiteral("latentchat-stories-13m"));
        bool says_cpu = false;
        for (const auto& p : progress)
            says_cpu |= p.at(1).toString().contains("CPU");
        QVERIFY(says_cpu);
    }

    void streams_coalesced_text_and_cache_stats() {
        reset_context();
        Reply r = run(ask("Tell me a story about a cat."), seeded(11, 200));
        QVERIFY2(r.finished, qPrintable(r.failure));
        QVERIFY(r.prompt_tokens > 0);
        QCOMPARE(r.reused_tokens, 0);
        qInfo("%d prompt tokens, %d generated (%s), %lld signals, %.0f tokens/s", r.prompt_tokens,
              r.stats.token_count, r.stats.finish_reason.c_str(), qlonglong(r.pieces.size()),
              r.stats.tokens_per_second);
        QVERIFY2(r.stats.token_count >= 20, qPrintable(r.text));
        QVERIFY(!r.pieces.isEmpty());
        QCOMPARE(r.pieces.join(QString()), r.text);
        // Coalesced: fewer signals than tokens at 16 ms and ~1000+ tokens a second.
        QVERIFY2(
            r.pieces.size() < r.stats.token_count,
            qPrintable(
                QString("%1 signals, %2 tokens").arg(r.pieces.size()).arg(r.stats.token_count)));
        QVERIFY(r.stats.time_to_first_token_ms > 0);
        QVERIFY(r.stats.tokens_per_second > 0);
        QVERIFY(!r.stats.finish_reason.empty());
        // The last generated token is not fed back: the cache holds the prompt and the rest.
        const int prompt = r.prompt_tokens + r.reused_tokens;
        const CacheStats& last = r.piece_cache.last();
        // The last piece may come before the final tokens when those add no text (a stop
        // string is cut off), so it is checked against its own token count.
        QVERIFY(r.piece_generated.last() <= r.stats.token_count);
        QCOMPARE(last.tokens, prompt + r.piece_generated.last() - 1);
        QCOMPARE(r.cache.tokens, prompt + r.stats.token_count - 1);
        for (const CacheStats& c : {last, r.cache})
            QCOMPARE(c.bytes_live, size_t(c.tokens) * size_t(c.mla_elements) * 4 * 6);
    }

    void a_follow_up_reuses_the_cache() {
        reset_context();
        QList<Message> conversation = ask("Tell me a story about a dog.");
        Reply first = run(conversation, seeded(5, 40));
        QVERIFY2(first.finished, qPrintable(first.failure));
        conversation << Message("assistant", first.text.toStdString())
                     << Message("user", "What happened next?");
        Reply second = run(conversation, seeded(5, 40));
        QVERIFY2(second.finished, qPrintable(second.failure));
        QVERIFY2(second.reused_tokens > 0, qPrintable(QString::number(second.reused_tokens)));
        QVERIFY(second.reused_tokens >= first.prompt_tokens - 1);
    }

    void the_same_seed_gives_the_same_reply() {
        ConversationSettings s = seeded(7, 60);
        reset_context();
        Reply a = run(ask("Once upon a time"), s);
        reset_context();
        Reply b = run(ask("Once upon a time"), s);
        QVERIFY2(a.finished && b.finished, qPrintable(a.failure + b.failure));
        QCOMPARE(a.stats.token_count, b.stats.token_count);
        QCOMPARE(a.text, b.text);
    }

    void stop_ends_the_reply_within_one_token() {
        reset_context();
        worker_->set_coalesce_interval_ms(0);  // a signal per token (the worker is idle now)
        // Counted on the worker's thread as tokens come; slowed down so the reply is still
        // running when the test thread gets its first signal.
        std::atomic<int> generated{0};
        auto counter = connect(
            worker_, &InferenceWorker::tokens_arrived, worker_,
            [&](const QString&, const CacheStats&, int n, double) {
                generated.store(n);
                QThread::msleep(3);
            },
            Qt::DirectConnection);
        int at_stop = -1;
        ConversationSettings s = seeded(13, 1000);
        s.temperature = 1.0;
        Reply r = run(ask("Tell me a long story."), s, [&](int n) {
            if (at_stop >= 0 || n < 10) return;
            worker_->request_stop();  // straight from this thread, as the Stop button does
            at_stop = generated.load();
        });
        disconnect(counter);
        worker_->set_coalesce_interval_ms(16);
        QVERIFY2(r.finished, qPrintable(r.failure));
        qInfo("stopped at %d tokens, %d generated", at_stop, r.stats.token_count);
        QVERIFY(at_stop >= 10);
        QCOMPARE(QString::fromStdString(r.stats.finish_reason), QStringLiteral("cancelled"));
        QVERIFY2(
            r.stats.token_count <= at_stop + 1,
            qPrintable(QString("%1 tokens, %2 at stop").arg(r.stats.token_count).arg(at_stop)));
        QCOMPARE(r.pieces.join(QString()), r.text);
        // The next reply runs normally: stop is cleared by generate.
        Reply next = run(ask("Hello"), seeded(2, 5));
        QVERIFY2(next.finished, qPrintable(next.failure));
        QVERIFY(next.stats.finish_reason != "cancelled");
    }

    void bad_settings_and_overlong_messages_fail_cleanly() {
        ConversationSettings s = seeded(1, 10);
        s.top_p = 0;  // the sampler refuses it: an lc::Error inside the worker
        Reply r = run(ask("Hello"), s);
        QVERIFY(!r.finished);
        QVERIFY2(r.failure.contains("top_p"), qPrintable(r.failure));

        QString huge;
        for (int i = 0; i < 1500; ++i)
            huge += QStringLiteral("cat dog ");
        r = run(ask(huge), seeded(1, 10));
        QVERIFY(!r.finished);
        QVERIFY2(r.failure.contains("too long"), qPrintable(r.failure));

        // Old turns are dropped to make room; the last message is kept.
        QString long_turn;
        for (int i = 0; i < 120; ++i)
            long_turn += QStringLiteral("the cat sat. ");
        QList<Message> conversation{Message("system", "You tell stories.")};
        for (int i = 0; i < 6; ++i)
            conversation << Message("user", long_turn.toStdString())
                         << Message("assistant", long_turn.toStdString());
        conversation << Message("user", "And then?");
        reset_context();
        r = run(conversation, seeded(1, 10));
        QVERIFY2(r.finished, qPrintable(r.failure));
        QVERIFY(r.prompt_tokens + 10 <= 1024);
    }

    void settings_round_trip_through_qsettings() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString file = dir.filePath("settings.ini");
        ConversationSettings s;
        s.model_dir = "/models/x";
        s.device = "cuda";
        s.system_prompt = "Be brief.\nVery brief.";
        s.temperature = 0.3;
        s.top_p = 0.5;
        s.top_k = 7;
        s.min_p = 0.1;
        s.repetition_penalty = 1.2;
        s.max_tokens = 99;
        s.seed = 18446744073709551557ull;
        s.random_seed = false;
        {
            QSettings store(file, QSettings::IniFormat);
            s.save_defaults(store);
        }
        QSettings store(file, QSettings::IniFormat);
        const ConversationSettings l = ConversationSettings::load_defaults(store);
        QCOMPARE(l.model_dir, s.model_dir);
        QCOMPARE(l.device, s.device);
        QCOMPARE(l.system_prompt, s.system_prompt);
        QCOMPARE(l.temperature, s.temperature);
        QCOMPARE(l.top_p, s.top_p);
        QCOMPARE(l.top_k, s.top_k);
        QCOMPARE(l.min_p, s.min_p);
        QCOMPARE(l.repetition_penalty, s.repetition_penalty);
        QCOMPARE(l.max_tokens, s.max_tokens);
        QCOMPARE(l.seed, s.seed);
        QCOMPARE(l.random_seed, s.random_seed);
    }

    void out_of_range_settings_fall_back() {
        QTemporaryDir dir;
        const QString file = dir.filePath("settings.ini");
        {
            QSettings store(file, QSettings::IniFormat);
            store.beginGroup("defaults");
            store.setValue("device", "tpu");
            store.setValue("temperature", -1.0);
            store.setValue("top_p", 0.0);
            store.setValue("top_k", -3);
            store.setValue("min_p", 1.0);
            store.setValue("repetition_penalty", "lots");
            store.setValue("max_tokens", 0);
            store.setValue("seed", "not a number");
            store.setValue("random_seed", "maybe");
            store.endGroup();
        }
        QSettings store(file, QSettings::IniFormat);
        const ConversationSettings l = ConversationSettings::load_defaults(store);
        const ConversationSettings d;
        QCOMPARE(l.device, d.device);
        QCOMPARE(l.temperature, d.temperature);
        QCOMPARE(l.top_p, d.top_p);
        QCOMPARE(l.top_k, d.top_k);
        QCOMPARE(l.min_p, d.min_p);
        QCOMPARE(l.repetition_penalty, d.repetition_penalty);
        QCOMPARE(l.max_tokens, d.max_tokens);
        QCOMPARE(l.seed, d.seed);
        QCOMPARE(l.random_seed, d.random_seed);
        // Nothing stored at all: the built-ins.
        QSettings blank(dir.filePath("blank.ini"), QSettings::IniFormat);
        QCOMPARE(ConversationSettings::load_defaults(blank).max_tokens, d.max_tokens);
    }

    void settings_become_generation_options() {
        ConversationSettings s;
        s.temperature = 0.25;
        s.top_p = 0.5;
        s.top_k = 3;
        s.min_p = 0.2;
        s.repetition_penalty = 1.5;
        s.max_tokens = 77;
        s.seed = 42;
        s.random_seed = false;
        lc::GenerationOptions o = s.to_options(999);
        QCOMPARE(o.sampling.temperature, 0.25f);
        QCOMPARE(o.sampling.top_p, 0.5f);
        QCOMPARE(o.sampling.top_k, 3);
        QCOMPARE(o.sampling.min_p, 0.2f);
        QCOMPARE(o.sampling.repetition_penalty, 1.5f);
        QCOMPARE(o.max_tokens, 77);
        QCOMPARE(o.sampling.seed, uint64_t(42));
        QVERIFY(o.stop_at_eos);
        s.random_seed = true;
        QCOMPARE(s.to_options(999).sampling.seed, uint64_t(999));
    }

    void chat_model_rows_roles_and_turns() {
        ChatModel m;
        QSignalSpy inserted(&m, &QAbstractItemModel::rowsInserted);
        QSignalSpy changed(&m, &QAbstractItemModel::dataChanged);
        QSignalSpy removed(&m, &QAbstractItemModel::rowsRemoved);
        QCOMPARE(m.add_message("user", "Hi"), 0);
        QCOMPARE(m.add_message("assistant", "", true), 1);
        QCOMPARE(m.rowCount(), 2);
        QCOMPARE(inserted.size(), 2);
        QCOMPARE(m.data(m.index(0), ChatModel::RoleRole).toString(), QStringLiteral("user"));
        QCOMPARE(m.data(m.index(0), ChatModel::TextRole).toString(), QStringLiteral("Hi"));
        QCOMPARE(m.data(m.index(1), ChatModel::StreamingRole).toBool(), true);
        QVERIFY(m.roleNames().contains(ChatModel::StatsTextRole));

        m.append_text(1, "Once");
        m.append_text(1, " upon");
        QCOMPARE(changed.size(), 2);
        QCOMPARE(changed.at(0).at(0).value<QModelIndex>().row(), 1);
        QCOMPARE(QString::fromStdString(m.message(1).content), QStringLiteral("Once upon"));

        MessageMeta st;
        st.token_count = 180;
        st.time_to_first_token_ms = 120.0;
        st.tokens_per_second = 42.0;
        st.finish_reason = "eos";
        m.finish(1, st);
        QCOMPARE(m.data(m.index(1), ChatModel::StreamingRole).toBool(), false);
        QCOMPARE(m.data(m.index(1), ChatModel::StatsTextRole).toString(),
                 QString::fromUtf8("0.12 s to first token \u00B7 42.0 tokens/s \u00B7 180 tokens"));
        QVERIFY(m.data(m.index(0), ChatModel::StatsTextRole).toString().isEmpty());

        QList<Message> t = m.turns("Be kind.");
        QCOMPARE(t.size(), 3);
        QCOMPARE(QString::fromStdString(t[0].role), QStringLiteral("system"));
        QCOMPARE(QString::fromStdString(t[0].content), QStringLiteral("Be kind."));
        QCOMPARE(QString::fromStdString(t[2].content), QStringLiteral("Once upon"));
        QCOMPARE(m.turns(QString()).size(), 2);

        m.add_message("user", "More");
        m.truncate(1);
        QCOMPARE(m.rowCount(), 1);
        QCOMPARE(removed.size(), 1);
        m.truncate(5);  // nothing to drop
        QCOMPARE(removed.size(), 1);
        m.clear();
        QCOMPARE(m.rowCount(), 0);
        QVERIFY(!m.data(m.index(0), ChatModel::TextRole).isValid());
    }
};

QTEST_GUILESS_MAIN(TestInferenceWorker)
#include "test_inference_worker.moc"
