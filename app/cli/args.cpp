#include "args.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "base/error.h"

namespace lc::cli {

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& value_flags,
           const std::set<std::string>& switches) {
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (a.rfind("--", 0) != 0 || a.size() == 2) {
            positional_.push_back(a);
            continue;
        }
        std::string name = a.substr(2), value;
        bool inline_value = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            inline_value = true;
        }
        if (switches.count(name)) {
            if (inline_value) throw Error("--" + name + " takes no value");
            on_.insert(name);
        } else if (value_flags.count(name)) {
            if (!inline_value) {
                if (i + 1 >= argv.size()) throw Error("--" + name + " needs a value");
                value = argv[++i];
            }
            if (values_.count(name)) throw Error("--" + name + " is given twice");
            values_[name] = value;
        } else {
            throw Error("unknown flag --" + name + " (see --help)");
        }
    }
}

std::string Args::str(const std::string& flag, const std::string& fallback) const {
    auto it = values_.find(flag);
    return it == values_.end() ? fallback : it->second;
}

std::optional<std::string> Args::opt(const std::string& flag) const {
    auto it = values_.find(flag);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

int Args::integer(const std::string& flag, int fallback, int min, int max) const {
    auto v = opt(flag);
    if (!v) return fallback;
    int x = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
    if (ec != std::errc() || end != v->data() + v->size())
        throw Error("--" + flag + " must be an integer, got '" + *v + "'");
    if (x < min || x > max)
        throw Error("--" + flag + " must be between " + std::to_string(min) + " and " +
                    std::to_string(max) + ", got " + *v);
    return x;
}

double Args::number(const std::string& flag, double fallback, double min, double max) const {
    auto v = opt(flag);
    if (!v) return fallback;
    char* end = nullptr;
    errno = 0;
    double x = std::strtod(v->c_str(), &end);
    if (v->empty() || end != v->c_str() + v->size() || errno != 0 || !std::isfinite(x))
        throw Error("--" + flag + " must be a number, got '" + *v + "'");
    if (x < min || x > max)
        throw Error("--" + flag + " must be between " + std::to_string(min) + " and " +
                    std::to_string(max) + ", got " + *v);
    return x;
}

uint64_t Args::unsigned64(const std::string& flag, uint64_t fallback) const {
    auto v = opt(flag);
    if (!v) return fallback;
    uint64_t x = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
    if (ec != std::errc() || end != v->data() + v->size())
        throw Error("--" + flag + " must be a non-negative integer, got '" + *v + "'");
    return x;
}

std::vector<int> Args::int_list(const std::string& flag) const {
    auto v = opt(flag);
    std::vector<int> out;
    if (!v) return out;
    size_t pos = 0;
    while (pos <= v->size()) {
        size_t comma = v->find(',', pos);
        if (comma == std::string::npos) comma = v->size();
        std::string item = v->substr(pos, comma - pos);
        while (!item.empty() && item.front() == ' ')
            item.erase(item.begin());
        int x = 0;
        auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), x);
        if (item.empty() || ec != std::errc() || end != item.data() + item.size())
            throw Error("--" + flag + " must be a comma-separated list of integers, got '" + *v +
                        "'");
        out.push_back(x);
        pos = comma + 1;
    }
    return out;
}

}  // namespace lc::cli
