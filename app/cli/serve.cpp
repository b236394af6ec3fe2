// `serve`: latentchat-cli as an OpenAI-compatible server (docs/design.md section 9).
#include "serve.h"

#include <pthread.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "base/error.h"
#include "commands.h"
#include "server/api_server.h"

namespace lc::cli {

namespace {

std::set<std::string> serve_flags() {
    std::set<std::string> f = {"host", "port", "api-key", "ctx", "queue", "max-body-kb"};
    f.insert(kModelFlags.begin(), kModelFlags.end());
    return f;
}

}  // namespace

int cmd_serve(const std::vector<std::string>& argv) {
    Args args(argv, serve_flags(), {});
    server::ServerOptions options;
    options.host = args.str("host", "127.0.0.1");
    if (options.host.empty()) throw Error("--host is empty");
    options.port = args.integer("port", 8080, 0, 65535);
    // A key on the command line shows in `ps`; the environment does not.
    const char* env_key = std::getenv("LATENTCHAT_API_KEY");
    options.api_key = args.str("api-key", env_key ? env_key : "");
    options.context_tokens = args.integer("ctx", 0, 0, 1 << 24);
    options.max_waiting = args.integer("queue", 16, 0, 1024);
    options.max_body_bytes =
        static_cast<size_t>(args.integer("max-body-kb", 8192, 1, 1 << 20)) * 1024;

    // SIGTERM and SIGINT are taken by sigwait() below, in this thread alone: blocked before any
    // thread exists (the engine's pool, the server's), so every thread inherits the mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    OpenedModel opened = open_model_from(args, true);
    server::ApiServer server(std::move(opened), options);
    server.start();
    std::cerr << "latentchat-cli: serving " << server.model_name() << " at " << server.base_url()
              << (options.api_key.empty() ? "" : " (API key required)")
              << "; SIGTERM or Ctrl-C stops\n";
    // The address alone on stdout, for scripts (and --port 0).
    std::cout << server.base_url() << std::endl;

    int signal = 0;
    sigwait(&stop_signals, &signal);
    std::cerr << "latentchat-cli: " << (signal == SIGTERM ? "SIGTERM" : "interrupted")
              << ": stopping the server\n";
    server.stop();
    const server::QueueStats s = server.stats();
    std::cerr << "latentchat-cli: served " << s.completed << " replies (" << s.cancelled
              << " cancelled by their clients, " << s.failed << " failed, " << s.rejected
              << " refused when full)\n";
    return 0;
}

}  // namespace lc::cli
