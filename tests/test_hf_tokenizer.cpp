// tokenizer.json (formats/hf_tokenizer.h) against HF `tokenizers` itself: the published tokenizers
// of MLA models and small tokenizers written here, one per component, over a varied corpus, in
// process and through `latentchat-cli tokenize`; the streaming decoder; bad files. The reference
// (tests/ref/hf_tokenize.py in the venv of tools/fetch_test_data.sh) runs once per tokenizer.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "error_of.h"
#include "formats/tokenizer.h"
#include "hf_test_tokenizers.h"

namespace fs = std::filesystem;
using hf_test::bl;
using hf_test::pattern_replace;
using hf_test::seq;
using hf_test::split;
using hf_test::synthetic;
using nlohmann::json;

namespace {

using lc_test::error_of;

const fs::path kData = LC_TEST_DATA_DIR;

void write_file(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}

// Whether `s` is complete UTF-8 (no character cut in half, no stray byte).
bool is_valid_utf8(const std::string& s) {
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const size_t len = c < 0x80           ? 1
                           : (c >> 5) == 0x6  ? 2
                           : (c >> 4) == 0xE  ? 3
                           : (c >> 3) == 0x1E ? 4
                                              : 0;
        if (len == 0 || i + len > s.size()) return false;
        for (size_t k = 1; k < len; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

bool data_ready() {
    return fs::exists(kData / "READY");
}
#define REQUIRE_DATA()                                                                            \
    if (!data_ready())                                                                            \
    QFAIL(qPrintable("no test data in " + QString::fromStdString(kData.string()) +                \
                     ": run tools/fetch_test_data.sh " + QString::fromStdString(kData.string()) + \
                     " (ctest's fetch_test_data fixture does it)"))

// A long text of everything the corpus has, some 200 KB.
std::string long_text(const std::vector<std::string>& parts) {
    std::mt19937 rng(7);
    std::string s;
    while (s.size() < 200000)
        s += parts[rng() % parts.size()];
    return s;
}

std::vector<std::string> corpus() {
    std::vector<std::string> c = {
        "",
        "Hello world! This is a test.",
        "  leading spaces, trailing   ",
        "    ",
        " ",
        "\n",
        "\n\n\n",
        "a\r\nb\r\n\r\nc\n\r",
        "tabs\tand\t\tmore\t\t\ttabs",
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
        "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }\n",
        "x = {'a': [1, 2, 3], \"b\": None}  # dict\n\tif x['a'][0] >= 1 && y != 2:",
        "The year 2024 had 366 days; pi is 3.14159265358979323846264338327950288.",
        "12345678901234567890123456789",
        "1,000,000 and 0.5% and -42 and +7 and 1e10 and 0x1F",
        "中文测试，你好世界！这是一个句子。",
        "日本語のテキストです。カタカナとひらがな、漢字。",
        "한국어 텍스트입니다",
        "مرحبا بالعالم، هذا نص عربي.",
        "नमस्ते दुनिया, यह हिंदी है।",
        "Ünïcödé wörds ârè hérè: café, naïve, Ωμέγα, Привет мир",
        "👩🏽‍💻 codes; family 👨‍👩‍👧‍👦; flags 🇫🇷🇯🇵; thumbs "
        "👍🏿👍🏻",
        "emoji alone: 😀😃😄😁🤣",
        "<｜begin▁of▁sentence｜>Hello<｜end▁of▁sentence｜>",
        "<｜User｜>Hi<｜Assistant｜><think>\nthinking\n</think>answer",
        "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n",
        "<|endoftext|>[gMASK]<sop><|user|>\nquestion<|assistant|>",
        "text<|endoftext|>more text <|endoftext|> spaced",
        "<｜fim▁begin｜>def f():<｜fim▁hole｜>pass<｜fim▁end｜>",
        "I'm you're we'll they'd IT'S THEY'LL O'Neil's",
        "\xEF\xBF\xBD replacement char, \xEF\xBB\xBF bom, \xEF\xBF\xBF nonchar",
        "\xED\x9F\xBF \xEE\x80\x80 \xF4\x8F\xBF\xBF edges",
        "e\xCC\x81\xCC\x82\xCC\x83 stacked marks, \xE2\x80\x8D zwj, \xE2\x80\x8F rtl",
        "a\xC2\xA0"
        "b\xE3\x80\x80"
        "c\xE2\x80\x83"
        "d\xC2\x85"
        "e",
        "mixed   \t \n  whitespace \n\n  runs",
        "https://example.com/path?q=1&r=2#frag",
        "ＡＢＣ　全角　１２３",
        "ﬁ ligature ½ ² ℌ Ⅻ",
        "UPPER lower MiXeD",
        "!!!???...,,,;;;:::",
        "--- *** ___ ===",
        "   leading then words",
        "trailing then spaces   ",
        "a\n \nb",
        "word\r\n",
    };
    c.push_back(long_text(c));
    return c;
}

// The ids and decoded text HF tokenizers gives for each text.
struct Reference {
    std::vector<int> ids;
    std::string decoded;
};

std::vector<Reference> reference(const fs::path& tokenizer_json,
                                 const std::vector<std::string>& texts, const fs::path& tmp) {
    const fs::path input = tmp / "texts.json";
    write_file(input, json(texts).dump());
    QProcess p;
    p.start(
        QString::fromStdString((kData / "venv/bin/python").string()),
        {QString(LC_SOURCE_DIR "/tests/ref/hf_tokenize.py"),
         QString::fromStdString(tokenizer_json.string()), QString::fromStdString(input.string())});
    if (!p.waitForFinished(300000) || p.exitCode() != 0) {
        qWarning("%s", p.readAllStandardError().constData());
        return {};
    }
    std::vector<Reference> out;
    std::istringstream lines(p.readAllStandardOutput().toStdString());
    for (std::string line; std::getline(lines, line);) {
        const json j = json::parse(line);
        out.push_back({j["ids"].get<std::vector<int>>(), j["decoded"].get<std::string>()});
    }
    return out;
}

std::string cli_tokenize(const fs::path& model, const fs::path& file) {
    QProcess p;
    p.start(LC_CLI_PATH, {"tokenize", "--model", QString::fromStdString(model.string()), "--file",
                          QString::fromStdString(file.string())});
    p.waitForFinished(120000);
    if (p.exitCode() != 0) return "error: " + p.readAllStandardError().toStdString();
    return p.readAllStandardOutput().toStdString();
}

std::string joined(const std::vector<int>& ids) {
    std::string s;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i) s += ',';
        s += std::to_string(ids[i]);
    }
    s += '\n';
    return s;
}

// Streams `ids` one at a time; every chunk must be whole UTF-8 and all of them the full decode.
bool stream_matches(const lc::Tokenizer& tok, const std::vector<int>& ids) {
    lc::StreamDecoder dec(tok);
    std::string out;
    for (int id : ids) {
        const std::string chunk = dec.push(id);
        if (!is_valid_utf8(chunk)) return false;
        out += chunk;
    }
    const std::string rest = dec.flush();
    return is_valid_utf8(rest) && out + rest == tok.decode(ids);
}

// Compares our tokenizer in `dir` with the reference over `texts`; returns the count compared.
int compare_with_reference(const fs::path& dir, const std::vector<std::string>& texts,
                           const fs::path& tmp) {
    const auto tok = lc::Tokenizer::load(dir, -1, -1);
    const std::vector<Reference> ref = reference(dir / "tokenizer.json", texts, tmp);
    if (ref.size() != texts.size()) {
        qWarning("the reference gave %zu results for %zu texts", ref.size(), texts.size());
        return -1;
    }
    int compared = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
        const std::vector<int> ids = tok->encode(texts[i], false);
        if (ids != ref[i].ids) {
            qWarning("%s: ids differ for text %zu \"%s\":\n ours %s ref  %s", dir.c_str(), i,
                     texts[i].substr(0, 120).c_str(), joined(ids).c_str(),
                     joined(ref[i].ids).c_str());
            return -1;
        }
        const std::string decoded = tok->decode(ids);
        if (decoded != ref[i].decoded) {
            qWarning("%s: decode differs for text %zu:\n ours \"%s\"\n ref  \"%s\"", dir.c_str(), i,
                     decoded.substr(0, 200).c_str(), ref[i].decoded.substr(0, 200).c_str());
            return -1;
        }
        // Where HF's decode gives the text back, ours does too (it is the same string).
        if (!stream_matches(*tok, ids)) {
            qWarning("%s: streaming differs from decode for text %zu", dir.c_str(), i);
            return -1;
        }
        ++compared;
    }
    return compared;
}

}  // namespace

