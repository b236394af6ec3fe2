#pragma once
// One chat turn, the same for the CLI, the app and (later) the server:
//   messages -> chat template -> tokens -> context window -> generate -> stream -> history.
// ChatContext remembers how the conversation was fed to its Session, so a follow-up prefills
// only the new messages (the earlier reply is not re-tokenized) and the latent cache is reused.
#include <atomic>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/message.h"
#include "engine/generator.h"
#include "formats/chat_template.h"
#include "formats/tokenizer.h"

namespace lc {

class ReplyRecorder;

// The tokens of a conversation in a chat format: BOS when the format asks for it, then the
// rendered messages (and the generation prompt, when asked).
std::vector<int> encode_chat(const Tokenizer& tokenizer, const ChatTemplate& chat,
                             std::span<const Message> messages, bool generation_prompt);

struct ChatTurnResult {
    GenerationResult generation;
    Message reply;       // role "assistant", the text and meta (tokens, speed, finish reason)
    int dropped = 0;     // oldest messages set aside so the prompt and the reply fit
    std::string notice;  // says so, when dropped > 0
};

struct ChatTurnCallbacks {
    // After the prompt is in the cache, before the first token: tokens prefilled and reused.
    std::function<void(int prompt_tokens, int reused_tokens)> on_started;
    TokenCallback on_token;     // every generated token (its final text may be empty)
    ReplyRecorder* recorder{};  // when set, the reply is saved as it streams and at the end
};

class ChatContext {
public:
    ChatContext(Session& session, const Tokenizer& tokenizer, const ChatTemplate& chat);

    // Generates the assistant's reply to `messages` (a system message first, when any, and the
    // user's message last). When prompt and reply do not fit the context, the oldest exchanges
    // are set aside; a single message too long for it is lc::Error. `options` gets the
    // template's stop strings added. A cancelled prefill returns FinishReason::Cancelled.
    ChatTurnResult run(std::vector<Message> messages, const GenerationOptions& options,
                       const ChatTurnCallbacks& callbacks, const std::atomic<bool>* cancel);
    // Forgets how the context was fed (after the session was reset or restored elsewhere).
    void forget();
    // The conversation as the context holds it after the last turn: what run() kept of the
    // messages (the context window may have set the oldest aside) and the reply.
    const std::vector<Message>& messages() const { return fed_; }
    Session& session() { return session_; }
    const ChatTemplate& chat_template() const { return chat_; }

private:
    std::vector<int> prompt_tokens(const std::vector<Message>& messages) const;
    void remember(std::vector<Message> messages, std::vector<int> tokens,
                  const GenerationResult& r);

    Session& session_;
    const Tokenizer& tokenizer_;
    const ChatTemplate& chat_;
    std::vector<Message> fed_;     // the messages the context holds, the last reply included
    std::vector<int> fed_tokens_;  // their tokens as fed (the reply's as generated)
};

}  // namespace lc
