#pragma once
// Models from the Hugging Face hub and on this machine (issue 20). Plain C++ over libcurl (HTTP)
// and OpenSSL (sha256); no Qt. The app runs these calls on a worker thread.
//   Listing:   GET {endpoint}/api/models/{repo}/tree/{revision}?recursive=true
//              (each file's size, and for LFS files "lfs": {"oid": sha256, "size"})
//   Bytes:     GET {endpoint}/{repo}/resolve/{revision}/{path} (Range: bytes=N- to resume)
//   Search:    GET {endpoint}/api/models?search=TEXT&limit=N&expand=config&expand=gguf&...
// Environment, as huggingface_hub reads it: HF_ENDPOINT (default https://huggingface.co),
// HF_TOKEN (Authorization: Bearer; else the file `huggingface-cli login` writes: $HF_TOKEN_PATH,
// else $HF_HOME/token, else ~/.cache/huggingface/token), HF_HUB_OFFLINE=1 (no network: every
// call that needs it is an lc::Error saying so), HF_HUB_CACHE / HF_HOME (the cache scanned for
// models already there).
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace lc::hub {

struct HubOptions {
    std::string endpoint = "https://huggingface.co";  // no trailing slash
    std::string token;                                // empty: anonymous
    bool offline = false;
    long connect_timeout_s = 15;
    long stall_timeout_s = 30;  // a transfer below 1 byte/s for this long is cut (then resumable)
    int retries = 3;            // a file cut mid-transfer is resumed this many times in one pull
    // From HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE.
    static HubOptions from_environment();
};

struct RepoFile {
    std::string path;  // "model-00001-of-00004.safetensors", "Q4_K_M/x.gguf"
    int64_t size = 0;
    std::string sha256;   // lowercase hex for LFS files; empty for small git files
    std::string git_oid;  // the git blob SHA-1 the hub lists for small git files (checked instead)
};

// The files of `repo` at `revision`. Throws lc::Error: network failure, 401/403 (a gated or
// private repo: "set HF_TOKEN"), 404 (no such repo or revision), a reply that is not the
// expected JSON.
std::vector<RepoFile> list_files(const HubOptions& options, const std::string& repo,
                                 const std::string& revision = "main");

// Which of a repo's files a model needs: without `file`, everything a folder model needs
// (config.json, generation_config.json, tokenizer files, chat templates, *.safetensors and
// their index; no other weights formats); with `file` (a .gguf, or the first part of a split
// set), that file and the rest of its split set. `file` may also be the file's name without its
// folder, or a quantization ("Q4_K_M") that names one GGUF file or split set of the repo. Throws
// when nothing matches, naming what was looked for and listing the GGUF files the repo has.
std::vector<RepoFile> files_to_pull(const std::vector<RepoFile>& all,
                                    const std::optional<std::string>& file);

struct Progress {
    std::string file;  // the file being transferred
    int64_t file_done = 0, file_total = 0;
    int64_t done = 0, total = 0;  // over the whole pull
    double bytes_per_s = 0;       // recent rate
    double seconds_left = -1;     // -1 while unknown
};

struct PullRequest {
    std::string repo;
    std::string revision = "main";
    std::optional<std::string> file;   // a GGUF file of the repo
    std::filesystem::path models_dir;  // default_models_dir() when empty
};

// Downloads into models_dir/<owner>--<name>/ (files keep their repo paths), each to
// "<path>.part" (resumed with Range when present), verified against its sha256 (git files: their
// git blob SHA-1), then renamed; a file already there with the right size is skipped (only a
// verified download gets its final name). A transfer cut mid-file is resumed up to
// options.retries times; after that the error names the file and the .part stays for the next
// pull. Offline (HF_HUB_OFFLINE), a model already complete there is returned without a request.
// Returns the model path to open: the folder, or with `file` the .gguf inside it. `progress` is
// called often from this thread; `cancel` (may be null) stops the pull between chunks: the .part
// files stay for a later resume and lc::Error "cancelled" is thrown. A corrupted download (hash
// mismatch) removes the .part and throws naming the file, expected and got hashes.
std::filesystem::path pull(const HubOptions& options, const PullRequest& request,
                           const std::function<void(const Progress&)>& progress,
                           const std::atomic<bool>* cancel = nullptr);

struct SearchResult {
    std::string repo;        // "deepseek-ai/DeepSeek-V2-Lite-Chat"
    std::string model_type;  // config.json's model_type when the hub says it
    int64_t downloads = 0;
    int64_t likes = 0;
    bool mla = false;  // a model type LatentChat runs (deepseek_v2/v3, kimi_k2, glm4_moe_lite)
};
// Search by name; results that are not MLA models are dropped unless `all` is set.
std::vector<SearchResult> search(const HubOptions& options, const std::string& text, int limit,
                                 bool all = false);

}  // namespace lc::hub
