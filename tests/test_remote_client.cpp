// The remote engine's core (issue 21): the OpenAI-compatible client against
// tests/ref/fake_openai.py (streamed replies, every way the server misbehaves, Stop, timeouts),
// the event-stream parser on its own, base URLs, and the model shape behind the cache estimate.
#include <QElapsedTimer>
#include <QJsonArray>
#include <QTemporaryDir>
#include <QtTest>
#include <atomic>
#include <chrono>
#include <thread>

#include "engine/kv_cache.h"
#include "error_of.h"
#include "fake_openai_server.h"
#include "history/history_store.h"
#include "remote/openai_client.h"
#include "remote/sse.h"
#include "session/remote_model.h"
#include "session/remote_turn.h"

using lc_test::error_of;
using lc_test::fake_reply;
using lc_test::kNoError;
namespace remote = lc::remote;

namespace {

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// Words in the fake server's reply to `message`: one piece each.
int fake_words(const QString& message) {
    return static_cast<int>(fake_reply(message).split(' ').size());
}

remote::ChatRequest ask(const std::string& message) {
    remote::ChatRequest r;
    r.messages.emplace_back("user", message);
    r.max_tokens = 64;
    return r;
}

// The events an SSE stream holds when fed `chunk` bytes at a time.
std::vector<std::string> events_of(const std::string& stream, size_t chunk) {
    std::vector<std::string> out;
    remote::SseParser parser([&](const std::string& data) {
        out.push_back(data);
        return true;
    });
    for (size_t i = 0; i < stream.size(); i += chunk)
        parser.feed(std::string_view(stream).substr(i, chunk));
    return out;
}

}  // namespace

class TestRemoteClient : public QObject {
    Q_OBJECT

    lc_test::FakeOpenAi server_;

    remote::RemoteOptions options(const std::string& model = "fake-mla") const {
        remote::RemoteOptions o;
        o.base_url = server_.url();
        o.model = model;
        o.stall_timeout_s = 20;
        return o;
    }

private slots:
    void initTestCase() {
        QVERIFY2(server_.start(), "tests/ref/fake_openai.py did not start (python3 needed)");
    }

    void base_url_forms() {
        for (const char* u :
             {"http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/",
              " http://h:8000/v1/chat/completions ", "http://h:8000/v1/models"})
            QCOMPARE(remote::normalize_base_url(u), std::string("http://h:8000/v1"));
        QCOMPARE(remote::normalize_base_url("https://example.org/api/openai/v1/"),
                 std::string("https://example.org/api/openai/v1"));
        QVERIFY(contains(error_of([] { remote::normalize_base_url(""); }), "no server URL"));
        QVERIFY(contains(error_of([] { remote::normalize_base_url("ftp://h/v1"); }),
                         "must begin with http:// or https://"));
        QVERIFY(contains(error_of([] { remote::normalize_base_url("http://"); }), "names no host"));
    }

