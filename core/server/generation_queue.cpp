#include "server/generation_queue.h"

#include <exception>
#include <new>

#include "base/error.h"

namespace lc::server {

JobProgress::Update JobProgress::take(std::chrono::milliseconds wait) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, wait, [&] {
        return !pending_.empty() || phase_ == Phase::Finished || phase_ == Phase::Failed;
    });
    Update u;
    u.phase = phase_;
    u.text = std::move(pending_);
    pending_.clear();
    u.usage = usage_;
    u.finish_reason = finish_reason_;
    u.error = error_;
    return u;
}

JobProgress::Phase JobProgress::wait_started() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return phase_ != Phase::Queued; });
    return phase_;
}

void JobProgress::started(int prompt_tokens) {
    {
        std::lock_guard lock(mutex_);
        phase_ = Phase::Generating;
        usage_.prompt_tokens = prompt_tokens;
    }
    changed_.notify_all();
}

void JobProgress::append(std::string_view text) {
    if (text.empty()) return;
    {
        std::lock_guard lock(mutex_);
        pending_ += text;
    }
    changed_.notify_all();
}

void JobProgress::finish(const std::string& finish_reason, int completion_tokens) {
    {
        std::lock_guard lock(mutex_);
        phase_ = Phase::Finished;
        finish_reason_ = finish_reason;
        usage_.completion_tokens = completion_tokens;
    }
    changed_.notify_all();
}

void JobProgress::fail(const ApiError& error) {
    {
        std::lock_guard lock(mutex_);
        phase_ = Phase::Failed;
        error_ = error;
    }
    changed_.notify_all();
}

namespace {

ApiError shutting_down() {
    return ApiError(503, "server_error", "the server is shutting down", {}, "server_shutting_down");
}

}  // namespace

GenerationQueue::GenerationQueue(OpenedModel model, int context_tokens, int max_waiting)
    : model_(std::move(model)),
      model_name_(model_.name()),
      session_(*model_.model, context_tokens),
      chat_(session_, *model_.tokenizer, model_.chat),
      context_limit_(session_.cache().max_tokens()),
      max_waiting_(static_cast<size_t>(std::max(0, max_waiting))),
      thread_([this] { run(); }) {}

GenerationQueue::~GenerationQueue() {
    shutdown();
}

std::shared_ptr<JobProgress> GenerationQueue::submit(GenerationJob job) {
    auto progress = std::make_shared<JobProgress>();
    {
        std::lock_guard lock(mutex_);
        if (stopping_) throw shutting_down();
        if (waiting_.size() >= max_waiting_ && (running_ || !waiting_.empty())) {
            ++stats_.rejected;
            throw ApiError(503, "server_error",
                           "the server is busy: " + std::to_string(waiting_.size()) +
                               " requests are already waiting; try again shortly",
                           {}, "queue_full");
        }
        waiting_.push_back({std::move(job), progress});
    }
    wake_.notify_one();
    return progress;
}

void GenerationQueue::shutdown() {
    std::deque<Entry> dropped;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        if (running_) running_->cancel();
        dropped.swap(waiting_);
    }
    wake_.notify_one();
    for (Entry& e : dropped)
        e.progress->fail(shutting_down());
    if (thread_.joinable()) thread_.join();
}

QueueStats GenerationQueue::stats() const {
    std::lock_guard lock(mutex_);
    QueueStats s = stats_;
    s.running = running_ ? 1 : 0;
    s.waiting = static_cast<int>(waiting_.size());
    return s;
}

void GenerationQueue::run() {
    while (true) {
        Entry entry;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
            if (stopping_) return;
            entry = std::move(waiting_.front());
            waiting_.pop_front();
            running_ = entry.progress;
        }
        JobProgress& progress = *entry.progress;
        std::optional<Ending> ending;
        std::optional<ApiError> error;
        if (!progress.cancelled()) {
            try {
                ending = execute(entry.job, progress);
            } catch (const ApiError& e) {
                error = e;
            } catch (const Error& e) {
                // What the chat turn refuses is the request's fault: a message too long for the
                // context window (ChatContext::run says so in those words), or a conversation
                // the model's template will not render.
                const bool too_long =
                    std::string_view(e.what()).find("context window") != std::string_view::npos;
                error = ApiError(400, "invalid_request_error", e.what(), "messages",
                                 too_long ? "context_length_exceeded" : "");
            } catch (const std::bad_alloc&) {
                error = ApiError(500, "server_error", "the server ran out of memory");
            } catch (const std::exception& e) {
                error = ApiError(500, "server_error", std::string("internal error: ") + e.what());
            }
        }
        // The counters first, then the request is told: a client that asks /health after its
        // reply ended finds it counted.
        {
            std::lock_guard lock(mutex_);
            running_.reset();
            if (ending) {
                ++stats_.completed;
            } else if (error) {
                ++stats_.failed;
            } else if (stopping_) {
                ++stats_.failed;
                error = shutting_down();
            } else {
                ++stats_.cancelled;
                error = ApiError(499, "invalid_request_error", "the client left");
            }
        }
        if (ending)
            progress.finish(ending->finish_reason, ending->completion_tokens);
        else
            progress.fail(*error);
    }
}

std::optional<GenerationQueue::Ending> GenerationQueue::execute(const GenerationJob& job,
                                                                JobProgress& progress) {
    if (!job.chat) return execute_completion(job, progress);
    ChatTurnCallbacks callbacks;
    callbacks.on_started = [&](int prompt, int reused) { progress.started(prompt + reused); };
    callbacks.on_token = [&](const TokenEvent& ev) {
        progress.append(ev.text);
        std::lock_guard lock(mutex_);
        ++stats_.tokens;
    };
    const ChatTurnResult turn =
        chat_.run(job.messages, job.options, callbacks, progress.cancel_flag());
    const GenerationResult& r = turn.generation;
    if (r.reason == FinishReason::Cancelled) return std::nullopt;
    return Ending{openai_finish_reason(finish_reason_name(r.reason)),
                  static_cast<int>(r.ids.size())};
}

std::optional<GenerationQueue::Ending> GenerationQueue::execute_completion(const GenerationJob& job,
                                                                           JobProgress& progress) {
    const std::vector<int> tokens = model_.tokenizer->encode(job.prompt, true);
    const int limit = context_limit_;
    if (static_cast<int>(tokens.size()) >= limit)
        throw ApiError(400, "invalid_request_error",
                       "the prompt is " + std::to_string(tokens.size()) +
                           " tokens; the context holds " + std::to_string(limit),
                       "prompt", "context_length_exceeded");
    const auto start = std::chrono::steady_clock::now();
    if (!session_.set_context(tokens, progress.cancel_flag())) return std::nullopt;
    progress.started(static_cast<int>(tokens.size()));
    const GenerationResult r = session_.generate(
        *model_.tokenizer, job.options,
        [&](const TokenEvent& ev) {
            progress.append(ev.text);
            std::lock_guard lock(mutex_);
            ++stats_.tokens;
        },
        progress.cancel_flag(), start);
    if (r.reason == FinishReason::Cancelled) return std::nullopt;
    return Ending{openai_finish_reason(finish_reason_name(r.reason)),
                  static_cast<int>(r.ids.size())};
}

}  // namespace lc::server