class TestHfTokenizer : public QObject {
    Q_OBJECT

private slots:
    void published_tokenizers_match_reference();
    void published_tokenizers_through_cli();
    void components_match_reference();
    void component_expectations();
    void stream_random_ids();
    void bos_eos_from_config();
    void long_inputs_are_fast();
    void bad_files();
};

namespace {

std::vector<fs::path> published() {
    std::vector<fs::path> dirs;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(kData / "published", ec))
        if (fs::exists(e.path() / "tokenizer.json")) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    return dirs;
}

std::vector<std::string> component_corpus() {
    std::vector<std::string> c = corpus();
    c.pop_back();  // not the long text
    for (const char* s :
         {"<|end|> <L>   x  <R>   y <|end|>x", "a word, words, sword word. word zq xzq zq. zqx",
          "<TAG> and <tag>, <RAW> <raw>", "``quoted``   twice  ", "the thing in the ring",
          "xyz xyz xyzw", "Hello, World! 1234 a.b?c", "x<sep> y <sep>z", "théâtre ÉTÉ ﬁ", "  \t x"})
        c.push_back(s);
    return c;
}

}  // namespace

void TestHfTokenizer::published_tokenizers_match_reference() {
    REQUIRE_DATA();
    QTemporaryDir tmp;
    const auto dirs = published();
    QVERIFY2(dirs.size() >= 7, "expected the 7 published tokenizer.json files");
    const auto texts = corpus();
    int total = 0;
    for (const fs::path& dir : dirs) {
        const int n = compare_with_reference(dir, texts, tmp.path().toStdString());
        QVERIFY2(n == static_cast<int>(texts.size()), dir.c_str());
        total += n;
    }
    qInfo("%d texts x %zu published tokenizers: ids and decoded text equal to HF tokenizers",
          static_cast<int>(texts.size()), dirs.size());
}

