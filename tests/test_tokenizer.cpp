// Tokenizer, streaming decoder and chat template against the fixture made by
// tools/make_tokenizer_fixture.py (reference ids from Python sentencepiece).
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "error_of.h"
#include "formats/chat_template.h"
#include "formats/tokenizer.h"

namespace fs = std::filesystem;

namespace {

using lc_test::error_of;

const fs::path kFixture = fs::path(LC_FIXTURES_DIR) / "tokenizer";
const fs::path kStripWsFixture = kFixture / "strip_ws";

nlohmann::json expected() {
    std::ifstream in(kFixture / "expected.json");
    return nlohmann::json::parse(in);
}

void write_file(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}

// Whether `s` is complete, valid UTF-8 (no character cut in half).
bool is_valid_utf8(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        size_t len = c < 0x80           ? 1
                     : (c >> 5) == 0x6  ? 2
                     : (c >> 4) == 0xE  ? 3
                     : (c >> 3) == 0x1E ? 4
                                        : 0;
        if (len == 0 || i + len > s.size()) return false;
        for (size_t k = 1; k < len; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        }
        i += len;
    }
    return true;
}

// Streams `ids` and checks every piece of output and the total against a full decode.
std::string stream(const lc::Tokenizer& tok, const std::vector<int>& ids, bool* chunks_valid) {
    lc::StreamDecoder dec(tok);
    std::string out;
    *chunks_valid = true;
    for (int id : ids) {
        const std::string chunk = dec.push(id);
        if (!is_valid_utf8(chunk)) *chunks_valid = false;
        out += chunk;
    }
    const std::string rest = dec.flush();
    if (!is_valid_utf8(rest)) *chunks_valid = false;
    return out + rest;
}

}  // namespace

class TestTokenizer : public QObject {
    Q_OBJECT

private slots:
    void loads_fixture() {
        const auto ref = expected();
        const auto tok = lc::Tokenizer::load(kFixture, -1, -1);
        QCOMPARE(tok->vocab_size(), ref["vocab_size"].get<int>());
        QCOMPARE(tok->bos_id(), ref["bos_id"].get<int>());
        QCOMPARE(tok->eos_id(), ref["eos_id"].get<int>());

        // Ids from the model config win over the tokenizer's own.
        const auto tok2 = lc::Tokenizer::load(kFixture, 7, 9);
        QCOMPARE(tok2->bos_id(), 7);
        QCOMPARE(tok2->eos_id(), 9);
        QCOMPARE(tok2->encode("x", true).front(), 7);
    }

    void encode_matches_python() {
        const auto ref = expected();
        const auto tok = lc::Tokenizer::load(kFixture, -1, -1);
        for (const auto& c : ref["cases"]) {
            const std::string text = c["text"].get<std::string>();
            const auto want = c["ids"].get<std::vector<int>>();
            const auto got = tok->encode(text, false);
            if (got != want) qWarning("mismatch for \"%s\"", text.c_str());
            QCOMPARE(got, want);

            auto with_bos = want;
            with_bos.insert(with_bos.begin(), tok->bos_id());
            QCOMPARE(tok->encode(text, true), with_bos);
        }
    }

    void decode_round_trips() {
        const auto ref = expected();
        const auto tok = lc::Tokenizer::load(kFixture, -1, -1);
        for (const auto& c : ref["cases"]) {
            const auto ids = c["ids"].get<std::vector<int>>();
            const std::string decoded = tok->decode(ids);
            QCOMPARE(decoded, c["decoded"].get<std::string>());
            QCOMPARE(decoded, c["text"].get<std::string>());
            // BOS/EOS have no text; ids outside the vocabulary are skipped.
            std::vector<int> wrapped = {tok->bos_id()};
            wrapped.insert(wrapped.end(), ids.begin(), ids.end());
            wrapped.push_back(tok->eos_id());
            wrapped.push_back(tok->vocab_size() + 3);
            wrapped.push_back(-1);
            QCOMPARE(tok->decode(wrapped), decoded);
        }
    }

