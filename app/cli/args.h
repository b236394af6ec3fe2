#pragma once
// Command-line flags: `--name value` pairs and boolean `--name` switches, each checked once,
// with errors that name the flag and the value at fault.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace lc::cli {

class Args {
public:
    // `switches` are flags that take no value. Throws lc::Error on an unknown flag, a missing
    // value or a stray argument.
    Args(const std::vector<std::string>& argv, const std::set<std::string>& value_flags,
         const std::set<std::string>& switches);

    bool has(const std::string& flag) const { return values_.count(flag) || on_.count(flag); }
    std::string str(const std::string& flag, const std::string& fallback = "") const;
    std::optional<std::string> opt(const std::string& flag) const;
    int integer(const std::string& flag, int fallback, int min, int max) const;
    double number(const std::string& flag, double fallback, double min, double max) const;
    uint64_t unsigned64(const std::string& flag, uint64_t fallback) const;
    std::vector<int> int_list(const std::string& flag) const;  // "1,2,3"
    const std::vector<std::string>& positional() const { return positional_; }

private:
    std::map<std::string, std::string> values_;
    std::set<std::string> on_;
    std::vector<std::string> positional_;
};

}  // namespace lc::cli