void TestHfTokenizer::published_tokenizers_through_cli() {
    REQUIRE_DATA();
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    std::vector<std::string> texts = corpus();
    std::string all;
    for (const auto& t : texts)
        all += t + "\n--\n";
    const std::vector<std::string> files = {all, texts.back()};
    for (size_t i = 0; i < files.size(); ++i)
        write_file(dir / ("text" + std::to_string(i)), files[i]);
    for (const fs::path& model : published()) {
        const std::vector<Reference> ref = reference(model / "tokenizer.json", files, dir);
        QCOMPARE(ref.size(), files.size());
        for (size_t i = 0; i < files.size(); ++i) {
            QCOMPARE(cli_tokenize(model, dir / ("text" + std::to_string(i))), joined(ref[i].ids));
        }
    }
}

void TestHfTokenizer::components_match_reference() {
    REQUIRE_DATA();
    QTemporaryDir tmp;
    const auto texts = component_corpus();
    int total = 0;
    const auto all = synthetic();
    for (const auto& [name, j] : all) {
        const fs::path dir = fs::path(tmp.path().toStdString()) / name;
        fs::create_directories(dir);
        write_file(dir / "tokenizer.json", j.dump());
        const int n = compare_with_reference(dir, texts, dir);
        QVERIFY2(n == static_cast<int>(texts.size()), name.c_str());
        total += n;
    }
    qInfo("%d texts x %zu component tokenizers equal to HF tokenizers",
          static_cast<int>(texts.size()), all.size());
}

