// Added tokens of tokenizer.json (hf_parts.h): ids assigned and tokens found in the text as
// tokenizers' AddedVocabulary does (leftmost match, the longest there; single_word, lstrip and
// rstrip), through a byte trie: finding them costs at most the longest token per position.
#include <algorithm>
#include <array>

#include "formats/hf_parts.h"

namespace lc::hf {

struct AddedVocabulary::Trie {
    struct Node {
        std::vector<std::pair<unsigned char, int>> next;
        int id = -1;
    };
    std::vector<Node> nodes = std::vector<Node>(1);
    std::array<int, 256> root{};  // the root's children by byte, for the common miss
    Trie() { root.fill(-1); }

    void insert(std::string_view s, int id) {
        int node = 0;
        for (char ch : s) {
            const auto c = static_cast<unsigned char>(ch);
            int child = -1;
            for (const auto& [byte, index] : nodes[static_cast<size_t>(node)].next)
                if (byte == c) child = index;
            if (child < 0) {
                child = static_cast<int>(nodes.size());
                nodes[static_cast<size_t>(node)].next.emplace_back(c, child);
                nodes.emplace_back();
                if (node == 0) root[c] = child;
            }
            node = child;
        }
        nodes[static_cast<size_t>(node)].id = id;  // a later token of the same text wins
    }

    // The longest token starting at text[pos]: its end and id, or id -1.
    std::pair<size_t, int> longest_at(std::string_view text, size_t pos) const {
        std::pair<size_t, int> best{pos, -1};
        int node = root[static_cast<unsigned char>(text[pos])];
        for (size_t i = pos + 1; node >= 0; ++i) {
            const Node& n = nodes[static_cast<size_t>(node)];
            if (n.id >= 0) best = {i, n.id};
            if (i >= text.size()) break;
            const auto c = static_cast<unsigned char>(text[i]);
            int child = -1;
            for (const auto& [byte, index] : n.next)
                if (byte == c) child = index;
            node = child;
        }
        return best;
    }
};

AddedVocabulary::AddedVocabulary()
    : raw_(std::make_unique<Trie>()), normalized_(std::make_unique<Trie>()) {}
AddedVocabulary::~AddedVocabulary() = default;

void AddedVocabulary::add(const std::vector<AddedToken>& tokens, const Bpe& model,
                          const Normalizer* normalizer) {
    // New ids follow the model's vocabulary, counted as tokenizers counts it (its size).
    int next_id = static_cast<int>(model.size());
    for (const AddedToken& t : tokens) {
        if (t.content.empty()) continue;
        int id = this->id(t.content);
        if (id < 0) id = model.token_id(t.content);
        if (id < 0) id = next_id++;
        ids_[t.content] = id;
        if (t.special) special_[t.content] = true;
        tokens_[id] = t;
        max_id_ = std::max(max_id_, id);
    }
    // The tries from the final tokens (ordered by id, so that a clash resolves the same way
    // each time): normalized tokens are matched in their normalized form.
    std::vector<int> ids;
    for (const auto& [id, t] : tokens_)
        ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    for (int id : ids) {
        const AddedToken& t = tokens_.at(id);
        if (!t.normalized) {
            raw_->insert(t.content, id);
            continue;
        }
        std::string form = t.content;
        if (normalizer) normalizer->normalize(form);
        if (!form.empty()) normalized_->insert(form, id);
    }
}

int AddedVocabulary::id(std::string_view content) const {
    auto it = ids_.find(content);
    return it == ids_.end() ? -1 : it->second;
}

const AddedToken* AddedVocabulary::token(int id) const {
    auto it = tokens_.find(id);
    return it == tokens_.end() ? nullptr : &it->second;
}

bool AddedVocabulary::is_special(std::string_view content) const {
    return special_.find(content) != special_.end();
}

std::vector<AddedVocabulary::Found> AddedVocabulary::find(const Trie& trie,
                                                          std::string_view text) const {
    std::vector<Found> found;
    if (trie.nodes.size() == 1) return found;
    size_t taken = 0;  // where the last kept token ended
    size_t pos = 0;
    while (pos < text.size()) {
        const auto [end, id] = trie.longest_at(text, pos);
        if (id < 0) {
            ++pos;
            continue;
        }
        size_t start = pos, stop = end;
        pos = end;  // the search goes on after the match, kept or not
        const AddedToken& t = tokens_.at(id);
        auto char_before = [&](size_t at) {
            size_t i = at - 1;
            while (i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80)
                --i;
            size_t j = i;
            return std::pair{next_char(text, j), i};
        };
        if (t.single_word) {
            const bool word_before = start > 0 && is_word_char(char_before(start).first);
            size_t j = stop;
            const bool word_after = stop < text.size() && is_word_char(next_char(text, j));
            if (word_before || word_after) continue;
        }
        if (t.lstrip) {
            size_t s = start;
            while (s > 0) {
                const auto [c, at] = char_before(s);
                if (!is_whitespace(c)) break;
                s = at;
            }
            start = std::max(s, taken);
        }
        if (t.rstrip) {
            for (size_t j = stop; j < text.size();) {
                if (!is_whitespace(next_char(text, j))) break;
                stop = j;
            }
        }
        found.push_back({id, start, stop});
        taken = stop;
    }
    return found;
}

void AddedVocabulary::split(std::vector<Piece>& pieces, bool normalized) const {
    const Trie& trie = normalized ? *normalized_ : *raw_;
    if (trie.nodes.size() == 1) return;
    std::vector<Piece> out;
    out.reserve(pieces.size());
    for (Piece& p : pieces) {
        if (p.id >= 0) {
            out.push_back(std::move(p));
            continue;
        }
        const std::vector<Found> found = find(trie, p.text);
        if (found.empty()) {
            out.push_back(std::move(p));
            continue;
        }
        auto add = [&](size_t start, size_t end, int id) {
            if (start < end)
                out.push_back({p.text.substr(start, end - start), id, p.first && start == 0});
        };
        size_t taken = 0;
        for (const Found& f : found) {
            if (taken < f.start) add(taken, f.start, -1);
            add(f.start, f.end, f.id);
            taken = f.end;
        }
        add(taken, p.text.size(), -1);
    }
    pieces = std::move(out);
}

}  // namespace lc::hf
