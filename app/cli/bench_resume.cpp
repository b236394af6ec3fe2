// `bench-resume`: a conversation of N tokens reopened two ways, each up to its first generated
// token: (a) prefilling all N tokens again, (b) loading the latent cache saved when it was left
// and prefilling only the last token. Prints JSON: both times, the save time, the file's bytes,
// the cache's live bytes and what an MHA cache of the same model would hold for N tokens.
#include "bench_resume.h"

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "bench_util.h"
#include "commands.h"
#include "engine/cache_file.h"
#include "engine/sampler.h"

namespace lc::cli {

namespace {

namespace fs = std::filesystem;

}  // namespace

int cmd_bench_resume(const std::vector<std::string>& argv) {
    std::set<std::string> flags = {"tokens", "dir", "repeat"};
    flags.insert(kModelFlags.begin(), kModelFlags.end());
    Args args(argv, flags, {});
    const int n = args.integer("tokens", 900, 2, 1 << 24);
    const int repeat = args.integer("repeat", 3, 1, 1000);
    const fs::path dir = args.str("dir", fs::temp_directory_path().string());
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw Error("--dir " + dir.string() + " is not a folder");

    OpenedModel opened = open_model_from(args, false);
    auto& model = opened.model;
    const ModelConfig& c = model->config();
    if (n > c.max_position_embeddings)
        throw Error("--tokens " + std::to_string(n) + " exceeds the model's context (" +
                    std::to_string(c.max_position_embeddings) + " tokens)");
    model->prefault_weights();  // steady-state figures, not first-touch page faults
    const std::vector<int> tokens = pseudo_random_tokens(n, c.vocab_size, 1);
    const fs::path file = dir / ("latentchat-bench-resume-" + std::to_string(::getpid()) + ".lckv");

    double t0 = now_seconds();
    const std::string fingerprint = model_fingerprint(*model);
    const double fingerprint_s = now_seconds() - t0;

    // (a) Reopen by prefilling the whole conversation.
    std::vector<float> full_logits(c.vocab_size), resumed_logits(c.vocab_size);
    double full_s = 1e30;
    int full_first = -1;
    std::unique_ptr<LatentCache> left;
    for (int i = 0; i < repeat; ++i) {
        auto cache = model->new_cache(n + 1);
        t0 = now_seconds();
        model->forward(tokens, *cache, full_logits.data());
        full_first = argmax(full_logits);
        full_s = std::min(full_s, now_seconds() - t0);
        left = std::move(cache);
    }

    // (b) Leaving the conversation: save its cache.
    double save_s = 1e30;
    for (int i = 0; i < repeat; ++i) {
        t0 = now_seconds();
        save_latent_cache(file, *left, tokens, fingerprint);
        save_s = std::min(save_s, now_seconds() - t0);
    }
    const uintmax_t file_bytes = fs::file_size(file);
    const CacheStats stats = left->stats();

    // (c) Reopen from the file: load, prefill the last token only.
    double resume_s = 1e30, load_s = 1e30;
    int resume_first = -1, restored = 0;
    for (int i = 0; i < repeat; ++i) {
        auto cache = model->new_cache(n + 1);
        std::vector<int> ids;
        t0 = now_seconds();
        LoadedCache r = load_latent_cache(file, *cache, ids, fingerprint, tokens);
        const double loaded_s = now_seconds() - t0;
        if (!r.used) {
            fs::remove(file, ec);
            throw Error("the saved cache " + file.string() + " was not used: " + r.reason);
        }
        restored = r.tokens_restored;
        const int keep = std::min(cache->size(), n - 1);
        cache->truncate(keep);
        model->forward(std::span<const int>(tokens).subspan(keep), *cache, resumed_logits.data());
        resume_first = argmax(resumed_logits);
        resume_s = std::min(resume_s, now_seconds() - t0);
        load_s = std::min(load_s, loaded_s);
    }
    fs::remove(file, ec);

    double diff = 0, norm = 0;
    for (int i = 0; i < c.vocab_size; ++i) {
        diff += double(full_logits[i] - resumed_logits[i]) * (full_logits[i] - resumed_logits[i]);
        norm += double(full_logits[i]) * full_logits[i];
    }

    nlohmann::json out;
    out["model"] = model->dir().string();
    out["threads"] = model->backend().threads();
    out["tokens"] = n;
    out["repeat"] = repeat;
    out["fingerprint"] = fingerprint;
    out["fingerprint_seconds"] = fingerprint_s;
    out["reprefill_first_token_seconds"] = full_s;
    out["save_seconds"] = save_s;
    out["resume_load_seconds"] = load_s;
    out["resume_first_token_seconds"] = resume_s;
    out["speedup"] = full_s / resume_s;
    out["tokens_restored"] = restored;
    out["file_bytes"] = file_bytes;
    out["cache_bytes_live"] = stats.bytes_live;
    out["mha_cache_bytes"] = stats.mha_bytes;
    out["mha_over_file"] = static_cast<double>(stats.mha_bytes) / static_cast<double>(file_bytes);
    out["first_token_reprefill"] = full_first;
    out["first_token_resumed"] = resume_first;
    out["logits_relative_l2"] = norm > 0 ? std::sqrt(diff / norm) : 0.0;
    std::cout << out.dump(2) << "\n";
    return 0;
}

}  // namespace lc::cli
