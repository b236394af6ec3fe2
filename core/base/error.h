#pragma once
// One exception type for everything a user can cause (bad file, bad flag, bad config).
// Its message is a complete sentence meant for the user; it is printed at the edge (CLI, GUI).
#include <stdexcept>
#include <string>

namespace lc {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace lc
