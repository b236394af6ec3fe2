// Downloads a model's files from the hub: resumable, verified, renamed into place only whole.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <memory>
#include <system_error>

#include "base/error.h"
#include "hub/digest.h"
#include "hub/hub.h"
#include "hub/hub_request.h"
#include "hub/model_store.h"

namespace fs = std::filesystem;

namespace lc::hub {

namespace {

using Clock = std::chrono::steady_clock;

std::string megabytes(int64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
    return buf;
}

// Paths come from the server: nothing may leave the model's folder.
void check_repo_path(const std::string& path) {
    bool ok = !path.empty() && path[0] != '/' && path.find('\\') == std::string::npos &&
              path.find('\0') == std::string::npos;
    for (const auto& part : fs::path(path))
        if (part == ".." || part == "." || part.empty()) ok = false;
    if (!ok) throw Error("the hub listed a file named '" + path + "', which is not a safe path");
}

// Progress over the whole pull; the rate counts only bytes fetched now, over the last seconds.
class ProgressMeter {
public:
    ProgressMeter(const std::function<void(const Progress&)>& report, int64_t total)
        : report_(report) {
        p_.total = total;
    }
    void start_file(const RepoFile& f, int64_t have) {
        p_.file = f.path;
        p_.file_total = f.size;
        p_.file_done = have;
        p_.done += have;
        emit(true);
    }
    // A resumed download the server restarted from byte 0.
    void restart_file() {
        p_.done -= p_.file_done;
        p_.file_done = 0;
    }
    void add(int64_t n) {
        p_.file_done += n;
        p_.done += n;
        fetched_ += n;
        emit(false);
    }
    void end_file() { emit(true); }

private:
    void emit(bool force) {
        const auto now = Clock::now();
        if (!force && now - last_ < std::chrono::milliseconds(100)) return;
        last_ = now;
        samples_.push_back({now, fetched_});
        while (samples_.size() > 2 && now - samples_.front().first > std::chrono::seconds(5))
            samples_.pop_front();
        const double window = std::chrono::duration<double>(now - samples_.front().first).count();
        const double elapsed = std::chrono::duration<double>(now - start_).count();
        // Half a second of samples before a rate is said; a pull over sooner gets its average.
        if (window >= 0.5)
            p_.bytes_per_s = static_cast<double>(fetched_ - samples_.front().second) / window;
        else if (p_.done >= p_.total && elapsed > 0)
            p_.bytes_per_s = static_cast<double>(fetched_) / elapsed;
        else
            p_.bytes_per_s = 0;
        p_.seconds_left =
            p_.bytes_per_s > 0 ? static_cast<double>(p_.total - p_.done) / p_.bytes_per_s : -1;
        if (p_.done >= p_.total) p_.seconds_left = 0;
        if (report_) report_(p_);
    }

    const std::function<void(const Progress&)>& report_;
    Progress p_;
    int64_t fetched_ = 0;
    Clock::time_point start_ = Clock::now();
    Clock::time_point last_{};
    std::deque<std::pair<Clock::time_point, int64_t>> samples_;
};

// The .part file, locked so that two pulls of one model do not write into the same file.
class PartFile {
public:
    explicit PartFile(const fs::path& path) : path_(path) {
        fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd_ < 0) throw Error("cannot write " + path.string() + ": " + std::strerror(errno));
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            ::close(fd_);
            throw Error(path.string() + " is being downloaded by another pull right now");
        }
    }
    ~PartFile() {
        if (fd_ >= 0) ::close(fd_);
    }
    PartFile(const PartFile&) = delete;
    PartFile& operator=(const PartFile&) = delete;

    bool write(const char* data, size_t n) {
        while (n > 0) {
            const ssize_t w = ::write(fd_, data, n);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                error_ = std::strerror(errno);
                return false;
            }
            data += w;
            n -= static_cast<size_t>(w);
        }
        return true;
    }
    void truncate() {
        if (::ftruncate(fd_, 0) != 0) throw Error("cannot truncate " + path_.string());
    }
    void sync() {
        if (::fsync(fd_) != 0)
            throw Error("cannot write " + path_.string() + ": " + std::strerror(errno));
    }
    const std::string& error() const { return error_; }

private:
    fs::path path_;
    int fd_ = -1;
    std::string error_;
};

int64_t file_size_or_zero(const fs::path& p) {
    std::error_code ec;
    const auto n = fs::file_size(p, ec);
    return ec ? 0 : static_cast<int64_t>(n);
}

