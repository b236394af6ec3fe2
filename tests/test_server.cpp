// latentchat-cli serve (core/server) through real HTTP: libcurl for what clients send, a raw
// socket for what they would not. The bundled model answers; every server is a child process on
// a free loopback port (--port 0), so SIGTERM can be tested too.
#include <signal.h>

#include <QElapsedTimer>
#include <QProcess>
#include <QThread>
#include <QtTest>
#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_runner.h"
#include "http_test_client.h"

using nlohmann::json;
using namespace lc_test;

namespace {

const QString kModel = QStringLiteral(LC_SOURCE_DIR "/resources/models/latentchat-stories-13m");
constexpr char kModelName[] = "latentchat-stories-13m";

// A `latentchat-cli serve` child; its first stdout line is the address it serves at.
class ServerProcess {
public:
    explicit ServerProcess(const QStringList& extra = {}) {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.remove("LATENTCHAT_API_KEY");
        process_.setProcessEnvironment(env);
        process_.setProgram(QStringLiteral(LC_CLI_PATH));
        process_.setArguments(QStringList{"serve", "--model", kModel, "--port", "0"} + extra);
        process_.start();
        QElapsedTimer t;
        t.start();
        while (!process_.canReadLine() && t.elapsed() < 60000 &&
               process_.state() != QProcess::NotRunning)
            process_.waitForReadyRead(200);
        const QString line = QString::fromUtf8(process_.readLine()).trimmed();
        base_ = line.toStdString();
        const int colon = line.lastIndexOf(':');
        port_ = line.mid(colon + 1).section('/', 0, 0).toInt();
    }
    ~ServerProcess() {
        if (process_.state() != QProcess::NotRunning) {
            process_.kill();
            process_.waitForFinished(5000);
        }
    }
    bool ok() const { return port_ > 0; }
    QString why() const {
        return "serve did not start: " + QString::fromUtf8(process_.readAllStandardError());
    }
    const std::string& base() const { return base_; }  // http://127.0.0.1:PORT/v1
    std::string root() const { return base_.substr(0, base_.size() - 3); }
    int port() const { return port_; }
    QProcess& process() { return process_; }

private:
    mutable QProcess process_;
    std::string base_;
    int port_ = 0;
};

json health(const ServerProcess& s) {
    const HttpReply r = http_get(s.root() + "/health");
    return r.status == 200 ? json::parse(r.body) : json();
}

// The error object of an OpenAI error reply, checked for its shape.
json error_of(const HttpReply& r) {
    const json j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("error")) return json();
    const json& e = j["error"];
    if (!e.is_object() || !e["message"].is_string() || !e["type"].is_string() ||
        !e.contains("param") || !e.contains("code"))
        return json();
    return e;
}

json chat_body(const std::string& prompt, int max_tokens, uint64_t seed, bool stream) {
    return {{"model", kModelName},
            {"messages", {{{"role", "user"}, {"content", prompt}}}},
            {"max_tokens", max_tokens},
            {"temperature", 0.8},
            {"seed", seed},
            {"stream", stream}};
}

// The text and finish reason of a streamed reply; fails the test on a malformed stream.
struct Streamed {
    std::string text;
    std::string finish_reason;
    bool done = false;  // ended with data: [DONE]
    json usage;
};

Streamed read_stream(const std::string& body, bool chat) {
    Streamed s;
    for (const std::string& data : sse_data(body)) {
        if (data == "[DONE]") {
            s.done = true;
            continue;
        }
        const json j = json::parse(data);
        if (j.contains("usage")) s.usage = j["usage"];
        if (j["choices"].empty()) continue;
        const json& c = j["choices"][0];
        if (chat && c["delta"].contains("content"))
            s.text += c["delta"]["content"].get<std::string>();
        if (!chat) s.text += c["text"].get<std::string>();
        if (!c["finish_reason"].is_null()) s.finish_reason = c["finish_reason"];
    }
    return s;
}

}  // namespace

