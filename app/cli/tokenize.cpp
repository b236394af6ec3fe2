// `tokenize`: the ids of a text as the model folder's tokenizer gives them (tokenizer.json or
// tokenizer.model), with no BOS/EOS added and special tokens written in the text recognised. Only
// the tokenizer is read, so a folder with nothing but tokenizer files will do. With --bench it
// prints the encoding speed instead (JSON), the figure to compare with tests/ref/hf_bench.py.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "commands.h"
#include "formats/tokenizer.h"

namespace lc::cli {

namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Encodes `text` until a second has passed (at least 3 times); the best run counts.
nlohmann::json bench(const Tokenizer& tok, const std::string& text, int repeat) {
    using Clock = std::chrono::steady_clock;
    const auto first_start = Clock::now();
    const size_t tokens = tok.encode(text, false).size();  // the first run fills the caches
    const double first = std::chrono::duration<double>(Clock::now() - first_start).count();
    double best = first;
    const auto start = Clock::now();
    int runs = 0;
    while (runs < repeat ||
           (repeat == 0 && (runs < 3 || Clock::now() - start < std::chrono::seconds(1)))) {
        const auto t0 = Clock::now();
        (void)tok.encode(text, false);
        best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
        ++runs;
    }
    const double mb = static_cast<double>(text.size()) / 1e6;
    return {{"bytes", text.size()},
            {"tokens", tokens},
            {"runs", runs + 1},
            {"first_run_mb_per_s", first > 0 ? mb / first : 0.0},
            {"mb_per_s", best > 0 ? mb / best : 0.0}};
}

}  // namespace

int cmd_tokenize(const std::vector<std::string>& argv) {
    Args args(argv, {"model", "file", "text", "repeat"}, {"bench"});
    if (args.has("file") == args.has("text")) {
        throw Error("tokenize needs --file F or --text STRING (one of them)");
    }
    const int repeat = args.integer("repeat", 0, 0, 1000000);
    if (args.has("repeat") && !args.has("bench")) throw Error("--repeat goes with --bench");
    const std::string text = args.has("file") ? read_text(args.str("file")) : args.str("text");
    // The folder as every command finds it; its tokenizer alone is loaded (no weights, no
    // config.json needed): the ids do not depend on BOS/EOS.
    const auto tok = Tokenizer::load(model_path(open_options_from(args)), -1, -1);
    if (args.has("bench")) {
        std::cout << bench(*tok, text, repeat).dump(2) << "\n";
        return 0;
    }
    const std::vector<int> ids = tok->encode(text, false);
    std::string line;
    line.reserve(ids.size() * 7);
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) line += ',';
        line += std::to_string(ids[i]);
    }
    std::cout << line << "\n";
    return 0;
}

}  // namespace lc::cli
