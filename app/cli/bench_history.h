#pragma once
// `bench-history`: the history database at scale. Fills a database with synthetic chats (10,000
// conversations and 1,000,000 messages by default) when it holds fewer conversations, then
// times what the app does against it: opening it, listing the sidebar (first page and
// scrolled), searching (a rare word, a common word, two words) and opening a conversation.
// Prints JSON with the best and median of each, the file's size and the machine.
#include <string>
#include <vector>

namespace lc::cli {

int cmd_bench_history(const std::vector<std::string>& argv);

}  // namespace lc::cli
