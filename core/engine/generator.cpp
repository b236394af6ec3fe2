#include "engine/generator.h"

#include <algorithm>

#include "base/error.h"

namespace lc {

const char* finish_reason_name(FinishReason reason) {
    switch (reason) {
        case FinishReason::Eos:
            return "eos";
        case FinishReason::StopString:
            return "stop";
        case FinishReason::MaxTokens:
            return "length";
        case FinishReason::ContextFull:
            return "context_full";
        case FinishReason::Cancelled:
            return "cancelled";
    }
    return "unknown";
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Length of the longest suffix of `text` that is a proper prefix of some stop string: that
// much text must be held back, as the next token may complete the stop string.
size_t held_back(const std::string& text, const std::vector<std::string>& stops) {
    size_t hold = 0;
    for (const std::string& s : stops)
        for (size_t n = std::min(s.size() - 1, text.size()); n > hold; --n)
            if (text.compare(text.size() - n, n, s, 0, n) == 0) {
                hold = n;
                break;
            }
    return hold;
}

}  // namespace

Session::Session(Model& model, int max_tokens)
    : model_(model), cache_(model.new_cache(max_tokens)), logits_(model.config().vocab_size) {}

void Session::reset() {
    cache_->clear();
    tokens_.clear();
    logits_valid_ = false;
}

void Session::adopt_cache_prefix(std::span<const int> tokens) {
    if (static_cast<int>(tokens.size()) != cache_->size())
        throw Error("internal: adopting " + std::to_string(tokens.size()) +
                    " tokens for a cache of " + std::to_string(cache_->size()) + " positions");
    tokens_.assign(tokens.begin(), tokens.end());
    logits_valid_ = false;
}

bool Session::set_context(std::span<const int> context, const std::atomic<bool>* cancel,
                          int* reused) {
    if (context.empty()) throw Error("the prompt is empty");
    size_t common = 0;
    while (common < tokens_.size() && common < context.size() && tokens_[common] == context[common])
        ++common;
    // Always run at least the last token, so its logits are fresh.
    const size_t keep = std::min(common, context.size() - 1);
    cache_->truncate(static_cast<int>(keep));
    tokens_.resize(keep);
    logits_valid_ = false;
    if (reused) *reused = static_cast<int>(keep);
    return append(context.subspan(keep), cancel);
}

bool Session::append(std::span<const int> tokens, const std::atomic<bool>* cancel) {
    const bool done = feed(tokens, cancel);
    // A host copy, so that another session may use the model before this one generates.
    if (done && !tokens.empty()) {
        model_.last_logits(logits_.data());
        host_logits_current_ = true;
    }
    return done;
}

bool Session::feed(std::span<const int> tokens, const std::atomic<bool>* cancel) {
    if (tokens.empty()) return logits_valid_;
    const int before = cache_->size();
    bool done = model_.forward_last(tokens, *cache_, cancel);
    // On cancel the cache holds whole chunks; keep tokens_ in step with it.
    const int fed = cache_->size() - before;
    tokens_.insert(tokens_.end(), tokens.begin(), tokens.begin() + fed);
    logits_valid_ = done;
    host_logits_current_ = false;
    return done;
}

// Makes the model's last logits this session's: they are, unless another session used the
// model since; then from the host copy, or by feeding the last token again.
void Session::reclaim_logits() {
    if (model_.last_logits_for(*cache_)) return;
    if (host_logits_current_) {
        model_.restore_last_logits(*cache_, logits_.data());
        return;
    }
    const int last = tokens_.back();
    tokens_.pop_back();
    cache_->truncate(cache_->size() - 1);
    const int one[1] = {last};
    feed(one, nullptr);
}

std::span<float> Session::logits() {
    if (logits_valid_ && !host_logits_current_ && model_.last_logits_for(*cache_)) {
        model_.last_logits(logits_.data());
        host_logits_current_ = true;
    }
    return logits_;
}

GenerationResult Session::generate(const Tokenizer& tokenizer, const GenerationOptions& options,
                                   const TokenCallback& on_token, const std::atomic<bool>* cancel,
                                   std::chrono::steady_clock::time_point start) {
    options.sampling.validate();
    GenerationResult r;
    if (!logits_valid_) {
        r.reason = FinishReason::Cancelled;
        return r;
    }
    const ModelConfig& config = model_.config();
    reclaim_logits();
    Sampler sampler(options.sampling, config.vocab_size);
    r.ids.reserve(static_cast<size_t>(std::min(options.max_tokens, 1 << 16)));
    StreamDecoder decoder(tokenizer);
    std::string full;    // all decoded text
    size_t emitted = 0;  // bytes of `full` already sent
    auto last = std::chrono::steady_clock::now();
    auto is_eos = [&](int id) {
        return id == tokenizer.eos_id() ||
               std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), id) !=
                   config.eos_token_ids.end();
    };

    for (int i = 0;; ++i) {
        if (i >= options.max_tokens) {
            r.reason = FinishReason::MaxTokens;
            break;
        }
        if (cancel && cancel->load(std::memory_order_relaxed)) {
            r.reason = FinishReason::Cancelled;
            break;
        }
        const int id = model_.sample_next(sampler, tokens_);
        r.ids.push_back(id);
        bool finished = false;
        if (options.stop_at_eos && is_eos(id)) {
            r.reason = FinishReason::Eos;
            finished = true;
        } else {
            full += decoder.push(id);
        }
        // A stop string ends the text where it begins.
        size_t cut = std::string::npos;
        for (const std::string& s : options.stop_strings) {
            size_t from = emitted >= s.size() ? emitted - s.size() : 0;
            size_t at = full.find(s, from);
            if (at != std::string::npos && at < cut) {
                cut = at;
                r.matched_stop = s;
            }
        }
        if (cut != std::string::npos) {
            full.resize(cut);
            r.reason = FinishReason::StopString;
            finished = true;
        }
        if (!finished && i + 1 >= options.max_tokens) {
            r.reason = FinishReason::MaxTokens;
            finished = true;
        }
        if (!finished && cache_->size() + 1 > cache_->max_tokens()) {
            r.reason = FinishReason::ContextFull;
            finished = true;
        }
        if (finished && r.reason != FinishReason::StopString && r.reason != FinishReason::Eos)
            full += decoder.flush();
        if (finished && r.reason == FinishReason::Eos) full += decoder.flush();

        const size_t ready =
            finished ? full.size() : full.size() - held_back(full, options.stop_strings);
        TokenEvent ev;
        ev.id = id;
        ev.index = i;
        if (ready > emitted) ev.text = full.substr(emitted, ready - emitted);
        emitted = std::max(emitted, ready);
        const auto now = std::chrono::steady_clock::now();
        ev.seconds = std::chrono::duration<double>(now - start).count();
        ev.token_seconds = std::chrono::duration<double>(now - last).count();
        last = now;
        if (i == 0) r.time_to_first_token = ev.seconds;
        ev.cache = cache_->stats();
        if (on_token) on_token(ev);
        if (finished) break;

        // Feed the token: its logits choose the next one.
        const int one[1] = {id};
        if (!feed(one, cancel)) {
            r.reason = FinishReason::Cancelled;
            break;
        }
    }
    r.text = full;
    r.decode_seconds = r.ids.empty() ? 0 : seconds_since(start) - r.time_to_first_token;
    return r;
}

}  // namespace lc
