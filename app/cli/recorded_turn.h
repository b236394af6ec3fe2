#pragma once
// The history side of `generate --db`: the conversation (new or --conversation ID), the system
// and user messages saved before the reply starts, and an empty reply row with its
// ReplyRecorder, which the engine (local or remote) then fills as the reply streams.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "base/message.h"
#include "history/history_store.h"

namespace lc::cli {

struct RecordedTurn {
    std::unique_ptr<HistoryStore> store;
    int64_t conversation = 0;
    std::vector<Message> turns;  // what the engine answers: the stored branch and the prompt
    std::unique_ptr<ReplyRecorder> recorder;
};

// Reads --prompt, --conversation and --system from `args`. `model_id` and `sampling_json` are
// stored with the reply. Throws lc::Error for a bad --conversation or an unusable database.
RecordedTurn begin_recorded_turn(const Args& args, const std::string& db,
                                 const std::string& model_id, const std::string& sampling_json);

// "[saved to conversation N in DB]" on stderr.
void report_saved(const RecordedTurn& turn, const std::string& db);

}  // namespace lc::cli
