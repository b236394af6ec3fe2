// Regexes of tokenizer.json through PCRE2, matched the way the `tokenizers` library's Oniguruma
// matches them (UTF-8, Unicode classes, ^ and $ at line ends), and the split behaviours.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <optional>

#include "formats/hf_parts.h"

namespace lc::hf {

namespace {

std::string pcre2_message(int code) {
    PCRE2_UCHAR buffer[256];
    if (pcre2_get_error_message(code, buffer, sizeof(buffer)) < 0)
        return "error " + std::to_string(code);
    return reinterpret_cast<const char*>(buffer);
}

// What one thread needs to run a match: the match data and a JIT stack large enough for
// long runs of one class (a megabyte of letters is one match).
struct MatchScratch {
    pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
    pcre2_match_context* context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, nullptr);
    MatchScratch() {
        if (!data || !context) throw std::bad_alloc();
        if (stack) pcre2_jit_stack_assign(context, nullptr, stack);
    }
    ~MatchScratch() {
        pcre2_jit_stack_free(stack);
        pcre2_match_context_free(context);
        pcre2_match_data_free(data);
    }
    MatchScratch(const MatchScratch&) = delete;
    MatchScratch& operator=(const MatchScratch&) = delete;
};

MatchScratch& scratch() {
    thread_local MatchScratch s;
    return s;
}

template <typename Pred>
std::vector<Span> find_char_matches(Pred is_match, std::string_view text) {
    if (text.empty()) return {{0, 0, false}};
    std::vector<Span> spans;
    size_t last = 0;
    for (size_t i = 0; i < text.size();) {
        const size_t start = i;
        const char32_t c = next_char(text, i);
        if (!is_match(c)) continue;
        if (last < start) spans.push_back({last, start, false});
        spans.push_back({start, i, true});
        last = i;
    }
    if (last < text.size()) spans.push_back({last, text.size(), false});
    return spans;
}

}  // namespace

Regex::Regex(std::string_view pattern, bool literal) {
    pcre2_compile_context* context = pcre2_compile_context_create(nullptr);
    if (!context) throw std::bad_alloc();
    pcre2_set_newline(context, PCRE2_NEWLINE_LF);
    const uint32_t options =
        literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE;
    int error = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     options, &error, &offset, context);
    pcre2_compile_context_free(context);
    if (!code) {
        throw Error("the regex \"" + std::string(pattern) + "\" is not valid: " +
                    pcre2_message(error) + " (at offset " + std::to_string(offset) + ")");
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // where JIT is missing, the interpreter runs
    code_ = code;
}

Regex::~Regex() {
    pcre2_code_free(static_cast<pcre2_code*>(code_));
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
    MatchScratch& s = scratch();
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t from = 0;
    std::optional<size_t> last_match_end;
    while (from <= text.size()) {
        int rc = pcre2_match(static_cast<const pcre2_code*>(code_), subject, text.size(), from,
                             PCRE2_NO_UTF_CHECK, s.data, s.context);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
            // A match too deep for the JIT stack: the interpreter keeps its state on the heap.
            rc = pcre2_match(static_cast<const pcre2_code*>(code_), subject, text.size(), from,
                             PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, s.data, s.context);
        }
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) throw Error("the text could not be matched: " + pcre2_message(rc));
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.data);
        const size_t start = ov[0], end = ov[1];
        if (start == end && last_match_end == end) {
            // An empty match where the last one ended: step one character and search again.
            if (from >= text.size()) break;
            next_char(text, from);
            continue;
        }
        out.emplace_back(start, end);
        from = end;
        last_match_end = end;
    }
}

std::unique_ptr<Regex> parse_pattern(const Json& j, const std::string& what) {
    if (j.is_object() && j.size() == 1) {
        const std::string kind = j.begin().key();
        const Json& value = j.begin().value();
        if ((kind == "String" || kind == "Regex") && value.is_string()) {
            try {
                return std::make_unique<Regex>(value.get<std::string>(), kind == "String");
            } catch (const Error& e) {
                throw Error(what + ": " + e.what());
            }
        }
    }
    throw Error(what + ": \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}");
}

std::vector<Span> find_matches(const Regex& regex, std::string_view text) {
    if (text.empty()) return {{0, 0, false}};
    std::vector<std::pair<size_t, size_t>> found;
    regex.find_all(text, found);
    std::vector<Span> spans;
    spans.reserve(found.size() * 2 + 1);
    size_t prev = 0;
    for (const auto& [start, end] : found) {
        if (prev != start) spans.push_back({prev, start, false});
        spans.push_back({start, end, true});
        prev = end;
    }
    if (prev != text.size()) spans.push_back({prev, text.size(), false});
    return spans;
}

std::vector<Span> find_matches(bool (*is_match)(char32_t), std::string_view text) {
    return find_char_matches(is_match, text);
}

std::vector<Span> find_matches(char32_t c, std::string_view text) {
    return find_char_matches([c](char32_t x) { return x == c; }, text);
}

SplitBehavior parse_behavior(const Json& j, const std::string& what) {
    const std::string name = j.is_string() ? j.get<std::string>() : "";
    if (name == "Removed") return SplitBehavior::Removed;
    if (name == "Isolated") return SplitBehavior::Isolated;
    if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (name == "Contiguous") return SplitBehavior::Contiguous;
    throw Error(what +
                ": \"behavior\" must be Removed, Isolated, MergedWithPrevious, "
                "MergedWithNext or Contiguous");
}

std::vector<std::pair<size_t, size_t>> apply_behavior(const std::vector<Span>& spans,
                                                      SplitBehavior behavior, bool invert) {
    std::vector<std::pair<size_t, size_t>> out;
    out.reserve(spans.size());
    bool previous = false;
    switch (behavior) {
        case SplitBehavior::Isolated:
            for (const Span& s : spans)
                out.emplace_back(s.start, s.end);
            break;
        case SplitBehavior::Removed:
            for (const Span& s : spans)
                if (s.match == invert) out.emplace_back(s.start, s.end);
            break;
        case SplitBehavior::Contiguous:
            for (const Span& s : spans) {
                const bool m = s.match != invert;
                if (m == previous && !out.empty()) {
                    out.back().second = s.end;
                } else {
                    out.emplace_back(s.start, s.end);
                }
                previous = m;
            }
            break;
        case SplitBehavior::MergedWithPrevious:
            for (const Span& s : spans) {
                const bool m = s.match != invert;
                if (m && !previous && !out.empty()) {
                    out.back().second = s.end;
                } else {
                    out.emplace_back(s.start, s.end);
                }
                previous = m;
            }
            break;
        case SplitBehavior::MergedWithNext:
            for (size_t i = spans.size(); i-- > 0;) {
                const Span& s = spans[i];
                const bool m = s.match != invert;
                if (m && !previous && !out.empty()) {
                    out.back().first = s.start;
                } else {
                    out.emplace_back(s.start, s.end);
                }
                previous = m;
            }
            std::reverse(out.begin(), out.end());
            break;
    }
    return out;
}

}  // namespace lc::hf
