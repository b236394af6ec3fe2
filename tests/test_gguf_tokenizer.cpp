// The tokenizer and chat template of a GGUF file (formats/gguf_tokenizer.h, ChatTemplate::
// from_gguf). For the published DeepSeek-V2, DeepSeek-V3 and GLM-4.7-Flash tokenizers,
// tests/ref/make_test_gguf.py writes the vocabulary as llama.cpp's converter does (gguf-py, with
// HF tokenizers in place of transformers); our tokenizer of that file must give the ids HF
// tokenizers gives on the original tokenizer.json over a varied corpus, decode them as HF does
// (without the tokens the file marks control, which llama.cpp prints as nothing) and stream the
// same text. The file's chat template must render as the published folder's.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "error_of.h"
#include "formats/chat_template.h"
#include "formats/gguf.h"
#include "formats/gguf_tokenizer.h"

namespace fs = std::filesystem;
using lc_test::error_of;
using nlohmann::json;

namespace {

const fs::path kData = LC_TEST_DATA_DIR;

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// tests/ref/make_test_gguf.py in the reference venv; its standard output, or nullopt.
std::optional<std::string> run_reference(const QStringList& args) {
    QProcess p;
    p.start(QString::fromStdString((kData / "venv/bin/python").string()),
            QStringList{QString(LC_SOURCE_DIR "/tests/ref/make_test_gguf.py")} + args);
    if (!p.waitForFinished(300000) || p.exitCode() != 0) {
        qWarning("%s", p.readAllStandardError().constData());
        return std::nullopt;
    }
    return p.readAllStandardOutput().toStdString();
}

QString q(const fs::path& p) {
    return QString::fromStdString(p.string());
}

// A published tokenizer and how llama.cpp's converter names its pre-tokenizer.
struct Model {
    const char* name;
    const char* pre;
    int vocab_size;  // the model's (config.json), past the tokenizer's last id
    bool glm;
};
const Model kModels[] = {{"deepseek-v2", "deepseek-llm", 102400, false},
                         {"deepseek-v3", "deepseek-v3", 129280, false},
                         {"glm-4.7-flash", "glm4", 154880, true}};

std::vector<std::string> corpus() {
    std::vector<std::string> c = {
        "",
        "Hello world! This is a test.",
        "  leading spaces, trailing   ",
        " ",
        "\n\n\n",
        "a\r\nb\r\n\r\nc\n\r",
        "tabs\tand\t\tmore\t\t\ttabs",
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
        "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }\n",
        "The year 2024 had 366 days; pi is 3.14159265358979323846.",
        "12345678901234567890 1,000,000 and 0.5% and -42 and 1e10 and 0x1F",
        "中文测试，你好世界！这是一个句子。",
        "日本語のテキストです。カタカナとひらがな、漢字。",
        "한국어 텍스트입니다",
        "مرحبا بالعالم، هذا نص عربي.",
        "नमस्ते दुनिया, यह हिंदी है।",
        "Ünïcödé wörds ârè hérè: café, naïve, Ωμέγα, Привет мир",
        "👩🏽‍💻 codes; family 👨‍👩‍👧‍👦; flags 🇫🇷🇯🇵",
        "<｜begin▁of▁sentence｜>Hello<｜end▁of▁sentence｜>",
        "<｜User｜>Hi<｜Assistant｜><think>\nthinking\n</think>answer",
        "<|endoftext|>[gMASK]<sop><|user|>\nquestion<|assistant|>",
        "text<|endoftext|>more text <|endoftext|> spaced",
        "<｜fim▁begin｜>def f():<｜fim▁hole｜>pass<｜fim▁end｜>",
        "I'm you're we'll they'd IT'S THEY'LL O'Neil's",
        "e\xCC\x81\xCC\x82 stacked marks, \xE2\x80\x8D zwj, \xC2\xA0nbsp",
        "ＡＢＣ　全角　１２３ ﬁ ligature ½ ² Ⅻ",
        "!!!???...,,,;;;::: --- *** ___ ===",
        "https://example.com/path?q=1&r=2#frag",
        "mixed   \t \n  whitespace \n\n  runs",
        "a\n \nb",
        "word\r\n",
    };
    std::mt19937 rng(11);
    std::string long_text;
    while (long_text.size() < 60000)
        long_text += c[rng() % c.size()];
    c.push_back(long_text);
    return c;
}

// Streams `ids` one at a time; the pieces must be whole UTF-8 and add up to decode(ids).
bool stream_matches(const lc::Tokenizer& tok, const std::vector<int>& ids) {
    lc::StreamDecoder dec(tok);
    std::string out;
    for (int id : ids)
        out += dec.push(id);
    out += dec.flush();
    return out == tok.decode(ids);
}

std::string joined(const std::vector<int>& ids) {
    std::string s;
    for (int id : ids)
        s += std::to_string(id) + ",";
    return s;
}

}  // namespace

