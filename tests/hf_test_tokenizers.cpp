// Small tokenizer.json files, one per component of formats/hf_parts.h, for test_hf_tokenizer.
#include "hf_test_tokenizers.h"

#include <QString>

#include <cstdio>

namespace hf_test {

// GPT-2's byte-level spelling of `bytes`.
std::string bl(std::string_view bytes) {
    static const auto chars = [] {
        std::vector<std::string> c(256);
        int next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
            const int cp = keep ? b : next++;
            c[static_cast<size_t>(b)] = QString(QChar(cp)).toUtf8().toStdString();
        }
        return c;
    }();
    std::string s;
    for (unsigned char b : bytes)
        s += chars[b];
    return s;
}

// A BPE model: `base` tokens, then each merge's result; merges as "a b" or as [a, b].
json bpe_model(std::vector<std::string> base,
               const std::vector<std::pair<std::string, std::string>>& merges,
               const std::string& prefix = "", bool pairs = true) {
    json vocab = json::object(), list = json::array();
    for (const auto& t : base)
        if (!vocab.contains(t)) vocab[t] = vocab.size();
    for (const auto& [a, b] : merges) {
        const std::string m = a + b.substr(std::min(prefix.size(), b.size()));
        if (!vocab.contains(m)) vocab[m] = vocab.size();
        if (!pairs) {
            list.push_back(a + " " + b);
        } else {
            list.push_back(json::array({a, b}));
        }
    }
    return {{"type", "BPE"}, {"vocab", vocab}, {"merges", list}};
}

json byte_level_model(bool ignore_merges = false) {
    std::vector<std::string> base;
    for (int b = 0; b < 256; ++b)
        base.push_back(bl(std::string(1, static_cast<char>(b))));
    const std::string G = bl(" ");
    json m = bpe_model(base,
                       {{G, "t"},
                        {"h", "e"},
                        {G + "t", "he"},
                        {"i", "n"},
                        {"in", "g"},
                        {G, G},
                        {G + G, G + G},
                        {"e", "r"},
                        {"1", "2"},
                        {"12", "3"},
                        {G, "a"},
                        {"o", "r"},
                        {"w", "or"},
                        {"wor", "d"},
                        {G, "word"},
                        {bl("\n"), bl("\n")},
                        {bl("\xE4"), bl("\xB8")}},
                       "", false);
    m["ignore_merges"] = ignore_merges;
    if (ignore_merges) m["vocab"][G + "xyz"] = m["vocab"].size();
    return m;
}

json llama_model(bool byte_fallback, bool fuse_unk) {
    std::vector<std::string> base = {"<unk>", "<s>", "</s>"};
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", b);
        base.push_back(name);
    }
    base.push_back("\xE2\x96\x81");
    for (char c = '!'; c <= '~'; ++c)
        base.push_back(std::string(1, c));
    const std::string S = "\xE2\x96\x81";
    json m = bpe_model(base, {{S, "t"},
                              {"h", "e"},
                              {S + "t", "he"},
                              {"i", "n"},
                              {"in", "g"},
                              {S, S},
                              {"e", "r"},
                              {S, "a"},
                              {"o", "r"},
                              {S, "w"},
                              {S + "w", "or"}});
    m["byte_fallback"] = byte_fallback;
    m["fuse_unk"] = fuse_unk;
    m["unk_token"] = "<unk>";
    return m;
}

json wordpiece_like_model() {
    std::vector<std::string> base = {"[UNK]"};
    for (char c = '!'; c <= '~'; ++c) {
        const std::string s(1, c);
        for (const std::string& t : {s, "##" + s, s + "</w>", "##" + s + "</w>"})
            base.push_back(t);
    }
    json m = bpe_model(base,
                       {{"t", "##h"},
                        {"th", "##e</w>"},
                        {"w", "##o"},
                        {"wo", "##r"},
                        {"wor", "##d</w>"},
                        {"i", "##n"},
                        {"in", "##g</w>"}},
                       "##");
    m["unk_token"] = "[UNK]";
    m["continuing_subword_prefix"] = "##";
    m["end_of_word_suffix"] = "</w>";
    return m;
}

json split(const std::string& kind, const std::string& pattern, const std::string& behavior,
           bool invert) {
    return {{"type", "Split"},
            {"pattern", {{kind, pattern}}},
            {"behavior", behavior},
            {"invert", invert}};
}
json seq(const char* type, const char* key, json parts) {
    return {{"type", type}, {key, std::move(parts)}};
}
json pattern_replace(const std::string& kind, const std::string& pattern, const std::string& to) {
    return {{"type", "Replace"}, {"pattern", {{kind, pattern}}}, {"content", to}};
}
json added(const std::string& content, bool special, bool normalized, bool lstrip = false,
           bool rstrip = false, bool single_word = false) {
    return {{"id", 0},
            {"content", content},
            {"special", special},
            {"normalized", normalized},
            {"lstrip", lstrip},
            {"rstrip", rstrip},
            {"single_word", single_word}};
}

json tokenizer(json model, json normalizer, json pre, json decoder,
               json added_tokens = json::array()) {
    return {{"version", "1.0"},
            {"truncation", nullptr},
            {"padding", nullptr},
            {"added_tokens", added_tokens},
            {"normalizer", normalizer},
            {"pre_tokenizer", pre},
            {"post_processor", nullptr},
            {"decoder", decoder},
            {"model", model}};
}