namespace {

// Loads tokenizer.json `j` (and tokenizer_config.json when given) from a fresh folder.
std::unique_ptr<lc::Tokenizer> load_json(const QTemporaryDir& tmp, const json& j,
                                         const std::string& config = "", int bos = -1,
                                         int eos = -1) {
    const fs::path dir = tmp.path().toStdString();
    write_file(dir / "tokenizer.json", j.dump());
    if (!config.empty()) write_file(dir / "tokenizer_config.json", config);
    return lc::Tokenizer::load(dir, bos, eos);
}

json find_synthetic(const std::string& name) {
    for (auto& [n, j] : synthetic())
        if (n == name) return j;
    return {};
}

}  // namespace

void TestHfTokenizer::component_expectations() {
    QTemporaryDir tmp;
    const auto tok = load_json(tmp, find_synthetic("gpt2_added"));
    const int end = *tok->piece_id("<|end|>"), l = *tok->piece_id("<L>"), r = *tok->piece_id("<R>");
    QCOMPARE(end, 256 + 17);  // after the byte alphabet and the 17 merged tokens
    QCOMPARE(tok->vocab_size(), end + 5);
    // lstrip takes the spaces before <L>, rstrip those after <R>; both decode without them.
    const auto ids = tok->encode("a  <L>b<R>   c", false);
    QCOMPARE(std::count(ids.begin(), ids.end(), l), 1);
    QCOMPARE(std::count(ids.begin(), ids.end(), r), 1);
    // add_prefix_space puts a space before each piece; <L> is special, skipped in decode.
    QCOMPARE(tok->decode(ids), std::string(" a b<R> c"));
    // The longest added token wins; single_word only between non-word characters.
    QCOMPARE(tok->encode("<|end|>x", false), std::vector<int>{end + 4});
    const int zq = *tok->piece_id("zq");
    QCOMPARE(tok->encode("zq", false), std::vector<int>{zq});
    const auto inside = tok->encode("xzq", false);
    QVERIFY(std::find(inside.begin(), inside.end(), zq) == inside.end());
    QCOMPARE(tok->encode("", true), std::vector<int>{});  // no BOS known here
    QCOMPARE(tok->piece_id("nope"), std::nullopt);
    QCOMPARE(tok->piece_id(bl(" the")), std::optional<int>(256 + 2));
    // Invalid UTF-8 is read with U+FFFD for each bad sequence, as Python would decode it.
    QCOMPARE(tok->decode(tok->encode("a\xFF"
                                     "b\xE2\x98",
                                     false)),
             std::string(" a\xEF\xBF\xBD"
                         "b\xEF\xBF\xBD"));
    // Ids outside the vocabulary have no text.
    const std::vector<int> odd = {-1, 1 << 30, 'h', 'i'};
    QCOMPARE(tok->decode(odd), std::string("hi"));
}