    void special_tokens_are_single_ids() {
        const auto ref = expected();
        const auto tok = lc::Tokenizer::load(kFixture, -1, -1);
        for (const auto& [piece, id] : ref["specials"].items()) {
            QCOMPARE(tok->piece_id(piece), std::optional<int>(id.get<int>()));
            const auto ids = tok->encode("say " + piece + " now", false);
            QCOMPARE(std::count(ids.begin(), ids.end(), id.get<int>()), 1);
            QCOMPARE(tok->decode(ids), "say " + piece + " now");
        }
        for (const auto& [piece, id] : ref["byte_pieces"].items()) {
            QCOMPARE(tok->piece_id(piece), std::optional<int>(id.get<int>()));
        }
        QCOMPARE(tok->piece_id("<|nope|>"), std::nullopt);
        QCOMPARE(tok->piece_id(""), std::nullopt);
        QCOMPARE(tok->piece_id("<unk>"), std::optional<int>(0));
    }

    void stream_equals_decode_for_cases() {
        const auto ref = expected();
        const auto tok = lc::Tokenizer::load(kFixture, -1, -1);
        for (const auto& c : ref["cases"]) {
            auto ids = c["ids"].get<std::vector<int>>();
            bool valid = false;
            QCOMPARE(stream(*tok, ids, &valid), tok->decode(ids));
            QVERIFY(valid);
            ids.insert(ids.begin(), tok->bos_id());
            QCOMPARE(stream(*tok, ids, &valid), tok->decode(ids));
            QVERIFY(valid);
        }
    }

    void stream_holds_back_partial_characters() {
        const auto tok = lc::Tokenizer::load(kFixture, -1, -1);
        const int e2 = *tok->piece_id("<0xE2>");
        const int x98 = *tok->piece_id("<0x98>");
        const int x95 = *tok->piece_id("<0x95>");
        const auto hi = tok->encode("hi", false);
        lc::StreamDecoder dec(*tok);
        std::string start;
        for (int id : hi)
            start += dec.push(id);
        QCOMPARE(start, std::string("hi"));
        QCOMPARE(dec.push(e2), std::string());
        QCOMPARE(dec.push(x98), std::string());
        QCOMPARE(dec.push(x95), std::string("\xE2\x98\x95"));  // ☕
        // An unfinished character at the end comes out as decode() shows it.
        QCOMPARE(dec.push(e2), std::string());
        QCOMPARE(dec.flush(), tok->decode(std::vector<int>{e2}));
        // flush() started a new stream: its first piece loses its space again.
        const auto world = tok->encode("world", false);
        std::string again;
        for (int id : world)
            again += dec.push(id);
        QCOMPARE(again + dec.flush(), std::string("world"));
    }

    void stream_keeps_spaces_between_pieces() {
        const auto tok = lc::Tokenizer::load(kFixture, -1, -1);
        const auto ids = tok->encode("Once upon a time", true);
        lc::StreamDecoder dec(*tok);
        std::vector<std::string> parts;
        for (int id : ids)
            parts.push_back(dec.push(id));
        QCOMPARE(dec.flush(), std::string());
        std::string joined;
        for (const auto& p : parts)
            joined += p;
        QCOMPARE(joined, std::string("Once upon a time"));
        // Every token's text comes out with the token itself, nothing is delayed.
        for (size_t i = 1; i < parts.size(); ++i)
            QVERIFY(!parts[i].empty());
    }

    void stream_random_sequences_data() {
        QTest::addColumn<QString>("model");
        QTest::newRow("byte_fallback") << QString::fromStdString(kFixture.string());
        QTest::newRow("strip_ws") << QString::fromStdString(kStripWsFixture.string());
    }