class TestGgufTokenizer : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void ids_and_text_match_hf_tokenizers();
    void special_tokens();
    void chat_template_as_published();
    void chat_template_absent();
    void bad_vocabularies();

private:
    QTemporaryDir tmp_;
    fs::path dir_;
    fs::path gguf(const Model& m) const { return dir_ / (std::string(m.name) + ".gguf"); }
};

void TestGgufTokenizer::initTestCase() {
    if (!fs::exists(kData / "READY"))
        QFAIL(qPrintable("no test data in " + q(kData) +
                         ": run tools/fetch_test_data.sh (ctest's fetch_test_data fixture)"));
    dir_ = tmp_.path().toStdString();
    for (const Model& m : kModels) {
        QStringList args = {"vocab", q(kData / "published" / m.name), q(gguf(m)), m.pre,
                            QString::number(m.vocab_size)};
        if (m.glm) args << "glm";
        QVERIFY2(run_reference(args), m.name);
    }
}

void TestGgufTokenizer::ids_and_text_match_hf_tokenizers() {
    const std::vector<std::string> texts = corpus();
    const fs::path texts_json = dir_ / "texts.json";
    std::ofstream(texts_json, std::ios::binary) << json(texts).dump();
    for (const Model& m : kModels) {
        const lc::GgufFile file = lc::GgufFile::open(gguf(m));
        QElapsedTimer timer;
        timer.start();
        const auto tok = lc::load_gguf_tokenizer(file, -1, -1);
        const qint64 load_ms = timer.elapsed();
        QCOMPARE(tok->vocab_size(), m.vocab_size);
        const std::optional<std::string> out =
            run_reference({"tokenize", q(kData / "published" / m.name / "tokenizer.json"),
                           q(gguf(m)), q(texts_json)});
        QVERIFY(out);
        std::istringstream lines(*out);
        size_t i = 0, round_trips = 0;
        for (std::string line; std::getline(lines, line); ++i) {
            const json ref = json::parse(line);
            const std::vector<int> ids = tok->encode(texts.at(i), false);
            QVERIFY2(ids == ref.at("ids").get<std::vector<int>>(),
                     (std::string(m.name) + " text " + std::to_string(i) + ": ours " +
                      joined(ids).substr(0, 300) + "\n ref " +
                      joined(ref.at("ids").get<std::vector<int>>()).substr(0, 300))
                         .c_str());
            const std::string decoded = tok->decode(ids);
            QVERIFY2(decoded == ref.at("decoded").get<std::string>(),
                     (std::string(m.name) + " text " + std::to_string(i) + ": \"" +
                      decoded.substr(0, 200) + "\"")
                         .c_str());
            QVERIFY2(stream_matches(*tok, ids), m.name);
            if (decoded == texts[i]) ++round_trips;
        }
        QCOMPARE(i, texts.size());
        // The texts without special tokens come back whole (byte-level BPE loses nothing).
        QVERIFY2(round_trips + 7 >= texts.size(), std::to_string(round_trips).c_str());
        // add_bos puts the file's BOS first.
        const std::vector<int> with_bos = tok->encode("hi", true);
        QCOMPARE(with_bos.front(), tok->bos_id());
        qInfo("%s: %zu texts as HF tokenizers (%zu decode to themselves); loaded in %lld ms",
              m.name, texts.size(), round_trips, static_cast<long long>(load_ms));
    }
}