void TestHfTokenizer::stream_random_ids() {
    REQUIRE_DATA();
    QTemporaryDir tmp;
    std::vector<std::unique_ptr<lc::Tokenizer>> toks;
    toks.push_back(lc::Tokenizer::load(kData / "published/deepseek-v3", -1, -1));
    toks.push_back(load_json(tmp, find_synthetic("llama_byte_fallback")));
    std::mt19937 rng(99);
    for (const auto& tok : toks) {
        const auto text_ids = tok->encode("café ☕ 東京 😀 naïve  spaces\n\tand Ωμέγα <s>", false);
        std::vector<int> pool;  // tokens of single bytes (byte-level or <0xNN>), specials, odd ids
        for (int id = 0; id < std::min(tok->vocab_size(), 600); ++id)
            pool.push_back(id);
        pool.insert(pool.end(), {-3, tok->vocab_size() + 2, tok->bos_id(), tok->eos_id()});
        for (int trial = 0; trial < 3000; ++trial) {
            std::vector<int> ids;
            const int len = static_cast<int>(rng() % 20);
            for (int i = 0; i < len; ++i) {
                ids.push_back(rng() % 3 ? pool[rng() % pool.size()]
                                        : text_ids[rng() % text_ids.size()]);
            }
            if (!stream_matches(*tok, ids)) {
                qWarning("stream differs for ids %s", joined(ids).c_str());
                QFAIL("streaming is not the full decode");
            }
        }
        // Streaming keeps the spaces between words and emits each word with its token.
        const auto ids = tok->encode("Once upon a time", false);
        lc::StreamDecoder dec(*tok);
        std::string out;
        for (int id : ids) {
            const std::string part = dec.push(id);
            QVERIFY(!part.empty() || out.empty());  // the first piece may be a lone space, dropped
            out += part;
        }
        QCOMPARE(out + dec.flush(), std::string("Once upon a time"));
    }
}