struct PullContext {
    const HubOptions& options;
    const PullRequest& request;
    const std::atomic<bool>* cancel;
    ProgressMeter& meter;
};

// "Content-Range: bytes 100-999/1000" -> 100.
int64_t range_start(const HttpReply& head) {
    auto it = head.headers.find("content-range");
    if (it == head.headers.end()) return -1;
    long long start = -1;
    if (std::sscanf(it->second.c_str(), "bytes %lld-", &start) != 1) return -1;
    return start;
}

void download_file(const PullContext& ctx, const RepoFile& f, const fs::path& dest) {
    const std::string url = ctx.options.endpoint + "/" + ctx.request.repo + "/resolve/" +
                            url_encode(ctx.request.revision, false) + "/" +
                            url_encode(f.path, true);
    const fs::path part = dest.string() + ".part";
    fs::create_directories(dest.parent_path());
    PartFile out(part);
    const bool lfs = !f.sha256.empty();
    auto new_digest = [&] {
        return std::make_unique<Digest>(lfs ? Digest::Kind::Sha256 : Digest::Kind::GitBlobSha1,
                                        f.size);
    };

    int64_t have = file_size_or_zero(part);
    if (have > f.size) {
        out.truncate();
        have = 0;
    }
    std::unique_ptr<Digest> digest = new_digest();
    digest->update_from_file(part, have);
    ctx.meter.start_file(f, have);

    std::string cut_reason;
    for (int attempt = 0; have < f.size; ++attempt) {
        if (attempt > ctx.options.retries)
            throw Error("the download of " + f.path + " was cut at " + megabytes(have) + " of " +
                        megabytes(f.size) + " (" + cut_reason +
                        "); run the same pull again to "
                        "resume it");
        HttpRequest req = hub_request(ctx.options, url, f.path);
        req.range_from = have > 0 ? have : -1;
        req.cancel = ctx.cancel;
        bool restarted_checked = false;
        std::string sink_error;
        const HttpReply reply =
            http_get(req, [&](const HttpReply& head, const char* data, size_t n) {
                if (!restarted_checked) {
                    restarted_checked = true;
                    // 200 to a Range request: the server sends the whole file again.
                    const bool partial = head.status == 206;
                    if (have > 0 && (!partial || range_start(head) != have)) {
                        if (partial) {
                            sink_error = "the server resumed " + f.path + " at the wrong byte";
                            return false;
                        }
                        out.truncate();
                        have = 0;
                        digest = new_digest();
                        ctx.meter.restart_file();
                    }
                }
                if (have + static_cast<int64_t>(n) > f.size) {
                    sink_error = "the server sent more bytes of " + f.path + " than the " +
                                 std::to_string(f.size) + " it lists";
                    return false;
                }
                if (!out.write(data, n)) {
                    sink_error = "cannot write " + part.string() + ": " + out.error();
                    return false;
                }
                digest->update(data, n);
                have += static_cast<int64_t>(n);
                ctx.meter.add(static_cast<int64_t>(n));
                return !(ctx.cancel && ctx.cancel->load());
            });
        if (ctx.cancel && ctx.cancel->load()) throw Error("cancelled");
        if (!sink_error.empty()) {
            if (sink_error.rfind("cannot write", 0) != 0) {  // a bad download, not a full disk
                std::error_code ec;
                fs::remove(part, ec);
            }
            throw Error(sink_error);
        }
        if (reply.status == 416 && have > 0) {  // the server has fewer bytes than we hold
            out.truncate();
            have = 0;
            digest = new_digest();
            ctx.meter.restart_file();
            cut_reason = "the server refused to resume it";
            continue;
        }
        // A transfer that started and was cut is resumed; anything else is the error it is.
        const bool started = reply.status >= 200 && reply.status < 300;
        if (started && (!reply.transport_error.empty() || have < f.size)) {
            cut_reason = reply.transport_error.empty() ? "the connection closed early"
                                                       : reply.transport_error;
            continue;
        }
        throw_if_failed(
            ctx.options, reply, url,
            ctx.request.repo + " has no file " + f.path + " at revision " + ctx.request.revision);
    }
    out.sync();
    const std::string got = digest->hex();
    const std::string& expected = lfs ? f.sha256 : f.git_oid;
    if (!expected.empty() && got != expected) {
        std::error_code ec;
        fs::remove(part, ec);
        throw Error(f.path + " from " + url + " is corrupted: its " +
                    (lfs ? "sha256 is " : "git SHA-1 is ") + got + " where the hub lists " +
                    expected + "; the download was deleted, try again");
    }
    std::error_code ec;
    fs::rename(part, dest, ec);
    if (ec)
        throw Error("cannot rename " + part.string() + " to " + dest.string() + ": " +
                    ec.message());
    ctx.meter.end_file();
}