class TestServer : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { curl_global_init(CURL_GLOBAL_DEFAULT); }
    void cleanupTestCase() { curl_global_cleanup(); }

    void models_and_health() {
        ServerProcess s;
        QVERIFY2(s.ok(), qPrintable(s.why()));
        QVERIFY(s.base().rfind("http://127.0.0.1:", 0) == 0);  // loopback by default
        HttpReply r = http_get(s.base() + "/models");
        QCOMPARE(r.status, 200L);
        QVERIFY(r.content_type.find("application/json") == 0);
        const json models = json::parse(r.body);
        QCOMPARE(models["object"].get<std::string>(), std::string("list"));
        QCOMPARE(models["data"][0]["id"].get<std::string>(), std::string(kModelName));
        QCOMPARE(http_get(s.base() + "/models/default").status, 200L);
        QCOMPARE(http_get(s.base() + "/models/" + kModelName).status, 200L);
        r = http_get(s.base() + "/models/gpt-4");
        QCOMPARE(r.status, 404L);
        QCOMPARE(error_of(r)["code"].get<std::string>(), std::string("model_not_found"));
        r = http_get(s.base() + "/no/such/endpoint");
        QCOMPARE(r.status, 404L);
        QVERIFY(!error_of(r).is_null());
        const json h = health(s);
        QCOMPARE(h["status"].get<std::string>(), std::string("ok"));
        QCOMPARE(h["model"].get<std::string>(), std::string(kModelName));
    }

    // Whole and streamed replies with one seed are the same text, and the same as
    // `latentchat-cli generate --chat` (one chat-turn code path); usage and finish_reason agree.
    void chat_whole_streamed_and_cli_agree() {
        ServerProcess s;
        QVERIFY2(s.ok(), qPrintable(s.why()));
        const std::string prompt = "Tell me a story about a cat.";
        HttpReply whole =
            post_json(s.base() + "/chat/completions", chat_body(prompt, 40, 7, false).dump());
        QCOMPARE(whole.status, 200L);
        const json w = json::parse(whole.body);
        QCOMPARE(w["object"].get<std::string>(), std::string("chat.completion"));
        const std::string text = w["choices"][0]["message"]["content"];
        QVERIFY(!text.empty());
        QCOMPARE(w["choices"][0]["message"]["role"].get<std::string>(), std::string("assistant"));
        const std::string finish = w["choices"][0]["finish_reason"];
        QVERIFY(finish == "stop" || finish == "length");
        const json& usage = w["usage"];
        QVERIFY(usage["prompt_tokens"].get<int>() > 5);
        QVERIFY(usage["completion_tokens"].get<int>() >= 1 &&
                usage["completion_tokens"].get<int>() <= 40);
        QCOMPARE(usage["total_tokens"].get<int>(),
                 usage["prompt_tokens"].get<int>() + usage["completion_tokens"].get<int>());

        json body = chat_body(prompt, 40, 7, true);
        body["stream_options"] = {{"include_usage", true}};
        body["model"] = "default";
        HttpReply streamed = post_json(s.base() + "/chat/completions", body.dump());
        QCOMPARE(streamed.status, 200L);
        QVERIFY(streamed.content_type.find("text/event-stream") == 0);
        const Streamed st = read_stream(streamed.body, true);
        QVERIFY(st.done);
        QCOMPARE(st.text, text);
        QCOMPARE(st.finish_reason, finish);
        QCOMPARE(st.usage, usage);

        const CliResult cli = run_cli({"generate", "--model", kModel, "--chat", "--prompt",
                                       QString::fromStdString(prompt), "--seed", "7",
                                       "--temperature", "0.8", "--max-tokens", "40"});
        QVERIFY2(cli.finished && cli.code == 0, qPrintable(cli.describe()));
        QCOMPARE(cli.out.toStdString(), text + "\n");
    }

    void completions_whole_and_streamed_agree() {
        ServerProcess s;
        QVERIFY2(s.ok(), qPrintable(s.why()));
        json body = {
            {"prompt", "Once upon a time"}, {"max_tokens", 30}, {"seed", 3}, {"temperature", 0.8}};
        HttpReply whole = post_json(s.base() + "/completions", body.dump());
        QCOMPARE(whole.status, 200L);
        const json w = json::parse(whole.body);
        QCOMPARE(w["object"].get<std::string>(), std::string("text_completion"));
        const std::string text = w["choices"][0]["text"];
        QVERIFY(!text.empty());
        body["stream"] = true;
        HttpReply streamed = post_json(s.base() + "/completions", body.dump());
        QCOMPARE(streamed.status, 200L);
        const Streamed st = read_stream(streamed.body, false);
        QVERIFY(st.done);
        QCOMPARE(st.text, text);
        QCOMPARE(st.finish_reason, w["choices"][0]["finish_reason"].get<std::string>());
        const CliResult cli =
            run_cli({"generate", "--model", kModel, "--prompt", "Once upon a time", "--seed", "3",
                     "--temperature", "0.8", "--max-tokens", "30"});
        QVERIFY2(cli.finished && cli.code == 0, qPrintable(cli.describe()));
        QCOMPARE(cli.out.toStdString(), text + "\n");
    }

    void max_tokens_and_stop() {
        ServerProcess s;
        QVERIFY2(s.ok(), qPrintable(s.why()));
        json body = chat_body("Tell me a story.", 5, 1, false);
        body["ignore_eos"] = true;
        json r = json::parse(post_json(s.base() + "/chat/completions", body.dump()).body);
        QCOMPARE(r["usage"]["completion_tokens"].get<int>(), 5);
        QCOMPARE(r["choices"][0]["finish_reason"].get<std::string>(), std::string("length"));
        // Greedy, so the first reply tells which word to stop at in the second.
        body = chat_body("Tell me a story.", 60, 1, false);
        body["temperature"] = 0;
        const std::string full = json::parse(post_json(s.base() + "/chat/completions", body.dump())
                                                 .body)["choices"][0]["message"]["content"];
        const size_t space = full.find(' ', full.size() / 2);
        QVERIFY2(space != std::string::npos, full.c_str());
        const std::string stop = full.substr(space, 4);
        body["stop"] = {stop, "zzzz"};
        r = json::parse(post_json(s.base() + "/chat/completions", body.dump()).body);
        QCOMPARE(r["choices"][0]["message"]["content"].get<std::string>(),
                 full.substr(0, full.find(stop)));
        QCOMPARE(r["choices"][0]["finish_reason"].get<std::string>(), std::string("stop"));
    }

    void bad_requests_are_4xx_in_openai_shape() {
        ServerProcess s({"--max-body-kb", "256"});
        QVERIFY2(s.ok(), qPrintable(s.why()));
        const std::string url = s.base() + "/chat/completions";
        struct Case {
            const char* name;
            std::string body;
            long status;
            const char* param;
        };
        const std::string deep = std::string(100000, '[') + std::string(100000, ']');
        const Case cases[] = {
            {"not JSON", "{\"messages\": [", 400, nullptr},
            {"not an object", "[1, 2]", 400, nullptr},
            {"no messages", R"({"model": "default"})", 400, "messages"},
            {"empty messages", R"({"messages": []})", 400, "messages"},
            {"bad role", R"({"messages": [{"role": "wizard", "content": "hi"}]})", 400,
             "messages[0].role"},
            {"assistant last", R"({"messages": [{"role": "assistant", "content": "hi"}]})", 400,
             "messages"},
            {"temperature a word",
             R"({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"})", 400,
             "temperature"},
            {"temperature too high",
             R"({"messages": [{"role": "user", "content": "hi"}], "temperature": 7})", 400,
             "temperature"},
            {"max_tokens zero",
             R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0})", 400,
             "max_tokens"},
            {"max_tokens huge",
             R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 18446744073709551615})",
             400, "max_tokens"},
            {"top_p zero", R"({"messages": [{"role": "user", "content": "hi"}], "top_p": 0})", 400,
             "top_p"},
            {"five stops",
             R"({"messages": [{"role": "user", "content": "hi"}], "stop": ["a","b","c","d","e"]})",
             400, "stop"},
            {"n is 2", R"({"messages": [{"role": "user", "content": "hi"}], "n": 2})", 400, "n"},
            {"image part",
             R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", 400,
             "messages[0].content"},
            {"invalid UTF-8",
             "{\"messages\": [{\"role\": \"user\", \"content\": \"a\xff\xfe b\"}]}", 400, nullptr},
            {"deep JSON", deep, 400, nullptr},
            {"unknown model",
             R"({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})", 404,
             "model"},
            {"too large",
             "{\"messages\": [{\"role\": \"user\", \"content\": \"" + std::string(300000, 'a') +
                 "\"}]}",
             413, nullptr},
        };
        for (const Case& c : cases) {
            const HttpReply r = post_json(url, c.body);
            QVERIFY2(r.status == c.status,
                     qPrintable(QString("%1: status %2, body %3")
                                    .arg(c.name)
                                    .arg(r.status)
                                    .arg(QString::fromStdString(r.body.substr(0, 300)))));
            const json e = error_of(r);
            QVERIFY2(!e.is_null(), c.name);
            if (c.param)
                QVERIFY2(e["param"] == c.param,
                         qPrintable(QString(c.name) + ": " + QString::fromStdString(e.dump())));
        }
        // A prompt beyond the context window (1,024 tokens) is the request's fault too.
        std::string words;
        for (int i = 0; i < 1500; ++i)
            words += "cat ";
        HttpReply r = post_json(s.base() + "/completions", json({{"prompt", words}}).dump());
        QCOMPARE(r.status, 400L);
        QCOMPARE(error_of(r)["code"].get<std::string>(), std::string("context_length_exceeded"));
        r = post_json(url, json({{"messages", {{{"role", "user"}, {"content", words}}}}}).dump());
        QCOMPARE(r.status, 400L);
        QCOMPARE(error_of(r)["code"].get<std::string>(), std::string("context_length_exceeded"));
        // Not JSON by its content type.
        const std::string ok_body = chat_body("hi", 2, 1, false).dump();
        r = http_request(url, &ok_body, {"Content-Type: application/x-www-form-urlencoded"});
        QCOMPARE(r.status, 415L);
        QVERIFY(!error_of(r).is_null());
        r = http_request(url, &ok_body, {"Content-Type: text/plain"});
        QCOMPARE(r.status, 415L);
        // And the server is still there, and answers a good request.
        QCOMPARE(health(s)["status"].get<std::string>(), std::string("ok"));
        QCOMPARE(post_json(url, ok_body).status, 200L);
    }

    void hostile_connections_leave_it_up() {
        ServerProcess s({"--max-body-kb", "64"});
        QVERIFY2(s.ok(), qPrintable(s.why()));
        const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n";
        {  // a header line of 64 KB
            RawConnection c(s.port());
            QVERIFY(c.connected());
            c.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(65536, 'b') +
                   "\r\n\r\n");
            const int status = raw_status(c.read("\r\n\r\n", 10000));
            QVERIFY2(status == 400 || status == 431, qPrintable(QString::number(status)));
        }
        {  // a request line of 100 KB
            RawConnection c(s.port());
            c.send("GET /" + std::string(100000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
            const int status = raw_status(c.read("\r\n\r\n", 10000));
            QVERIFY2(status == 414 || status == 400, qPrintable(QString::number(status)));
        }
        {  // an endless chunked body: refused once past the limit, and the connection closed
            RawConnection c(s.port());
            c.send(head + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
            const std::string chunk = "1000\r\n" + std::string(4096, ' ') + "\r\n";
            int sent = 0;
            while (sent < 10000 && c.send(chunk))  // 40 MB at most; the server stops it far sooner
                ++sent;
            QVERIFY2(sent < 10000, "the server read 40 MB of body");
            const std::string reply = c.read("\r\n\r\n", 10000);
            QVERIFY2(raw_status(reply) == 413 || reply.empty(), reply.substr(0, 200).c_str());
        }
        {  // a Content-Length past the limit: refused before the body is read
            RawConnection c(s.port());
            c.send(head + "Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{");
            const std::string reply = c.read("}}", 10000);
            QCOMPARE(raw_status(reply), 413);
            QVERIFY(reply.find("\"error\"") != std::string::npos);
        }
        {  // a client that asks first (Expect: 100-continue) is told before it sends the body
            RawConnection c(s.port());
            c.send(head +
                   "Content-Type: application/json\r\nExpect: 100-continue\r\n"
                   "Content-Length: 1000000\r\n\r\n");
            const std::string reply = c.read("}}", 10000);
            QCOMPARE(raw_status(reply), 413);
        }
        {  // a body that stops half way, then the client waits
            RawConnection c(s.port());
            c.send(head + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"mess");
            c.read("\r\n\r\n", 300);
        }
        {  // garbage instead of HTTP
            RawConnection c(s.port());
            c.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n");
            const int status = raw_status(c.read("\r\n\r\n", 10000));
            QVERIFY2(status == 400 || status == 0, qPrintable(QString::number(status)));
        }
        QCOMPARE(health(s)["status"].get<std::string>(), std::string("ok"));
        QCOMPARE(
            post_json(s.base() + "/chat/completions", chat_body("hi", 3, 1, false).dump()).status,
            200L);
    }

    void api_key() {
        ServerProcess s({"--api-key", "sk-test-123"});
        QVERIFY2(s.ok(), qPrintable(s.why()));
        const std::string url = s.base() + "/chat/completions";
        const std::string body = chat_body("hi", 3, 1, false).dump();
        HttpReply r = post_json(url, body);
        QCOMPARE(r.status, 401L);
        QCOMPARE(error_of(r)["code"].get<std::string>(), std::string("invalid_api_key"));
        QCOMPARE(post_json(url, body, {"Authorization: Bearer sk-test-124"}).status, 401L);
        QCOMPARE(post_json(url, body, {"Authorization: sk-test-123"}).status, 401L);
        QCOMPARE(http_get(s.base() + "/models").status, 401L);
        QCOMPARE(post_json(url, body, {"Authorization: Bearer sk-test-123"}).status, 200L);
        QCOMPARE(http_get(s.base() + "/models", {"Authorization: Bearer sk-test-123"}).status,
                 200L);
        QCOMPARE(http_get(s.root() + "/health").status, 200L);  // for monitors, no key
    }

    // Eight streamed replies at once: each completes with [DONE], one engine run at a time.
    void eight_concurrent_streams_complete() {
        ServerProcess s;
        QVERIFY2(s.ok(), qPrintable(s.why()));
        std::vector<HttpReply> replies(8);
        std::vector<std::thread> clients;
        for (int i = 0; i < 8; ++i)
            clients.emplace_back([&, i] {
                replies[i] =
                    post_json(s.base() + "/chat/completions",
                              chat_body("Tell me a story about a dog.", 60, i, true).dump());
            });
        for (std::thread& t : clients)
            t.join();
        for (const HttpReply& r : replies) {
            QCOMPARE(r.status, 200L);
            const Streamed st = read_stream(r.body, true);
            QVERIFY(st.done);
            QVERIFY(!st.text.empty());
        }
        const json h = health(s);
        QCOMPARE(h["completed"].get<int>(), 8);
        QCOMPARE(h["running"].get<int>(), 0);
        QCOMPARE(h["waiting"].get<int>(), 0);
    }

    // Beyond the queue's bound a request is refused at once with 503; the others complete.
    void full_queue_is_503() {
        ServerProcess s({"--queue", "1"});
        QVERIFY2(s.ok(), qPrintable(s.why()));
        std::vector<HttpReply> replies(10);
        std::vector<std::thread> clients;
        json body = {{"prompt", "Once upon a time"}, {"max_tokens", 900}, {"ignore_eos", true}};
        for (int i = 0; i < 10; ++i)
            clients.emplace_back(
                [&, i] { replies[i] = post_json(s.base() + "/completions", body.dump()); });
        for (std::thread& t : clients)
            t.join();
        int ok = 0, busy = 0;
        for (const HttpReply& r : replies) {
            if (r.status == 200) ++ok;
            if (r.status == 503 && error_of(r)["code"] == "queue_full") ++busy;
        }
        QCOMPARE(ok + busy, 10);
        QVERIFY2(ok >= 2 && busy >= 1,
                 qPrintable(QString("%1 done, %2 refused").arg(ok).arg(busy)));
        QCOMPARE(health(s)["rejected"].get<int>(), busy);
    }

    // Requests wait in the order they came: B, queued before C, is answered before C.
    void queue_is_first_come_first_served() {
        ServerProcess s;
        QVERIFY2(s.ok(), qPrintable(s.why()));
        const std::string url = s.base() + "/completions";
        auto wait_for = [&](const char* key, int value) {
            QElapsedTimer t;
            t.start();
            while (health(s)[key].get<int>() != value && t.elapsed() < 20000)
                QThread::msleep(5);
            return health(s)[key].get<int>() == value;
        };
        const std::string long_body =
            json({{"prompt", "Once upon a time"}, {"max_tokens", 900}, {"ignore_eos", true}})
                .dump();
        const std::string short_body =
            json({{"prompt", "A dog"}, {"max_tokens", 40}, {"ignore_eos", true}}).dump();
        std::atomic<int> order{0};
        int a_done = 0, b_done = 0, c_done = 0;
        std::thread a([&] {
            post_json(url, long_body);
            a_done = ++order;
        });
        QVERIFY(wait_for("running", 1));
        std::thread b([&] {
            post_json(url, short_body);
            b_done = ++order;
        });
        QVERIFY(wait_for("waiting", 1));
        std::thread c([&] {
            post_json(url, short_body);
            c_done = ++order;
        });
        QVERIFY(wait_for("waiting", 2));
        a.join();
        b.join();
        c.join();
        QCOMPARE(a_done, 1);
        QCOMPARE(b_done, 2);
        QCOMPARE(c_done, 3);
    }

    // A client that leaves mid-stream stops its generation: counted as cancelled, far fewer
    // tokens than it asked for, and the next request is served at once.
    void disconnect_stops_generation() {
        ServerProcess s;
        QVERIFY2(s.ok(), qPrintable(s.why()));
        const json body = {{"prompt", "Once upon a time"},
                           {"max_tokens", 1000},
                           {"ignore_eos", true},
                           {"stream", true}};
        const std::string text = body.dump();
        {
            RawConnection c(s.port());
            c.send(
                "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: " +
                std::to_string(text.size()) + "\r\n\r\n" + text);
            const std::string first = c.read("data: {", 30000);
            QVERIFY2(raw_status(first) == 200, first.c_str());
        }  // closed after the first event
        QElapsedTimer t;
        t.start();
        json h = health(s);
        while (h["cancelled"].get<int>() == 0 && t.elapsed() < 10000) {
            QThread::msleep(20);
            h = health(s);
        }
        QCOMPARE(h["cancelled"].get<int>(), 1);
        QVERIFY2(h["tokens_generated"].get<int>() < 1000, h.dump().c_str());
        QCOMPARE(h["running"].get<int>(), 0);
        QCOMPARE(post_json(s.base() + "/completions",
                           json({{"prompt", "A dog"}, {"max_tokens", 3}}).dump())
                     .status,
                 200L);
    }

    // SIGTERM: the running stream is cut, the process exits 0 at once.
    void sigterm_exits_cleanly() {
        ServerProcess s;
        QVERIFY2(s.ok(), qPrintable(s.why()));
        const json body = {{"prompt", "Once upon a time"},
                           {"max_tokens", 1000},
                           {"ignore_eos", true},
                           {"stream", true}};
        const std::string text = body.dump();
        RawConnection c(s.port());
        c.send(
            "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: " +
            std::to_string(text.size()) + "\r\n\r\n" + text);
        c.read("data: {", 30000);
        // A second client keeps its connection open after a request (keep-alive), idle.
        RawConnection idle(s.port());
        idle.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        QCOMPARE(raw_status(idle.read("}", 10000)), 200);
        QElapsedTimer t;
        t.start();
        ::kill(static_cast<pid_t>(s.process().processId()), SIGTERM);
        QVERIFY(s.process().waitForFinished(10000));
        const qint64 ms = t.elapsed();
        QCOMPARE(s.process().exitStatus(), QProcess::NormalExit);
        QCOMPARE(s.process().exitCode(), 0);
        QVERIFY2(ms < 4000, qPrintable(QString("took %1 ms").arg(ms)));
        const std::string rest = c.read("[DONE]", 5000);
        QVERIFY(rest.find("[DONE]") == std::string::npos);  // cut, not completed
    }
};

QTEST_GUILESS_MAIN(TestServer)
#include "test_server.moc"
