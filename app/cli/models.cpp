// `models`: the model library from the command line: list, pull from the hub, remove, search.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "base/error.h"
#include "commands.h"
#include "hub/hub.h"
#include "hub/model_store.h"

namespace lc::cli {

namespace {

std::atomic<bool> g_cancel{false};
extern "C" void on_sigint(int) {
    g_cancel.store(true);
}

std::string size_text(double bytes) {
    char buf[32];
    if (bytes >= 1e9)
        std::snprintf(buf, sizeof buf, "%.2f GB", bytes / 1e9);
    else
        std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
    return buf;
}

std::string time_text(double seconds) {
    if (seconds < 0) return "?";
    const long s = static_cast<long>(seconds + 0.5);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else
        std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
    return buf;
}

// One updating line on a terminal; elsewhere (a log, a pipe) a plain line per file and every
// few seconds.
class ProgressPrinter {
public:
    ProgressPrinter() : tty_(isatty(STDERR_FILENO) == 1) {}
    ~ProgressPrinter() {
        if (tty_ && printed_) std::cerr << "\n";
    }
    void operator()(const hub::Progress& p) {
        const auto now = std::chrono::steady_clock::now();
        const bool new_file = p.file != file_;
        const bool finished = p.done >= p.total;
        const auto gap = tty_ ? std::chrono::milliseconds(250) : std::chrono::milliseconds(5000);
        if (!new_file && !finished && now - last_ < gap) return;
        if (finished && done_said_) return;
        done_said_ = finished;
        last_ = now;
        file_ = p.file;
        const double percent =
            p.total > 0 ? 100.0 * static_cast<double>(p.done) / static_cast<double>(p.total)
                        : 100.0;
        char line[512];
        std::snprintf(line, sizeof line, "%s  %s of %s  %3.0f%%  %s/s  %s left", p.file.c_str(),
                      size_text(static_cast<double>(p.done)).c_str(),
                      size_text(static_cast<double>(p.total)).c_str(), percent,
                      size_text(p.bytes_per_s).c_str(), time_text(p.seconds_left).c_str());
        if (tty_)
            std::cerr << "\r\033[K" << line << std::flush;
        else
            std::cerr << line << "\n";
        printed_ = true;
    }

private:
    bool tty_;
    bool printed_ = false;
    bool done_said_ = false;
    std::string file_;
    std::chrono::steady_clock::time_point last_{};
};

int list(const std::filesystem::path& dir) {
    const auto models = hub::list_local_models(dir);
    if (models.empty()) {
        std::cerr << "no models in " << dir.string() << " or in the huggingface_hub cache ("
                  << hub::huggingface_cache_dir().string() << ")\n";
        return 0;
    }
    for (const hub::LocalModel& m : models) {
        std::string notes;
        if (m.in_hf_cache) notes += " [huggingface cache]";
        if (!m.complete) notes += " [incomplete: pull it again to resume]";
        std::cout << m.name << "\t" << size_text(static_cast<double>(m.bytes)) << "\t"
                  << m.path.string() << notes << "\n";
    }
    return 0;
}

int pull(const Args& args, const std::string& repo, const std::filesystem::path& dir) {
    hub::PullRequest request;
    request.repo = repo;
    request.revision = args.str("revision", "main");
    request.file = args.opt("file");
    request.models_dir = dir;
    g_cancel.store(false);
    auto previous = std::signal(SIGINT, on_sigint);
    std::filesystem::path path;
    try {
        ProgressPrinter printer;
        path = hub::pull(
            hub::HubOptions::from_environment(), request,
            [&](const hub::Progress& p) { printer(p); }, &g_cancel);
    } catch (const Error&) {
        std::signal(SIGINT, previous);
        if (!g_cancel.load()) throw;
        std::cerr << "latentchat-cli: pull of " << repo
                  << " cancelled; the same command resumes it\n";
        return 130;
    }
    std::signal(SIGINT, previous);
    std::cout << path.string() << "\n";
    return 0;
}

int search(const Args& args, const std::string& text) {
    const int limit = args.integer("limit", 20, 1, 500);
    const bool all = args.has("all");
    const auto results = hub::search(hub::HubOptions::from_environment(), text, limit, all);
    if (results.empty())
        std::cerr << "no " << (all ? "" : "MLA ") << "models on the hub match '" << text << "'"
                  << (all ? "" : " (--all shows the others)") << "\n";
    for (const hub::SearchResult& r : results)
        std::cout << r.repo << "\t" << (r.model_type.empty() ? "-" : r.model_type) << "\t"
                  << r.downloads << " downloads\t" << r.likes << " likes"
                  << (all && !r.mla ? "\t(not MLA: LatentChat cannot run it)" : "") << "\n";
    return 0;
}

}  // namespace

int cmd_models(const std::vector<std::string>& argv) {
    Args args(argv, {"dir", "file", "revision", "limit"}, {"all"});
    const auto& words = args.positional();
    const char* usage =
        "usage: latentchat-cli models [--dir DIR] list | pull REPO [--file F] [--revision R] | "
        "rm NAME | search TEXT [--all] [--limit N]";
    if (words.empty()) throw Error(std::string("models needs an action; ") + usage);
    const std::string& action = words[0];
    auto need = [&](size_t n) {
        if (words.size() != n) throw Error(usage);
    };
    auto only = [&](std::initializer_list<const char*> allowed) {
        for (const char* flag : {"file", "revision", "limit", "all"}) {
            bool ok = false;
            for (const char* a : allowed)
                ok = ok || std::string(a) == flag;
            if (!ok && args.has(flag))
                throw Error("--" + std::string(flag) + " does not apply to models " + action);
        }
    };
    const std::filesystem::path dir =
        args.opt("dir") ? std::filesystem::path(*args.opt("dir")) : hub::default_models_dir();
    if (action == "list") {
        need(1);
        only({});
        return list(dir);
    }
    if (action == "pull") {
        need(2);
        only({"file", "revision"});
        return pull(args, words[1], dir);
    }
    if (action == "rm") {
        need(2);
        only({});
        hub::remove_local_model(dir, words[1]);
        std::cerr << "removed " << words[1] << "\n";
        return 0;
    }
    if (action == "search") {
        need(2);
        only({"limit", "all"});
        return search(args, words[1]);
    }
    throw Error("unknown models action '" + action + "'; " + usage);
}

}  // namespace lc::cli