void TestHfTokenizer::bos_eos_from_config() {
    REQUIRE_DATA();
    const auto v3 = lc::Tokenizer::load(kData / "published/deepseek-v3", -1, -1);
    QCOMPARE(v3->bos_id(), 0);  // {"content": "<｜begin▁of▁sentence｜>"} in tokenizer_config.json
    QCOMPARE(v3->eos_id(), 1);
    QCOMPARE(v3->encode("Hi", true).front(), 0);
    const auto given = lc::Tokenizer::load(kData / "published/deepseek-v3", 5, 6);
    QCOMPARE(given->bos_id(), 5);
    QCOMPARE(given->eos_id(), 6);
    const auto glm = lc::Tokenizer::load(kData / "published/glm-4.7-flash", -1, -1);
    QCOMPARE(glm->eos_id(), *glm->piece_id("<|endoftext|>"));  // a plain string there
    QCOMPARE(glm->bos_id(), -1);
    QCOMPARE(glm->encode("Hi", true), glm->encode("Hi", false));

    // No config: the post-processor's first special token.
    json j = find_synthetic("llama_byte_fallback");
    j["post_processor"] = {
        {"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
    QTemporaryDir tmp;
    QCOMPARE(load_json(tmp, j)->bos_id(), 1);
    QCOMPARE(
        load_json(tmp, j, R"({"bos_token": "</s>", "eos_token": {"content": "<unk>"}})")->bos_id(),
        2);
    QCOMPARE(
        load_json(tmp, j, R"({"bos_token": "</s>", "eos_token": {"content": "<unk>"}})")->eos_id(),
        0);
}

void TestHfTokenizer::long_inputs_are_fast() {
    REQUIRE_DATA();
    const auto tok = lc::Tokenizer::load(kData / "published/deepseek-v3", -1, -1);
    const std::vector<std::pair<const char*, std::string>> inputs = {
        {"1 MB of letters", std::string(1000000, 'a')},
        {"100k spaces", std::string(100000, ' ')},
        {"spaces then a word", std::string(100000, ' ') + "x"},
        {"1 MB of digits", std::string(1000000, '7')},
        {"newlines and spaces",
         [] {
             std::string s;
             for (int i = 0; i < 50000; ++i)
                 s += " \n";
             return s;
         }()},
        {"100k '<'", std::string(100000, '<')}};
    for (const auto& [name, text] : inputs) {
        QElapsedTimer timer;
        timer.start();
        const auto ids = tok->encode(text, false);
        QVERIFY(!ids.empty());
        QVERIFY2(timer.elapsed() < 5000,
                 qPrintable(QString("%1: %2 ms").arg(name).arg(timer.elapsed())));
        QCOMPARE(tok->decode(ids), text);
    }
}

void TestHfTokenizer::bad_files() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    const std::string file = (dir / "tokenizer.json").string();
    const json good = find_synthetic("gpt2_added");
    auto check = [&](const std::string& text, const std::vector<std::string>& words) {
        write_file(dir / "tokenizer.json", text);
        const std::string msg = error_of([&] { lc::Tokenizer::load(dir, -1, -1); });
        QVERIFY2(msg.starts_with(file), msg.c_str());
        for (const auto& w : words)
            QVERIFY2(msg.find(w) != std::string::npos, (msg + " lacks " + w).c_str());
    };
    check(good.dump().substr(0, 500), {"not valid JSON"});
    check("", {"not valid JSON"});
    check("[1, 2]", {"not a JSON object"});
    auto with = [&](const char* key, json value) {
        json j = good;
        j[key] = std::move(value);
        return j.dump();
    };
    check(with("pre_tokenizer", {{"type", "Foo"}}),
          {"pre_tokenizer type \"Foo\" is not supported"});
    check(with("pre_tokenizer", seq("Sequence", "pretokenizers", {{{"type", "UnicodeScripts"}}})),
          {"\"UnicodeScripts\""});
    check(with("normalizer", {{"type", "Precompiled"}}), {"normalizer type \"Precompiled\""});
    check(with("decoder", {{"type", "CTC"}}), {"decoder type \"CTC\""});
    check(with("post_processor", {{"type", "Weird"}}), {"post_processor type \"Weird\""});
    check(with("pre_tokenizer", split("Regex", "(unclosed", "Isolated")),
          {"pre_tokenizer Split", "(unclosed", "not valid"});
    check(with("pre_tokenizer", split("Regex", "a", "Sideways")), {"\"behavior\""});
    check(with("normalizer", pattern_replace("Regex", "[z-a]", "")),
          {"normalizer Replace", "not valid"});
    check(with("version", "2.0"), {"version \"2.0\""});
    check(with("added_tokens", "none"), {"\"added_tokens\""});
    check(with("added_tokens", {{{"content", 5}}}), {"added token 1", "\"content\""});
    json model = good["model"];
    model["merges"].push_back("nosuch token");
    check(with("model", model), {"merge 18", "\"nosuch\"", "not in the vocabulary"});
    model = good["model"];
    model["merges"].push_back("a b c");
    check(with("model", model), {"merge 18", "one space"});
    // WordLevel and Unigram models (ids in their own tables) are refused as a whole, so no id of
    // theirs sizes anything.
    for (const char* type : {"WordPiece", "WordLevel", "Unigram"}) {
        model = good["model"];
        model["type"] = type;
        check(with("model", model), {std::string("model type \"") + type + "\"", "only BPE"});
    }
    // A vocab id sizes the id table: ids of 2^24 and above, negative or not integers are refused
    // (1333333333 allocated 10.6 GB before; fuzz_hf_tokenizer, issue 22).
    for (const json& id : {json(1333333333), json(1 << 24), json(-1), json(2.5), json("7")}) {
        model = good["model"];
        model["vocab"]["zz"] = id;
        check(with("model", model), {"the id of \"zz\"", "not a valid id"});
    }
    model = good["model"];
    model["dropout"] = 0.1;
    check(with("model", model), {"dropout"});
    model = good["model"];
    model["vocab"] = json::array();
    check(with("model", model), {"\"vocab\""});
    model = good["model"];
    model["unk_token"] = "<missing>";
    check(with("model", model), {"unk_token", "<missing>"});
    check(with("model", nullptr), {"model must be an object"});
    // tokenizer_config.json is read only when the ids are not given; a broken one is named.
    write_file(dir / "tokenizer.json", good.dump());
    write_file(dir / "tokenizer_config.json", "{\"bos_token\": ");
    const std::string msg = error_of([&] { lc::Tokenizer::load(dir, -1, -1); });
    QVERIFY2(msg.starts_with((dir / "tokenizer_config.json").string()), msg.c_str());
    QCOMPARE(lc::Tokenizer::load(dir, 1, 2)->eos_id(), 2);
}

QTEST_APPLESS_MAIN(TestHfTokenizer)
#include "test_hf_tokenizer.moc"
