#include "session/chat_turn.h"

#include <algorithm>
#include <chrono>

#include "base/error.h"
#include "history/history_store.h"

namespace lc {

namespace {

bool same_message(const Message& a, const Message& b) {
    return a.role == b.role && a.content == b.content;
}

// Whether `prefix` is where `messages` begin (by role and text).
bool begins_with(const std::vector<Message>& messages, const std::vector<Message>& prefix) {
    return prefix.size() <= messages.size() &&
           std::equal(prefix.begin(), prefix.end(), messages.begin(), same_message);
}

MessageMeta reply_meta(const GenerationResult& r) {
    MessageMeta meta;
    meta.token_count = static_cast<int>(r.ids.size());
    meta.time_to_first_token_ms = r.time_to_first_token * 1000.0;
    meta.tokens_per_second =
        r.ids.size() > 1 && r.decode_seconds > 0 ? (r.ids.size() - 1) / r.decode_seconds : 0.0;
    meta.finish_reason = finish_reason_name(r.reason);
    return meta;
}

}  // namespace

std::vector<int> encode_chat(const Tokenizer& tokenizer, const ChatTemplate& chat,
                             std::span<const Message> messages, bool generation_prompt) {
    std::vector<int> out;
    if (chat.add_bos() && tokenizer.bos_id() >= 0) out.push_back(tokenizer.bos_id());
    const std::vector<int> body = tokenizer.encode(chat.render(messages, generation_prompt), false);
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

ChatContext::ChatContext(Session& session, const Tokenizer& tokenizer, const ChatTemplate& chat)
    : session_(session), tokenizer_(tokenizer), chat_(chat) {}

void ChatContext::forget() {
    fed_.clear();
    fed_tokens_.clear();
}

std::vector<int> ChatContext::prompt_tokens(const std::vector<Message>& messages) const {
    // A follow-up: what was fed stays as it was, the new messages are rendered after it (where
    // the template renders message by message; else all again, and set_context keeps the
    // common prefix).
    if (chat_.renders_incrementally() && !fed_.empty() && fed_.size() < messages.size() &&
        begins_with(messages, fed_)) {
        std::vector<int> tokens = fed_tokens_;
        const std::span<const Message> added(messages.begin() + fed_.size(), messages.end());
        const std::vector<int> more = tokenizer_.encode(chat_.render(added, true), false);
        tokens.insert(tokens.end(), more.begin(), more.end());
        return tokens;
    }
    return encode_chat(tokenizer_, chat_, messages, true);
}

ChatTurnResult ChatContext::run(std::vector<Message> messages, const GenerationOptions& options,
                                const ChatTurnCallbacks& callbacks,
                                const std::atomic<bool>* cancel) {
    const auto start = std::chrono::steady_clock::now();
    // An empty system message is no message; the user speaks last.
    if (!messages.empty() && messages.front().role == "system" && messages.front().content.empty())
        messages.erase(messages.begin());
    if (messages.empty() || messages.back().role != "user")
        throw Error("the conversation does not end with a message from the user");
    GenerationOptions opts = options;
    for (const std::string& s : chat_.stop_strings())
        opts.stop_strings.push_back(s);
    opts.sampling.validate();  // a bad setting fails before the prefill, not after

    ChatTurnResult result;
    std::vector<int> tokens = prompt_tokens(messages);
    // The context window, by whole messages: the oldest exchanges go (never the system
    // message) until the prompt and the room set aside for the reply (at most half) fit.
    const int limit = session_.cache().max_tokens();
    const int reply_room = std::clamp(opts.max_tokens, 1, std::max(1, limit / 2));
    const size_t first = messages.front().role == "system" ? 1 : 0;
    while (static_cast<int>(tokens.size()) + reply_room > limit && messages.size() > first + 1) {
        messages.erase(messages.begin() + first);
        ++result.dropped;
        // A conversation starts with the user: a reply left without its question goes too.
        while (messages.size() > first + 1 && messages[first].role != "user") {
            messages.erase(messages.begin() + first);
            ++result.dropped;
        }
        tokens = encode_chat(tokenizer_, chat_, messages, true);
    }
    if (static_cast<int>(tokens.size()) + reply_room > limit)
        throw Error("the message is too long for the context window (" +
                    std::to_string(tokens.size()) + " tokens with " + std::to_string(reply_room) +
                    " set aside for the reply; the context holds " + std::to_string(limit) + ")");
    if (result.dropped > 0)
        result.notice = "the conversation outgrew the context window: the " +
                        std::to_string(result.dropped) + " oldest messages were set aside";

    GenerationResult& r = result.generation;
    int reused = 0;
    if (!session_.set_context(tokens, cancel, &reused)) {
        // The cache holds part of the prompt; the next set_context() matches what it holds.
        r.reason = FinishReason::Cancelled;
    } else {
        const int prompt = static_cast<int>(tokens.size()) - reused;
        if (callbacks.on_started) callbacks.on_started(prompt, reused);
        r = session_.generate(
            tokenizer_, opts,
            [&](const TokenEvent& ev) {
                if (callbacks.on_token) callbacks.on_token(ev);
                if (callbacks.recorder) callbacks.recorder->append(ev.text);
            },
            cancel, start);
        r.reused_tokens = reused;
        r.prompt_tokens = prompt;
        remember(messages, std::move(tokens), r);
    }
    result.reply = Message("assistant", r.text);
    result.reply.meta = reply_meta(r);
    if (callbacks.recorder) {
        // The figures of this reply; the model and sampling stay as the caller stored them.
        MessageMeta meta = callbacks.recorder->meta();
        meta.token_count = result.reply.meta.token_count;
        meta.time_to_first_token_ms = result.reply.meta.time_to_first_token_ms;
        meta.tokens_per_second = result.reply.meta.tokens_per_second;
        meta.finish_reason = result.reply.meta.finish_reason;
        callbacks.recorder->finish(meta);
        result.reply.meta = meta;
    }
    return result;
}

void ChatContext::remember(std::vector<Message> messages, std::vector<int> tokens,
                           const GenerationResult& r) {
    // The reply's tokens as generated, then whatever closes an assistant turn in this format
    // (a stop string already generated is not added twice).
    std::vector<int> reply = r.ids;
    if (r.reason == FinishReason::Eos && !reply.empty()) reply.pop_back();
    tokens.insert(tokens.end(), reply.begin(), reply.end());
    if (!chat_.renders_incrementally()) {  // the tokens are not rendered on from (see above)
        messages.emplace_back("assistant", r.text);
        fed_ = std::move(messages);
        fed_tokens_ = std::move(tokens);
        return;
    }
    const Message empty_reply("assistant", "");
    const std::string closed = chat_.render(std::span(&empty_reply, 1), false);
    const std::string opened = chat_.render({}, true);
    std::string suffix = closed.rfind(opened, 0) == 0 ? closed.substr(opened.size()) : "";
    if (r.reason == FinishReason::StopString && suffix.rfind(r.matched_stop, 0) == 0)
        suffix = suffix.substr(r.matched_stop.size());
    if (!suffix.empty()) {
        const std::vector<int> close = tokenizer_.encode(suffix, false);
        tokens.insert(tokens.end(), close.begin(), close.end());
    }
    messages.emplace_back("assistant", r.text);
    fed_ = std::move(messages);
    fed_tokens_ = std::move(tokens);
}

}  // namespace lc
