#pragma once
// The message of the lc::Error a piece of code throws, for tests of bad input.
#include <exception>
#include <functional>
#include <string>

#include "base/error.h"

namespace lc_test {

inline const std::string kNoError = "(no lc::Error thrown)";

// The lc::Error `f` throws; kNoError when it throws nothing; a marker naming any other exception
// (which no bad input should reach).
inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const lc::Error& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("<not an lc::Error: ") + e.what() + ">";
    }
    return kNoError;
}

}  // namespace lc_test