    void stream_random_sequences() {
        QFETCH(QString, model);
        const auto tok = lc::Tokenizer::load(model.toStdString(), -1, -1);
        const int n = tok->vocab_size();
        std::vector<int> bytes, specials;
        for (int b = 0; b < 256; ++b) {
            char name[8];
            std::snprintf(name, sizeof(name), "<0x%02X>", b);
            if (auto id = tok->piece_id(name)) bytes.push_back(*id);
        }
        QCOMPARE(bytes.size(), size_t(256));
        specials = {0, 1, 2, *tok->piece_id("<|end|>"), *tok->piece_id("\xE2\x96\x81"), -5, n + 1};
        const auto text_ids = tok->encode("café ☕ 東京 😀 naïve  spaces\n\tand Ωμέγα", false);

        std::mt19937 rng(1234);
        for (int trial = 0; trial < 4000; ++trial) {
            std::vector<int> ids;
            const int len = static_cast<int>(rng() % 24);
            const int mode = trial % 4;
            for (int i = 0; i < len; ++i) {
                const unsigned r = rng() % 10;
                if (mode == 0 || r < 3) {
                    ids.push_back(static_cast<int>(rng() % static_cast<unsigned>(n)));
                } else if (r < 6) {
                    ids.push_back(bytes[rng() % bytes.size()]);
                } else if (r < 8) {
                    ids.push_back(specials[rng() % specials.size()]);
                } else {
                    ids.push_back(text_ids[rng() % text_ids.size()]);
                }
            }
            bool valid = false;
            const std::string got = stream(*tok, ids, &valid);
            const std::string want = tok->decode(ids);
            if (got != want) {
                QString list;
                for (int id : ids)
                    list += QString::number(id) + " ";
                qWarning("ids: %s", qPrintable(list));
            }
            QCOMPARE(got, want);
            QVERIFY(valid);
        }
    }

    void stream_long_text() {
        const auto tok = lc::Tokenizer::load(kFixture, -1, -1);
        std::string text;
        for (int i = 0; i < 400; ++i) {
            text += "Line " + std::to_string(i) + ": café ☕ 東京, emoji 😀 and  two spaces.\n";
        }
        const auto ids = tok->encode(text, true);
        bool valid = false;
        QElapsedTimer timer;
        timer.start();
        QCOMPARE(stream(*tok, ids, &valid), text);
        QVERIFY(valid);
        // Cheap per token: decoding the whole history each time would take far longer.
        QVERIFY2(timer.elapsed() < 5000, qPrintable(QString::number(timer.elapsed())));
    }

    void load_errors() {
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        const fs::path dir = tmp.path().toStdString();

        const fs::path missing = dir / "no_such_folder";
        QCOMPARE(error_of([&] { lc::Tokenizer::load(missing, -1, -1); }),
                 "no tokenizer.model in " + missing.string());
        QCOMPARE(error_of([&] { lc::Tokenizer::load(dir, -1, -1); }),
                 "no tokenizer.model in " + dir.string());

        write_file(dir / "tokenizer.model", "this is not a protobuf at all \x01\x02\xff");
        const std::string msg = error_of([&] { lc::Tokenizer::load(dir, -1, -1); });
        const std::string prefix =
            (dir / "tokenizer.model").string() + " is not a valid SentencePiece model: ";
        QVERIFY2(msg.starts_with(prefix), msg.c_str());

        write_file(dir / "tokenizer.model", "");
        const std::string empty_msg = error_of([&] { lc::Tokenizer::load(dir, -1, -1); });
        QVERIFY2(empty_msg.starts_with(prefix), empty_msg.c_str());
    }

    void chat_template_from_fixture() {
        const auto chat = lc::ChatTemplate::load(kFixture);
        QCOMPARE(chat.add_bos(), true);
        QCOMPARE(chat.default_system(), std::string("You are a helpful assistant."));
        QCOMPARE(chat.stop_strings(), std::vector<std::string>{"<|end|>"});
        const std::vector<lc::Message> msgs = {
            {"system", "Be brief."},
            {"user", "Hi {content}!"},  // the content is not a template
            {"assistant", "Hello."},
            {"user", "How are you?"},
        };
        QCOMPARE(chat.render(msgs, true),
                 std::string("<|system|>Be brief.<|end|>\n<|user|>Hi {content}!<|end|>\n"
                             "<|assistant|>Hello.<|end|>\n<|user|>How are you?<|end|>\n"
                             "<|assistant|>"));
        QCOMPARE(chat.render(std::span(msgs).subspan(1, 1), false),
                 std::string("<|user|>Hi {content}!<|end|>\n"));
        QCOMPARE(chat.render({}, true), std::string("<|assistant|>"));

        // The rendered special tokens come out of the tokenizer as single ids.
        const auto tok = lc::Tokenizer::load(kFixture, -1, -1);
        const auto ids = tok->encode(chat.render(msgs, true), chat.add_bos());
        QCOMPARE(std::count(ids.begin(), ids.end(), *tok->piece_id("<|end|>")), 4);
        QCOMPARE(ids.back(), *tok->piece_id("<|assistant|>"));
    }

