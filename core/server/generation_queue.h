#pragma once
// The server's engine: one thread that owns a loaded model and runs one request at a time, the
// others waiting in a bounded first-come-first-served queue (docs/design.md section 9).
// A request follows its job through a JobProgress: the engine thread writes the text as it is
// generated, the request's HTTP thread takes it and may cancel the job (its client left).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/message.h"
#include "engine/generator.h"
#include "server/api_error.h"
#include "server/openai_response.h"
#include "session/chat_turn.h"
#include "session/open_model.h"

namespace lc::server {

// What one request asks of the engine.
struct GenerationJob {
    bool chat = true;
    std::vector<Message> messages;  // chat: rendered with the model's chat template
    std::string prompt;             // completion: raw text, encoded with BOS
    GenerationOptions options;
};

class JobProgress {
public:
    enum class Phase { Queued, Generating, Finished, Failed };
    struct Update {
        Phase phase = Phase::Queued;
        std::string text;               // text generated since the last take()
        Usage usage;                    // once generating (prompt) and finished (completion)
        std::string finish_reason;      // OpenAI's, once finished
        std::optional<ApiError> error;  // once failed
    };

    // For the request's thread. Waits up to `wait` for new text or a change of phase.
    Update take(std::chrono::milliseconds wait);
    // Waits until the prompt is in the cache (the reply is about to stream) or the job ended.
    Phase wait_started();
    // Asks the engine to stop this job: a waiting job is skipped, a running one ends within a
    // token. Safe from any thread.
    void cancel() { cancel_.store(true); }
    bool cancelled() const { return cancel_.load(); }

    // For the engine thread.
    const std::atomic<bool>* cancel_flag() const { return &cancel_; }
    void started(int prompt_tokens);
    void append(std::string_view text);
    void finish(const std::string& finish_reason, int completion_tokens);
    void fail(const ApiError& error);

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    Phase phase_ = Phase::Queued;
    std::string pending_;
    Usage usage_;
    std::string finish_reason_;
    std::optional<ApiError> error_;
    std::atomic<bool> cancel_{false};
};

// Counters for GET /health; the cancelled count makes a client's leaving observable.
struct QueueStats {
    int running = 0;
    int waiting = 0;
    uint64_t completed = 0;  // finished normally
    uint64_t cancelled = 0;  // stopped because the client left
    uint64_t failed = 0;     // ended in an error (a prompt too long, the server stopping)
    uint64_t rejected = 0;   // refused because the queue was full
    uint64_t tokens = 0;     // generated, in all
};

class GenerationQueue {
public:
    // Takes the model (opened with its tokenizer) and starts the engine thread. The context
    // holds `context_tokens` (0: the model's max_position_embeddings); at most `max_waiting`
    // jobs wait behind the running one.
    GenerationQueue(OpenedModel model, int context_tokens, int max_waiting);
    ~GenerationQueue();
    GenerationQueue(const GenerationQueue&) = delete;
    GenerationQueue& operator=(const GenerationQueue&) = delete;

    // Queues the job; throws ApiError 503 when the queue is full or the server is stopping.
    std::shared_ptr<JobProgress> submit(GenerationJob job);
    // No new jobs; the running one is cancelled, the waiting ones fail (503); joins the thread.
    void shutdown();

    QueueStats stats() const;
    const std::string& model_name() const { return model_name_; }
    int context_tokens() const { return context_limit_; }

private:
    struct Entry {
        GenerationJob job;
        std::shared_ptr<JobProgress> progress;
    };
    void run();
    // How a job that ran to its end ended.
    struct Ending {
        std::string finish_reason;  // OpenAI's
        int completion_tokens = 0;
    };
    // Both return nothing when the job was cancelled.
    std::optional<Ending> execute(const GenerationJob& job, JobProgress& progress);
    std::optional<Ending> execute_completion(const GenerationJob& job, JobProgress& progress);

    OpenedModel model_;
    std::string model_name_;
    Session session_;
    ChatContext chat_;
    const int context_limit_;
    const size_t max_waiting_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Entry> waiting_;
    std::shared_ptr<JobProgress> running_;
    bool stopping_ = false;
    QueueStats stats_;
    std::thread thread_;  // last: starts after everything it uses
};

}  // namespace lc::server
