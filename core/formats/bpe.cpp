// The BPE model of tokenizer.json (hf_parts.h): a word's characters (or their bytes, or unk)
// merged pair by pair, the lowest-ranked pair first and the leftmost among equals, through a
// priority queue so that a long word costs O(n log n). Results of short words are cached.
#include <algorithm>
#include <cstdio>
#include <mutex>
#include <queue>

#include "formats/hf_parts.h"

namespace lc::hf {

namespace {

constexpr size_t kCacheWordBytes = 256;  // longer words are rare and not worth keeping
constexpr size_t kCacheEntries = 100000;

uint64_t pair_key(int a, int b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

struct Symbol {
    int id;
    int prev;
    int next;
    size_t len;  // bytes of the word; 0: merged into its left neighbour
};

struct Merge {
    uint32_t rank;
    uint32_t pos;
    int new_id;
    // std::priority_queue puts the greatest first: make that the lowest rank, then position.
    bool operator<(const Merge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

const Json* optional_string(const Json& model, const char* key) {
    const Json* v = field(model, key);
    if (v && !v->is_string()) throw Error(std::string("model: \"") + key + "\" must be a string");
    return v;
}

}  // namespace

struct Bpe::Cache {
    std::mutex mutex;
    StringMap<std::vector<int>> words;
};

Bpe::Bpe(const Json& model) : cache_(std::make_unique<Cache>()) {
    if (!model.is_object()) throw Error("model must be an object");
    if (const Json* type = field(model, "type"); type && *type != "BPE") {
        throw Error("model type " + type->dump() + " is not supported (only BPE is)");
    }
    if (const Json* dropout = field(model, "dropout")) {
        if (!dropout->is_number() || dropout->get<double>() != 0.0)
            throw Error("model: BPE dropout is not supported (it makes encoding random)");
    }
    const Json* vocab = field(model, "vocab");
    if (!vocab || !vocab->is_object()) throw Error("model: \"vocab\" must be an object");
    vocab_.reserve(vocab->size());
    for (const auto& [token, id] : vocab->items()) {
        // Ids index a table sized by the largest one: bounded (2^24, far above any real
        // vocabulary) so that one absurd id cannot ask for gigabytes (issue 22, fuzz_hf_tokenizer).
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= (1 << 24))
            throw Error("model: the id of \"" + token + "\" in \"vocab\" is not a valid id");
        const int i = id.get<int>();
        vocab_[token] = i;
        max_id_ = std::max(max_id_, i);
    }
    by_id_.assign(static_cast<size_t>(max_id_ + 1), nullptr);
    for (const auto& [token, id] : vocab_)
        by_id_[static_cast<size_t>(id)] = &token;

    if (const Json* p = optional_string(model, "continuing_subword_prefix")) prefix_ = *p;
    if (const Json* s = optional_string(model, "end_of_word_suffix")) suffix_ = *s;
    if (const Json* unk = optional_string(model, "unk_token")) {
        unk_id_ = token_id(unk->get<std::string>());
        if (unk_id_ < 0)
            throw Error("model: unk_token \"" + unk->get<std::string>() +
                        "\" is not in the vocabulary");
    }
    fuse_unk_ = get_bool(model, "fuse_unk", false, "model");
    byte_fallback_ = get_bool(model, "byte_fallback", false, "model");
    ignore_merges_ = get_bool(model, "ignore_merges", false, "model");
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", b);
        byte_ids_[b] = token_id(name);
    }

    const Json* merges = field(model, "merges");
    if (merges && !merges->is_array()) throw Error("model: \"merges\" must be a list");
    const size_t n = merges ? merges->size() : 0;
    merges_.reserve(n);
    for (size_t rank = 0; rank < n; ++rank) {
        const Json& m = (*merges)[rank];
        std::string a, b;
        if (m.is_string()) {
            // "a b": exactly one space, as tokenizers reads merges.txt lines.
            const std::string line = m.get<std::string>();
            const size_t space = line.find(' ');
            if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
                throw Error("model: merge " + std::to_string(rank + 1) + " (\"" + line +
                            "\") is not two tokens separated by one space");
            a = line.substr(0, space);
            b = line.substr(space + 1);
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            a = m[0].get<std::string>();
            b = m[1].get<std::string>();
        } else {
            throw Error("model: merge " + std::to_string(rank + 1) +
                        " is neither \"a b\" nor [\"a\", \"b\"]");
        }
        auto id_of = [&](const std::string& token) {
            const int id = token_id(token);
            if (id < 0)
                throw Error("model: merge " + std::to_string(rank + 1) + " (\"" + a + " " + b +
                            "\") needs \"" + token + "\", which is not in the vocabulary");
            return id;
        };
        const int a_id = id_of(a), b_id = id_of(b);
        const size_t skip = std::min(prefix_.size(), b.size());
        const int new_id = id_of(a + b.substr(skip));
        // A pair listed twice keeps its last rank, as tokenizers' map does.
        merges_[pair_key(a_id, b_id)] =
            (static_cast<uint64_t>(rank) << 32) | static_cast<uint32_t>(new_id);
    }
}

Bpe::~Bpe() = default;

int Bpe::token_id(std::string_view token) const {
    auto it = vocab_.find(token);
    return it == vocab_.end() ? -1 : it->second;
}

const std::string* Bpe::token(int id) const {
    return id >= 0 && id <= max_id_ ? by_id_[static_cast<size_t>(id)] : nullptr;
}

void Bpe::tokenize(std::string_view word, std::vector<int>& out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
        if (const int id = token_id(word); id >= 0) {
            out.push_back(id);
            return;
        }
    }
    if (word.size() >= kCacheWordBytes) {
        merge_word(word, out);
        return;
    }
    {
        std::lock_guard lock(cache_->mutex);
        auto it = cache_->words.find(word);
        if (it != cache_->words.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t before = out.size();
    merge_word(word, out);
    std::lock_guard lock(cache_->mutex);
    if (cache_->words.size() < kCacheEntries)
        cache_->words.emplace(std::string(word),
                              std::vector<int>(out.begin() + static_cast<long>(before), out.end()));
}

void Bpe::merge_word(std::string_view word, std::vector<int>& out) const {
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    auto add = [&](int id, size_t len) {
        const int n = static_cast<int>(symbols.size());
        if (n > 0) symbols.back().next = n;
        symbols.push_back({id, n - 1, -1, len});
    };
    int unk_len = 0;  // bytes of a pending unk (fused or not yet added)
    bool unk_pending = false;
    std::string decorated;
    for (size_t i = 0; i < word.size();) {
        const size_t start = i;
        next_char(word, i);
        const bool first = start == 0, last = i == word.size();
        std::string_view s = word.substr(start, i - start);
        if ((!first && !prefix_.empty()) || (last && !suffix_.empty())) {
            decorated.assign(first ? "" : prefix_);
            decorated.append(s);
            if (last) decorated.append(suffix_);
            s = decorated;
        }
        const size_t byte_len = i - start;
        if (const int id = token_id(s); id >= 0) {
            if (unk_pending) add(unk_id_, static_cast<size_t>(unk_len));
            unk_pending = false;
            add(id, byte_len);
            continue;
        }
        if (byte_fallback_) {
            bool all = true;
            for (char c : s)
                all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
            if (all) {
                // tokenizers does not add a pending unk here; it comes later, out of order.
                for (char c : s)
                    add(byte_ids_[static_cast<unsigned char>(c)], 1);
                continue;
            }
        }
        if (unk_id_ < 0) continue;  // no unk token: the character is dropped, as in tokenizers
        if (unk_pending && fuse_unk_) {
            unk_len += static_cast<int>(byte_len);
        } else {
            if (unk_pending) add(unk_id_, static_cast<size_t>(unk_len));
            unk_pending = true;
            unk_len = static_cast<int>(byte_len);
        }
    }
    if (unk_pending) add(unk_id_, static_cast<size_t>(unk_len));

    auto find_merge = [&](int a, int b) -> const uint64_t* {
        auto it = merges_.find(pair_key(a, b));
        return it == merges_.end() ? nullptr : &it->second;
    };
    std::vector<Merge> heap_storage;
    heap_storage.reserve(symbols.size());
    std::priority_queue<Merge> queue(std::less<Merge>(), std::move(heap_storage));
    auto push = [&](size_t pos, uint64_t m) {
        queue.push({static_cast<uint32_t>(m >> 32), static_cast<uint32_t>(pos),
                    static_cast<int>(static_cast<uint32_t>(m))});
    };
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        if (const uint64_t* m = find_merge(symbols[i].id, symbols[i + 1].id)) push(i, *m);
    }
    while (!queue.empty()) {
        const Merge top = queue.top();
        queue.pop();
        Symbol& left = symbols[top.pos];
        if (left.len == 0 || left.next < 0) continue;
        const Symbol right = symbols[static_cast<size_t>(left.next)];
        // A stale entry: the pair there now must still make the same token (as tokenizers
        // checks it: by the new id, not the rank).
        const uint64_t* now = find_merge(left.id, right.id);
        if (!now || static_cast<int>(static_cast<uint32_t>(*now)) != top.new_id) continue;
        symbols[static_cast<size_t>(left.next)].len = 0;
        left.id = top.new_id;
        left.len += right.len;
        left.next = right.next;
        if (right.next >= 0)
            symbols[static_cast<size_t>(right.next)].prev = static_cast<int>(top.pos);
        if (left.prev >= 0) {
            const Symbol& p = symbols[static_cast<size_t>(left.prev)];
            if (const uint64_t* m = find_merge(p.id, left.id))
                push(static_cast<size_t>(left.prev), *m);
        }
        if (left.next >= 0) {
            const Symbol& n = symbols[static_cast<size_t>(left.next)];
            if (const uint64_t* m = find_merge(left.id, n.id)) push(top.pos, *m);
        }
    }
    for (const Symbol& s : symbols)
        if (s.len != 0) out.push_back(s.id);
}

}  // namespace lc::hf
