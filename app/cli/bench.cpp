// `bench`: prefill and decode speed at several context depths, the cache held, and decode's
// bandwidth (bytes of weights and cache read per token / time) against a plain read benchmark.
#include <sys/resource.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "bench_util.h"
#include "commands.h"
#include "cpu/cpu_matmul.h"
#include "cpu/membench.h"
#include "engine/sampler.h"
#ifdef LATENTCHAT_HAVE_CUDA
#include "kernels/kernel_bench.h"
#endif

namespace lc::cli {

int cmd_bench(const std::vector<std::string>& argv) {
    std::set<std::string> flags = {"prompt-len", "gen", "depths", "membench-mb"};
    flags.insert(kModelFlags.begin(), kModelFlags.end());
    Args args(argv, flags, {});
    open_options_from(args);  // the model flags are checked before anything else
    // Flags are checked before the model loads; their defaults depend on where it runs.
    const int prompt_flag = args.integer("prompt-len", 64, 1, 1 << 20);
    const int gen_flag = args.integer("gen", 16, 1, 1 << 20);
    const std::vector<int> depths_flag =
        args.has("depths") ? args.int_list("depths") : std::vector<int>{};
    for (int d : depths_flag)
        if (d < 0) throw Error("--depths must not be negative");
    const int membench_mb = args.integer("membench-mb", 1024, 0, 1 << 20);

    OpenedModel opened = open_model_from(args, false);
    auto& model = opened.model;
    const ModelConfig& c = model->config();
    const std::string device = model->backend().name();
    const bool on_gpu = opened.on_gpu();
    const int prompt_len = args.has("prompt-len") ? prompt_flag : on_gpu ? 512 : 64;
    const int gen = args.has("gen") ? gen_flag : on_gpu ? 128 : 16;
    const std::vector<int> depths = args.has("depths") ? depths_flag
                                    : on_gpu           ? std::vector<int>{0, 1024, 8192, 32768}
                                                       : std::vector<int>{0, 256, 1024};
    int max_depth = *std::max_element(depths.begin(), depths.end());
    const int ctx = max_depth + prompt_len + gen + 1;
    if (ctx > c.max_position_embeddings)
        throw Error("--depths plus --prompt-len and --gen exceed the model's context (" +
                    std::to_string(c.max_position_embeddings) + " tokens)");

    nlohmann::json out;
    out["model"] = model->dir().string();
    out["device"] = device;
    out["threads"] = model->backend().threads();
    out["avx2_fma"] = cpu_has_avx2_fma();
    out["weight_bytes"] = model->weight_bytes();
    out["weight_bytes_read_per_token"] = model->bytes_read_per_token();
    double peak = 0;
    double copy_peak = 0;
#ifdef LATENTCHAT_HAVE_CUDA
    if (on_gpu) {
        // The card's ceilings, measured by kernels of ours (4 GiB buffers, median of 10).
        cuda::Bandwidth bw = cuda::measure_bandwidth();
        peak = bw.read_gbs * 1e9;
        copy_peak = bw.copy_gbs * 1e9;
        out["read_bandwidth_bytes_per_s"] = peak;
        out["copy_bandwidth_bytes_per_s"] = copy_peak;
        out["read_bandwidth_buffer_bytes"] = bw.bytes;
    }
#endif
    if (membench_mb > 0 && !on_gpu) {
        ThreadPool pool(model->backend().threads());
        ReadBandwidth bw = measure_read_bandwidth(pool, static_cast<size_t>(membench_mb) << 20, 5);
        peak = bw.bytes_per_second;
        out["read_bandwidth_bytes_per_s"] = peak;
        out["read_bandwidth_buffer_bytes"] = bw.buffer_bytes;
    }

    model->prefault_weights();  // steady-state figures, not first-touch page faults
    SamplingParams greedy;
    greedy.temperature = 0.0f;
    Sampler sampler(greedy, c.vocab_size);
    auto cache = model->new_cache(ctx);
    {  // Warm-up: kernels loaded, the decode step recorded (CUDA graphs), caches touched.
        model->forward_last(pseudo_random_tokens(8, c.vocab_size, 3), *cache);
        for (int i = 0; i < 3; ++i) {
            const int next[1] = {model->sample_next(sampler, {})};
            model->forward_last(next, *cache);
        }
    }
    for (int depth : depths) {
        cache->clear();
        nlohmann::json row;
        row["depth"] = depth;
        double t0 = now_seconds();
        if (depth > 0)
            model->forward(pseudo_random_tokens(depth, c.vocab_size, 1), *cache, nullptr);
        row["fill_seconds"] = now_seconds() - t0;

        std::vector<int> prompt = pseudo_random_tokens(prompt_len, c.vocab_size, 2);
        t0 = now_seconds();
        model->forward_last(prompt, *cache);
        int next_id = model->sample_next(sampler, {});  // waits for the prefill to finish
        const double prefill_s = now_seconds() - t0;
        row["prefill_tokens"] = prompt_len;
        row["prefill_tokens_per_s"] = prompt_len / prefill_s;

        // Decode: greedy, one token at a time, each fed back; sampling is part of the step.
        size_t cache_read_bytes = 0;
        t0 = now_seconds();
        for (int i = 0; i < gen; ++i) {
            const int next[1] = {next_id};
            cache_read_bytes += cache->stats().bytes_live;
            model->forward_last(next, *cache);
            next_id = model->sample_next(sampler, {});
        }
        const double decode_s = now_seconds() - t0;
        const double rate = gen / decode_s;
        const double bytes_per_token = static_cast<double>(model->bytes_read_per_token()) +
                                       static_cast<double>(cache_read_bytes) / gen;
        row["decode_tokens"] = gen;
        row["decode_tokens_per_s"] = rate;
        row["decode_bytes_per_token"] = bytes_per_token;
        row["decode_bytes_per_s"] = bytes_per_token * rate;
        if (peak > 0) row["decode_fraction_of_read_bandwidth"] = bytes_per_token * rate / peak;
        if (copy_peak > 0)
            row["decode_fraction_of_copy_bandwidth"] = bytes_per_token * rate / copy_peak;
#ifdef LATENTCHAT_HAVE_CUDA
        if (on_gpu && depth > 0) {
            // The attention kernels alone, one layer, at this depth.
            cuda::AttentionTiming a =
                cuda::time_attention(c.num_attention_heads, c.qk_nope_head_dim, c.qk_rope_head_dim,
                                     c.v_head_dim, c.kv_lora_rank, depth);
            row["attention_seconds_per_layer"] = a.seconds;
            row["attention_bytes_per_s"] = a.gbs * 1e9;
            if (peak > 0) row["attention_fraction_of_read_bandwidth"] = a.gbs * 1e9 / peak;
            if (copy_peak > 0)
                row["attention_fraction_of_copy_bandwidth"] = a.gbs * 1e9 / copy_peak;
        }
#endif
        CacheStats s = cache->stats();
        row["cache_tokens"] = s.tokens;
        row["cache_bytes_allocated"] = s.bytes_allocated;
        row["cache_bytes_live"] = s.bytes_live;
        row["mha_cache_bytes"] = s.mha_bytes;
        out["results"].push_back(row);
        std::cerr << "depth " << depth << ": prefill " << prompt_len / prefill_s
                  << " tok/s, decode " << rate << " tok/s\n";
    }
    // Peak resident memory: mapped weights (file pages count once touched), cache and buffers.
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) == 0)
        out["max_resident_bytes"] = static_cast<int64_t>(usage.ru_maxrss) * 1024;
    std::cout << out.dump(2) << "\n";
    return 0;
}

}  // namespace lc::cli
