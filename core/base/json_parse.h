#pragma once
// JSON from files and requests we did not write: nesting limited, and every failure (bad syntax,
// a number out of range, nesting too deep) one lc::Error naming the source. Without the limit a
// file of a hundred thousand '[' builds a structure whose handling recurses past the stack.
// Header-only: users link nlohmann_json themselves (formats and history do).
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "base/error.h"

namespace lc {

inline constexpr int kMaxJsonDepth = 256;

template <class Json = nlohmann::json, class Input>
Json parse_json(Input&& input, const std::string& source) {
    const typename Json::parser_callback_t limit = [&source](int depth,
                                                             typename Json::parse_event_t, Json&) {
        if (depth > kMaxJsonDepth)
            throw Error(source + " nests JSON deeper than " + std::to_string(kMaxJsonDepth) +
                        " levels");
        return true;
    };
    try {
        return Json::parse(std::forward<Input>(input), limit);
    } catch (const nlohmann::json::exception& e) {
        // Drop nlohmann's "[json.exception.parse_error.101] " prefix: users need the reason.
        std::string why = e.what();
        if (auto at = why.find("] "); at != std::string::npos) why = why.substr(at + 2);
        throw Error(source + " is not valid JSON: " + why);
    }
}

}  // namespace lc