    // The same events whatever the chunking: every split point, \n, \r\n and \r line ends,
    // comments, other fields, lines that are no field, and data over several lines.
    void sse_split_anywhere() {
        const std::string stream =
            ": hello\r\ndata: one\r\n\r\nevent: ping\nid: 3\nnot a field\ndata:two\n"
            "data:  three\n\n\rdata: four\r\rretry: 9\n\ndata\n\n";
        const std::vector<std::string> want = {"one", "two\n three", "four", ""};
        for (size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, stream.size()})
            QCOMPARE(events_of(stream, chunk), want);
        remote::SseParser parser([](const std::string&) { return true; });
        parser.feed("data: {\"cut");
        QVERIFY(parser.mid_line());
    }

    void lists_models_at_every_url_form() {
        for (const QString& suffix : {QString(), QString("/"), QString("/v1"), QString("/v1/")}) {
            remote::RemoteOptions o = options("");
            o.base_url = (server_.root() + suffix).toStdString();
            const std::vector<std::string> ids = remote::list_models(o);
            QCOMPARE(ids.size(), size_t{2});
            QCOMPARE(ids[0], std::string("fake-mla"));
            QCOMPARE(remote::choose_model(o), std::string("fake-mla"));
        }
        QCOMPARE(server_.requests().last()["path"].toString(), QString("/v1/models"));
    }

    void streams_a_reply() {
        server_.clear_log();
        remote::ChatRequest r = ask("Tell me a story.");
        r.messages.insert(r.messages.begin(), lc::Message("system", "Be brief."));
        r.seed = 7;
        r.temperature = 0.25;
        std::string pieces;
        int calls = 0;
        const remote::ChatStreamResult res =
            remote::stream_chat(options(), r, [&](const std::string& t) {
                pieces += t;
                ++calls;
            });
        const std::string want = fake_reply("Tell me a story.").toStdString();
        QCOMPARE(res.text, want);
        QCOMPARE(pieces, want);
        QCOMPARE(res.pieces, fake_words("Tell me a story."));  // one per word
        QCOMPARE(calls, res.pieces);
        QCOMPARE(res.finish_reason, std::string("stop"));
        QCOMPARE(res.completion_tokens, res.pieces);
        QVERIFY(res.prompt_tokens > 0);
        QCOMPARE(res.model, std::string("fake-mla"));
        QVERIFY(!res.cancelled);
        QVERIFY(res.time_to_first_token > 0 && res.time_to_first_token <= res.seconds);
        const QJsonObject body = server_.last_body();
        QCOMPARE(body["stream"].toBool(), true);
        QCOMPARE(body["stream_options"].toObject()["include_usage"].toBool(), true);
        QCOMPARE(body["model"].toString(), QString("fake-mla"));
        QCOMPARE(body["max_tokens"].toInt(), 64);
        QCOMPARE(body["temperature"].toDouble(), 0.25);
        QCOMPARE(body["seed"].toInt(), 7);
        QVERIFY(!body.contains("top_k"));  // not OpenAI's: only when asked for
        const QJsonArray messages = body["messages"].toArray();
        QCOMPARE(messages.size(), 2);
        QCOMPARE(messages[0].toObject()["role"].toString(), QString("system"));
        QCOMPARE(messages[1].toObject()["content"].toString(), QString("Tell me a story."));
    }

    void max_tokens_is_a_length_finish() {
        remote::ChatRequest r = ask("a long one");
        r.max_tokens = 3;
        const auto res = remote::stream_chat(options(), r, {});
        QCOMPARE(res.text, std::string("Hello from the "));
        QCOMPARE(res.finish_reason, std::string("length"));
    }

    void byte_by_byte_with_crlf() {
        const auto res = remote::stream_chat(options(), ask("split [split]"), {});
        QCOMPARE(res.text, fake_reply("split [split]").toStdString());
        QCOMPARE(res.finish_reason, std::string("stop"));
    }

    void garbage_lines_are_ignored() {
        const auto res = remote::stream_chat(options(), ask("x [garbage]"), {});
        QCOMPARE(res.text, fake_reply("x [garbage]").toStdString());
    }

    void whole_json_reply() {
        const auto res = remote::stream_chat(options(), ask("no stream [json]"), {});
        QCOMPARE(res.text, fake_reply("no stream [json]").toStdString());
        QCOMPARE(res.finish_reason, std::string("stop"));
    }

    void misbehaving_server_errors_name_the_url() {
        const std::string url = server_.url() + "/v1/chat/completions";
        auto failure = [&](const std::string& message) {
            return error_of([&] { remote::stream_chat(options(), ask(message), {}); });
        };
        std::string e = failure("[cut]");
        QVERIFY2(contains(e, url) && contains(e, "cut the stream after 3 pieces"), e.c_str());
        e = failure("[nodone]");
        QVERIFY2(contains(e, url) && contains(e, "ended the stream before the reply was complete"),
                 e.c_str());
        e = failure("[500]");
        QVERIFY2(contains(e, url) && contains(e, "500 Internal Server Error") &&
                     contains(e, "the fake server failed on purpose"),
                 e.c_str());
        e = failure("[badjson]");
        QVERIFY2(contains(e, url) && contains(e, "not valid JSON"), e.c_str());
        e = failure("[streamerror]");
        QVERIFY2(contains(e, url) && contains(e, "out of memory on the server"), e.c_str());
        e = error_of([&] {
            remote::stream_chat(options(), ask("hi"), [](const std::string&) {
                throw lc::Error("the database is full");
            });
        });
        QCOMPARE(e, std::string("the database is full"));  // the callback's error, unchanged
    }

    void unreachable_server() {
        lc_test::FakeOpenAi gone;
        QVERIFY(gone.start());
        remote::RemoteOptions o = options();
        o.base_url = gone.url();
        gone.stop();  // the port is closed now
        const std::string e = error_of([&] { remote::list_models(o); });
        QVERIFY2(contains(e, "could not reach " + o.base_url + "/v1/models"), e.c_str());
    }

    void api_key_is_a_bearer_token() {
        lc_test::FakeOpenAi locked;
        QVERIFY(locked.start("sesame"));
        remote::RemoteOptions o = options();
        o.base_url = locked.url();
        std::string e = error_of([&] { remote::list_models(o); });
        QVERIFY2(contains(e, "401 Unauthorized") && contains(e, "Incorrect API key provided"),
                 e.c_str());
        o.api_key = "wrong";
        e = error_of([&] { remote::stream_chat(o, ask("hi"), {}); });
        QVERIFY2(contains(e, locked.url() + "/v1/chat/completions answered 401"), e.c_str());
        o.api_key = "sesame";
        QCOMPARE(remote::stream_chat(o, ask("hi"), {}).text, fake_reply("hi").toStdString());
        QCOMPARE(locked.requests().last()["auth"].toString(), QString("Bearer sesame"));
    }

    // Stop ends an endless stream at once, and a silent one too (curl's progress callback
    // would take up to a second there).
    void stop_is_immediate() {
        for (const char* message : {"go [endless]", "wait [silent]"}) {
            std::atomic<bool> stop{false};
            QElapsedTimer since_stop;
            std::thread stopper([&] {
                std::this_thread::sleep_for(std::chrono::milliseconds(600));
                since_stop.start();
                stop.store(true);
            });
            int pieces = 0;
            const auto res = remote::stream_chat(
                options(), ask(message), [&](const std::string&) { ++pieces; }, &stop);
            const qint64 ms = since_stop.elapsed();
            stopper.join();
            QVERIFY(res.cancelled);
            QCOMPARE(res.finish_reason, std::string("cancelled"));
            QVERIFY2(ms < 300, qPrintable(QString("%1: stopped after %2 ms").arg(message).arg(ms)));
            qInfo("%s: stopped %lld ms after the flag", message, static_cast<long long>(ms));
            if (QByteArray(message).contains("endless")) QVERIFY(pieces >= 3);
        }
    }

    void stall_timeout() {
        remote::RemoteOptions o = options();
        o.stall_timeout_s = 1;
        QElapsedTimer t;
        t.start();
        const std::string e = error_of([&] { remote::stream_chat(o, ask("[silent]"), {}); });
        QVERIFY2(contains(e, "stopped sending for 1 s after 0 pieces"), e.c_str());
        QVERIFY2(t.elapsed() < 3000, qPrintable(QString("%1 ms").arg(t.elapsed())));
        qInfo("stall noticed after %lld ms", static_cast<long long>(t.elapsed()));
    }

    void model_names_match() {
        QCOMPARE(lc::model_match_key("deepseek-ai/DeepSeek-V2-Lite-Chat"),
                 std::string("deepseek-v2-lite-chat"));
        QCOMPARE(lc::model_match_key("/models/deepseek-ai--DeepSeek-V2-Lite-Chat/"),
                 std::string("deepseek-v2-lite-chat"));
        QCOMPARE(lc::model_match_key("/m/DeepSeek-V2-Lite-Chat.Q4_K_M.gguf"),
                 std::string("deepseek-v2-lite-chat"));
        QCOMPARE(lc::model_match_key("GigaChat3-10B-A1.8B-Q8_0-00001-of-00002.gguf"),
                 std::string("gigachat3-10b-a1.8b"));
    }

    void model_shape_for_the_estimate() {
        // A published model by its name: DeepSeek-V2-Lite, 27 layers, 576 vs 5,120 numbers.
        auto s = lc::find_remote_model_shape("deepseek-ai/DeepSeek-V2-Lite-Chat", {}, {});
        QVERIFY(s);
        QCOMPARE(s->config.num_hidden_layers, 27);
        lc::CacheStats c = lc::estimate_cache_stats(s->config, 100, 4096, 2);
        QCOMPARE(c.mla_elements, int64_t{576});
        QCOMPARE(c.mha_elements, int64_t{5120});
        QCOMPARE(c.bytes_live, size_t{100} * 576 * 2 * 27);
        QCOMPARE(c.bytes_allocated, size_t{128} * 576 * 2 * 27);  // two 64-token pages
        QCOMPARE(c.mha_bytes, size_t{100} * 5120 * 2 * 27);
        QVERIFY(!lc::find_remote_model_shape("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", {}, {}));
        QVERIFY(!lc::find_remote_model_shape("fake-mla", {}, {}));

        // A model folder here with the same name; and a config.json pointed to.
        const std::filesystem::path bundled =
            LC_SOURCE_DIR "/resources/models/latentchat-stories-13m";
        s = lc::find_remote_model_shape("latentchat-stories-13m", {}, {"/nonexistent", bundled});
        QVERIFY(s);
        const lc::ModelConfig want = lc::ModelConfig::load(bundled);
        QCOMPARE(s->config.num_hidden_layers, want.num_hidden_layers);
        QCOMPARE(s->config.kv_lora_rank, want.kv_lora_rank);
        QVERIFY(contains(s->source, "latentchat-stories-13m"));
        s = lc::find_remote_model_shape("anything", bundled / "config.json", {});
        QVERIFY(s);
        QCOMPARE(s->config.num_attention_heads, want.num_attention_heads);
        const std::string e =
            error_of([] { lc::find_remote_model_shape("x", "/nonexistent/config.json", {}); });
        QVERIFY2(contains(e, "/nonexistent/config.json"), e.c_str());
    }

    // A turn through the remote engine: the cache estimate in every event and the reply saved
    // through the same recorder as a local one.
    void remote_turn_records_and_estimates() {
        QTemporaryDir dir;
        lc::HistoryStore store(dir.filePath("h.db").toStdString());
        const int64_t conv = store.create_conversation("t");
        const int64_t user = store.add_message(conv, std::nullopt, "user", "hello");
        const int64_t reply_id = store.add_message(conv, user, "assistant", "");
        lc::ReplyRecorder recorder(store, reply_id);

        lc::RemoteTurn turn;
        turn.endpoint = options();
        turn.shape = lc::find_remote_model_shape("DeepSeek-V2-Lite-Chat", {}, {})->config;
        lc::ChatTurnCallbacks callbacks;
        callbacks.recorder = &recorder;
        std::vector<lc::CacheStats> seen;
        callbacks.on_token = [&](const lc::TokenEvent& ev) { seen.push_back(ev.cache); };
        const lc::ChatTurnResult r = lc::run_remote_turn(turn, ask("hello"), callbacks, nullptr);
        QCOMPARE(r.reply.content, fake_reply("hello").toStdString());
        const int words = fake_words("hello");
        QCOMPARE(r.reply.meta.token_count, words);
        QCOMPARE(r.reply.meta.finish_reason, std::string("eos"));
        QCOMPARE(seen.size(), size_t(words));
        QCOMPARE(seen.front().mla_elements, int64_t{576});
        QCOMPARE(seen.back().tokens, seen.front().tokens + words - 1);
        QCOMPARE(store.message(reply_id)->content, fake_reply("hello").toStdString());
        QCOMPARE(store.message(reply_id)->meta.token_count, words);
    }
};

QTEST_GUILESS_MAIN(TestRemoteClient)
#include "test_remote_client.moc"