// One small tokenizer per component (and per split behaviour), for comparison with tokenizers.
std::vector<std::pair<std::string, json>> synthetic() {
    const json bl_pre = {{"type", "ByteLevel"},
                         {"add_prefix_space", false},
                         {"trim_offsets", true},
                         {"use_regex", false}};
    const json bl_dec = {{"type", "ByteLevel"},
                         {"add_prefix_space", true},
                         {"trim_offsets", true},
                         {"use_regex", true}};
    const auto with_bl = [&](json pre) { return seq("Sequence", "pretokenizers", {pre, bl_pre}); };
    const std::string S = "\xE2\x96\x81";
    std::vector<std::pair<std::string, json>> t;
    t.emplace_back(
        "gpt2_added",
        tokenizer(byte_level_model(), nullptr,
                  {{"type", "ByteLevel"},
                   {"add_prefix_space", true},
                   {"trim_offsets", true},
                   {"use_regex", true}},
                  bl_dec,
                  {added("<|end|>", true, false), added("<L>", true, false, true),
                   added("<R>", false, false, false, true),
                   added("zq", false, true, false, false, true), added("<|end|>x", false, false)}));
    t.emplace_back(
        "normalizers",
        tokenizer(byte_level_model(),
                  seq("Sequence", "normalizers",
                      {{{"type", "NFKC"}},
                       {{"type", "Lowercase"}},
                       pattern_replace("String", "``", "\""),
                       pattern_replace("Regex", "\\s+", " "),
                       {{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}}),
                  seq("Sequence", "pretokenizers",
                      {split("Regex", "\\p{N}{1,3}", "Isolated"),
                       {{"type", "ByteLevel"},
                        {"add_prefix_space", false},
                        {"trim_offsets", true},
                        {"use_regex", true}}}),
                  bl_dec, {added("<tag>", false, true), added("<RAW>", true, false)}));
    t.emplace_back("split_removed", tokenizer(byte_level_model(), nullptr,
                                              with_bl(split("String", " ", "Removed")), bl_dec));
    t.emplace_back("split_previous",
                   tokenizer(byte_level_model(), nullptr,
                             with_bl(split("Regex", "[,.!?]", "MergedWithPrevious")), bl_dec));
    t.emplace_back("split_next",
                   tokenizer(byte_level_model(), nullptr,
                             with_bl(split("Regex", "\\s+", "MergedWithNext")), bl_dec));
    t.emplace_back("split_contiguous_invert",
                   tokenizer(byte_level_model(), nullptr,
                             with_bl(split("Regex", "\\p{L}+", "Contiguous", true)), bl_dec));
    t.emplace_back(
        "split_lookahead_caseless",
        tokenizer(byte_level_model(), nullptr,
                  with_bl(split("Regex", "(?i:'s|'ll)|\\s+(?!\\S)|\\s+$|^\\w", "Isolated")),
                  bl_dec));
    t.emplace_back("whitespace", tokenizer(byte_level_model(), nullptr,
                                           with_bl({{"type", "Whitespace"}}), bl_dec));
    t.emplace_back("wsplit_punct_digits",
                   tokenizer(byte_level_model(), nullptr,
                             seq("Sequence", "pretokenizers",
                                 {{{"type", "WhitespaceSplit"}},
                                  {{"type", "Punctuation"}, {"behavior", "Isolated"}},
                                  {{"type", "Digits"}, {"individual_digits", false}},
                                  bl_pre}),
                             bl_dec));
    t.emplace_back("digits_individual",
                   tokenizer(byte_level_model(), nullptr,
                             with_bl({{"type", "Digits"}, {"individual_digits", true}}), bl_dec));
    t.emplace_back("ignore_merges", tokenizer(byte_level_model(true), nullptr,
                                              {{"type", "ByteLevel"},
                                               {"add_prefix_space", true},
                                               {"trim_offsets", true},
                                               {"use_regex", true}},
                                              bl_dec));
    const json specials = {added("<unk>", true, false), added("<s>", true, false),
                           added("</s>", true, false)};
    t.emplace_back(
        "llama_byte_fallback",
        tokenizer(llama_model(true, false),
                  seq("Sequence", "normalizers",
                      {{{"type", "Prepend"}, {"prepend", S}}, pattern_replace("String", " ", S)}),
                  nullptr,
                  seq("Sequence", "decoders",
                      {pattern_replace("String", S, " "),
                       {{"type", "ByteFallback"}},
                       {{"type", "Fuse"}},
                       {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}),
                  specials));
    json more = specials;
    more.push_back(added("<sep>", false, false));
    t.emplace_back("metaspace_first", tokenizer(llama_model(false, false), {{"type", "NFD"}},
                                                {{"type", "Metaspace"},
                                                 {"replacement", S},
                                                 {"prepend_scheme", "first"},
                                                 {"split", true}},
                                                {{"type", "Metaspace"},
                                                 {"replacement", S},
                                                 {"prepend_scheme", "first"},
                                                 {"split", true}},
                                                more));
    t.emplace_back(
        "metaspace_never_fused_unk",
        tokenizer(llama_model(false, true), {{"type", "NFKD"}},
                  {{"type", "Metaspace"},
                   {"replacement", S},
                   {"prepend_scheme", "never"},
                   {"split", false}},
                  {{"type", "Metaspace"}, {"replacement", S}, {"prepend_scheme", "never"}},
                  specials));
    t.emplace_back(
        "subword_prefix_suffix",
        tokenizer(wordpiece_like_model(),
                  seq("Sequence", "normalizers",
                      {{{"type", "NFD"}}, {{"type", "StripAccents"}}, {{"type", "NFC"}}}),
                  seq("Sequence", "pretokenizers",
                      {{{"type", "WhitespaceSplit"}}, {{"type", "Punctuation"}}}),
                  {{"type", "BPEDecoder"}, {"suffix", "</w>"}}, {added("[UNK]", true, false)}));
    return t;
}

}  // namespace hf_test
