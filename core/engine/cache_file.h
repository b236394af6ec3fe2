#pragma once
// Latent cache persistence: a conversation's latent cache saved to a file, keyed by the model's
// fingerprint and the tokens it covers, and loaded back so a reopened conversation continues
// without prefilling again. A file from another model, for another conversation, or damaged in
// any way is ignored (the caller prefills as usual); it never becomes part of a context.
//
// File layout (version 1, host byte order, which is little-endian on every supported target):
//   "LCKV"  u32 version  u32 header_bytes  u32 element_type (1 = float32)
//   u32 layers  u32 d_c  u32 d_rope  u32 tokens  u32 fingerprint_bytes  fingerprint
//   i32 token_ids[tokens]  u64 payload_bytes  u64 payload_checksum  u64 header_checksum
//   payload: for each layer, the rows of positions [0, tokens), d_c + d_rope floats each,
//   exactly as the cache holds them (lossless).
// The checksums cover the header bytes before them and the whole payload.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "engine/kv_cache.h"

namespace lc {

class Model;
class Session;

// A short hex string that changes when the checkpoint does: a hash of config.json and of every
// tensor's name, dtype, shape, size and first and last 64 bytes. Reads a few bytes per tensor,
// never the whole weights. Throws lc::Error when config.json or the checkpoint cannot be read.
std::string model_fingerprint(const Model& model);
std::string model_fingerprint(const std::filesystem::path& model_dir);

// Writes positions [0, cache.size()) of every layer and `tokens` (which must hold exactly
// cache.size() ids) to `file`, through `file` + ".tmp" renamed into place, so a reader sees
// the old file or the new one, never half of one. Throws lc::Error naming the file when it
// cannot be written.
void save_latent_cache(const std::filesystem::path& file, const LatentCache& cache,
                       const std::vector<int>& tokens, const std::string& fingerprint);

struct LoadedCache {
    bool used = false;        // rows were restored into the cache
    int tokens_restored = 0;  // the cache now holds positions [0, tokens_restored)
    std::string reason;       // why the file was not used (empty when used)
};

// Empties `cache`, then restores from `file` the longest run of saved tokens that matches
// `expected_prefix` from its start (all of them when the conversation only grew), and puts
// those ids in `tokens_out`. Nothing is restored, and the cache stays empty, when the file is
// missing, damaged (magic, version, sizes, checksums), from a model with another fingerprint,
// of another cache shape, or when not even its first token matches. A bad file never throws;
// only running out of memory for the cache does.
LoadedCache load_latent_cache(const std::filesystem::path& file, LatentCache& cache,
                              std::vector<int>& tokens_out, const std::string& fingerprint,
                              std::span<const int> expected_prefix);

// Reopens a conversation in `session`: resets it, loads the file into its cache and makes the
// restored tokens its context (through Session::adopt_cache_prefix), so that a following
// set_context(conversation_tokens) prefills only what was not restored (at least the last
// token, whose logits it needs). Returns what load_latent_cache returned; when not used, the
// session is empty and set_context prefills everything.
LoadedCache resume_session(Session& session, const std::filesystem::path& file,
                           const std::string& fingerprint,
                           std::span<const int> conversation_tokens);

// The checksum the file's header and payload carry, over `bytes` (for tests and the fuzz target,
// which make files of their own).
uint64_t latent_cache_checksum(std::span<const uint8_t> bytes);

}  // namespace lc
