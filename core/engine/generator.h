#pragma once
// The generation loop: a conversation's tokens and latent cache (Session), the sampling loop
// with stop conditions and a per-token callback (generate). Chat turns on top: session/chat_turn.h.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/kv_cache.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "formats/tokenizer.h"

namespace lc {

enum class FinishReason { Eos, StopString, MaxTokens, ContextFull, Cancelled };
const char* finish_reason_name(FinishReason reason);

struct GenerationOptions {
    SamplingParams sampling;
    int max_tokens = 256;
    std::vector<std::string> stop_strings;  // generation ends before any of these
    bool stop_at_eos = true;
};

// Sent after every generated token. `text` is the text that became final with this token
// (possibly empty: a partial character or a possible stop string is held back).
struct TokenEvent {
    int id = 0;
    int index = 0;  // 0 for the first generated token
    std::string text;
    double seconds = 0;        // since generate() was called
    double token_seconds = 0;  // this token alone (the first includes the prefill)
    int prompt_tokens = 0;     // tokens prefilled for this call
    CacheStats cache;
};

struct GenerationResult {
    std::vector<int> ids;  // generated ids (a stop string's tokens included)
    std::string text;      // generated text, a matched stop string excluded
    FinishReason reason = FinishReason::MaxTokens;
    int prompt_tokens = 0;  // tokens prefilled for this call (not reused from the cache)
    int reused_tokens = 0;  // tokens the cache already held
    double prefill_seconds = 0;
    double time_to_first_token = 0;
    double decode_seconds = 0;  // after the first token
    std::string matched_stop;
};

using TokenCallback = std::function<void(const TokenEvent&)>;

// One conversation's context: the tokens the latent cache holds, and the cache itself.
class Session {
public:
    Session(Model& model, int max_tokens = 0);

    Model& model() { return model_; }
    const std::vector<int>& tokens() const { return tokens_; }
    LatentCache& cache() { return *cache_; }
    void reset();
    // Makes `tokens` the context without computing anything: the cache must already hold
    // exactly them (restored by load_latent_cache). The next set_context() prefills the rest.
    void adopt_cache_prefix(std::span<const int> tokens);

    // Makes the context hold `context` and leaves the last position's logits in logits():
    // keeps the longest common prefix already cached and prefills only the rest.
    // Returns false when cancelled. `reused` receives the number of tokens kept.
    bool set_context(std::span<const int> context, const std::atomic<bool>* cancel,
                     int* reused = nullptr);
    // Appends tokens to the context (prefill), leaving the last position's logits.
    bool append(std::span<const int> tokens, const std::atomic<bool>* cancel);
    // The last position's logits, copied from the backend.
    std::span<float> logits();

    // Generates after the current context (set_context/append first). Each generated token is
    // appended to the context except the last one, whose logits are not needed.
    GenerationResult generate(const Tokenizer& tokenizer, const GenerationOptions& options,
                              const TokenCallback& on_token, const std::atomic<bool>* cancel,
                              std::chrono::steady_clock::time_point start);

private:
    bool feed(std::span<const int> tokens, const std::atomic<bool>* cancel);
    void reclaim_logits();

    Model& model_;
    std::unique_ptr<LatentCache> cache_;
    std::vector<int> tokens_;
    std::vector<float> logits_;  // [vocab]
    bool logits_valid_ = false;
    bool host_logits_current_ = false;  // logits_ holds the last position's logits
};

}  // namespace lc