    void chat_plain_default() {
        QTemporaryDir tmp;
        const auto chat = lc::ChatTemplate::load(tmp.path().toStdString());  // no file
        const auto plain = lc::ChatTemplate::plain_default();
        const std::vector<lc::Message> msgs = {
            {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}};
        const std::string want = "Be brief.\n\nUser: Hi\nAssistant: Hello.\nUser: Bye\nAssistant:";
        QCOMPARE(chat.render(msgs, true), want);
        QCOMPARE(plain.render(msgs, true), want);
        QCOMPARE(plain.stop_strings(), std::vector<std::string>{"\nUser:"});
        QCOMPARE(plain.add_bos(), true);
        QCOMPARE(plain.default_system(), std::string());
    }

    void chat_optional_keys() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        write_file(
            dir / "chat_template.json",
            R"({"user": "[U]{content}[/U]", "assistant": "[A]{content}</s>\n", "bos": false})");
        const auto chat = lc::ChatTemplate::load(dir);
        QCOMPARE(chat.add_bos(), false);
        QCOMPARE(chat.default_system(), std::string());
        QCOMPARE(chat.stop_strings(), std::vector<std::string>{"</s>"});
        const std::vector<lc::Message> msgs = {{"user", "q"}};
        QCOMPARE(chat.render(msgs, true), std::string("[U]q[/U][A]"));
        const std::vector<lc::Message> sys = {{"system", "s"}};
        QVERIFY(error_of([&] { chat.render(sys, false); }).find("system") != std::string::npos);
    }

    void chat_errors() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        const std::string file = (dir / "chat_template.json").string();
        const auto load_error = [&](const std::string& json) {
            write_file(dir / "chat_template.json", json);
            return error_of([&] { lc::ChatTemplate::load(dir); });
        };
        const auto check = [&](const std::string& json, const std::string& key) {
            const std::string msg = load_error(json);
            QVERIFY2(msg.starts_with(file), msg.c_str());
            QVERIFY2(msg.find(key) != std::string::npos, msg.c_str());
        };
        check(R"({"user": "{content}", "assistant": )", "not valid JSON");
        check(R"(["user"])", "object");
        check(R"({"user": 5, "assistant": "{content}"})", "\"user\"");
        check(R"({"user": "{content}", "assistant": "no placeholder"})", "\"assistant\"");
        check(R"({"user": "{content}"})", "\"assistant\"");
        check(R"({"user": "{content}", "assistant": "{content}", "system": "x"})", "\"system\"");
        check(R"({"user": "{content}", "assistant": "{content}", "bos": "yes"})", "\"bos\"");
        check(R"({"user": "{content}", "assistant": "{content}", "stop": "<|end|>"})", "\"stop\"");
        check(R"({"user": "{content}", "assistant": "{content}", "stop": [1]})", "\"stop\"");
        check(R"({"user": "{content}", "assistant": "{content}", "default_system": 1})",
              "\"default_system\"");
        check(R"({"user": "{content}", "assistant": "{content}", "generation_prompt": []})",
              "\"generation_prompt\"");

        const auto chat = lc::ChatTemplate::plain_default();
        const std::vector<lc::Message> msgs = {{"tool", "x"}};
        const std::string msg = error_of([&] { chat.render(msgs, true); });
        QVERIFY2(msg.find("\"tool\"") != std::string::npos, msg.c_str());
    }
};

QTEST_APPLESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"