void TestGgufTokenizer::special_tokens() {
    for (const Model& m : kModels) {
        const lc::GgufFile file = lc::GgufFile::open(gguf(m));
        const auto tok = lc::load_gguf_tokenizer(file, -1, -1);
        QCOMPARE(static_cast<int64_t>(tok->bos_id()),
                 file.get_int("tokenizer.ggml.bos_token_id").value_or(-1));
        QCOMPARE(static_cast<int64_t>(tok->eos_id()), *file.get_int("tokenizer.ggml.eos_token_id"));
        // The ids given win over the file's.
        const auto given = lc::load_gguf_tokenizer(file, 5, 6);
        QCOMPARE(given->bos_id(), 5);
        QCOMPARE(given->eos_id(), 6);
        // The EOS text of tokenizer_config.json is that id's piece, and has no text of its own.
        const json config =
            json::parse(read_text(kData / "published" / m.name / "tokenizer_config.json"));
        json eos = config.at("eos_token");
        if (eos.is_object()) eos = eos.at("content");
        QCOMPARE(tok->piece_id(eos.get<std::string>()).value_or(-1), tok->eos_id());
        const int eos_id[] = {tok->eos_id()};
        QCOMPARE(tok->decode(eos_id), std::string());
        // Ids past the tokenizer's own (padding up to the model's vocabulary) have no text.
        const int pad[] = {m.vocab_size - 1};
        QCOMPARE(tok->decode(pad), std::string());
    }
}

void TestGgufTokenizer::chat_template_as_published() {
    const std::vector<std::vector<lc::Message>> conversations = {
        {{"user", "Hello!"}},
        {{"system", "You are terse."}, {"user", "2+2?"}, {"assistant", "4"}, {"user", "And 3+3?"}},
        {{"user", "中文？"}, {"assistant", "是的。"}, {"user", "<think>x</think>"}},
    };
    for (const Model& m : kModels) {
        const lc::GgufFile file = lc::GgufFile::open(gguf(m));
        const lc::ChatTemplate from_file = lc::ChatTemplate::from_gguf(file);
        const lc::ChatTemplate published = lc::ChatTemplate::load(kData / "published" / m.name);
        QVERIFY(from_file.is_jinja());
        QCOMPARE(from_file.add_bos(), false);  // the template writes its BOS itself
        for (const auto& c : conversations)
            for (bool prompt : {true, false})
                QCOMPARE(from_file.render(c, prompt), published.render(c, prompt));
        if (!m.glm) QCOMPARE(from_file.stop_strings(), published.stop_strings());
    }
}

void TestGgufTokenizer::chat_template_absent() {
    // A vocabulary without a template falls back to the plain default.
    const fs::path path = dir_ / "tiny.gguf";
    QVERIFY(run_reference({"bad_vocab", q(path), "none"}));
    const lc::ChatTemplate t = lc::ChatTemplate::from_gguf(lc::GgufFile::open(path));
    QVERIFY(!t.is_jinja());
    const std::vector<lc::Message> hi = {{"user", "hi"}};
    QCOMPARE(t.render(hi, true), lc::ChatTemplate::plain_default().render(hi, true));
    // tiny.gguf encodes with its two merges only: "ab" is one token.
    const auto tok = lc::load_gguf_tokenizer(lc::GgufFile::open(path), -1, -1);
    QCOMPARE(tok->encode("ab", false), std::vector<int>{2});
    QCOMPARE(tok->encode("ab<|end|>", false), (std::vector<int>{2, 4}));
}

void TestGgufTokenizer::bad_vocabularies() {
    const std::vector<std::pair<const char*, std::vector<std::string>>> cases = {
        {"model", {"tokenizer.ggml.model", "llama"}},
        {"pre", {"tokenizer.ggml.pre", "no-such-pre"}},
        {"kimi", {"tokenizer.ggml.pre", "kimi-k2"}},
        {"types", {"tokenizer.ggml.token_type", "4 entries for 5 tokens"}},
        {"type_value", {"tokenizer.ggml.token_type", "type 9"}},
        {"merge_space", {"tokenizer.ggml.merges", "'ab'"}},
        {"merge_unknown", {"tokenizer.ggml", "\"c\""}},
        {"no_merges", {"tokenizer.ggml.merges", "missing"}},
        {"eos", {"tokenizer.ggml.eos_token_id", "9"}},
    };
    for (const auto& [name, wanted] : cases) {
        const fs::path path = dir_ / (std::string(name) + ".gguf");
        QVERIFY2(run_reference({"bad_vocab", q(path), name}), name);
        const std::string e =
            error_of([&] { lc::load_gguf_tokenizer(lc::GgufFile::open(path), -1, -1); });
        QVERIFY2(e.find(path.filename().string()) != std::string::npos, e.c_str());
        for (const std::string& w : wanted)
            QVERIFY2(e.find(w) != std::string::npos, (std::string(name) + ": " + e).c_str());
    }
}

QTEST_APPLESS_MAIN(TestGgufTokenizer)
#include "test_gguf_tokenizer.moc"