std::string folder_of(const std::string& repo) {
    std::string name = repo;
    if (auto slash = name.find('/'); slash != std::string::npos) name.replace(slash, 1, "--");
    return name;
}

// Offline: the model is returned when a previous pull finished it.
std::optional<fs::path> already_pulled(const fs::path& target,
                                       const std::optional<std::string>& file) {
    std::error_code ec;
    if (!fs::is_directory(target, ec) || fs::exists(target / kPullingMarker, ec))
        return std::nullopt;
    std::vector<RepoFile> local;
    for (auto it = fs::recursive_directory_iterator(target, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        const std::string rel = fs::relative(it->path(), target, ec).generic_string();
        if (rel.size() > 5 && rel.compare(rel.size() - 5, 5, ".part") == 0) continue;
        local.push_back({rel, static_cast<int64_t>(it->file_size()), "", ""});
    }
    try {
        const std::vector<RepoFile> files = files_to_pull(local, file);
        for (const RepoFile& f : files)
            if (fs::exists(target / (f.path + ".part"), ec)) return std::nullopt;
        return file ? target / files.front().path : target;
    } catch (const Error&) {
        return std::nullopt;
    }
}

}  // namespace

fs::path pull(const HubOptions& options, const PullRequest& request,
              const std::function<void(const Progress&)>& progress,
              const std::atomic<bool>* cancel) {
    check_repo_id(request.repo);
    const fs::path dir = request.models_dir.empty() ? default_models_dir() : request.models_dir;
    const fs::path target = dir / folder_of(request.repo);
    if (options.offline) {
        if (auto done = already_pulled(target, request.file)) return *done;
        hub_request(options, "", request.repo);  // throws, naming HF_HUB_OFFLINE
    }

    std::vector<RepoFile> files;
    try {
        files = files_to_pull(list_files(options, request.repo, request.revision), request.file);
    } catch (const Error& e) {
        const std::string text = e.what();
        throw Error(text.rfind("the repo ", 0) == 0 ? request.repo + text.substr(8) : text);
    }
    // Small git files first: config.json is there as soon as the pull starts, so a cut pull
    // is listed (as incomplete) by its name.
    std::stable_sort(files.begin(), files.end(), [](const RepoFile& a, const RepoFile& b) {
        return a.sha256.empty() > b.sha256.empty();
    });

    int64_t total = 0, missing = 0;
    for (const RepoFile& f : files) {
        check_repo_path(f.path);
        // Each size is at most kMaxListedFileBytes (hub_json.h), but the listing is the server's.
        if (f.size > std::numeric_limits<int64_t>::max() - total)
            throw Error(request.repo + " lists more bytes than any disk holds");
        total += f.size;
        const fs::path dest = target / f.path;
        if (file_size_or_zero(dest) != f.size || !fs::exists(dest))
            missing += f.size - file_size_or_zero(dest.string() + ".part");
    }
    std::error_code ec;
    fs::create_directories(target, ec);
    if (ec) throw Error("cannot create " + target.string() + ": " + ec.message());
    const fs::space_info space = fs::space(target, ec);
    if (!ec && static_cast<int64_t>(space.available) < missing)
        throw Error(request.repo + " needs " + megabytes(missing) + " more on disk, but " +
                    target.string() + " has " + megabytes(static_cast<int64_t>(space.available)) +
                    " free");

    const fs::path marker = target / kPullingMarker;
    if (!request.file) std::ofstream(marker).put('\n');
    ProgressMeter meter(progress, total);
    PullContext ctx{options, request, cancel, meter};
    for (const RepoFile& f : files) {
        const fs::path dest = target / f.path;
        if (fs::exists(dest, ec) && file_size_or_zero(dest) == f.size) {
            meter.start_file(f, f.size);
            continue;
        }
        download_file(ctx, f, dest);
    }
    if (!request.file) fs::remove(marker, ec);
    if (!request.file) return target;
    // The path to open: the named file, the first part of a split set.
    std::string first = files.front().path;
    for (const RepoFile& f : files)
        first = std::min(first, f.path);
    return target / first;
}

}  // namespace lc::hub
