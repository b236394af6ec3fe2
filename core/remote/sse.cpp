#include "remote/sse.h"

#include "base/error.h"

namespace lc::remote {

namespace {
constexpr size_t kMaxLine = size_t{8} << 20;
}

bool SseParser::feed(std::string_view bytes) {
    for (const char ch : bytes) {
        if (ch == '\n' && after_cr_) {  // the \n of a \r\n
            after_cr_ = false;
            continue;
        }
        after_cr_ = ch == '\r';
        if (ch == '\n' || ch == '\r') {
            if (!end_line()) return false;
            continue;
        }
        if (line_.size() >= kMaxLine) throw Error("the event stream has a line longer than 8 MiB");
        line_ += ch;
    }
    return true;
}

bool SseParser::end_line() {
    std::string line;
    line.swap(line_);
    if (line.empty()) {  // a blank line dispatches the event
        if (!has_data_) return true;
        std::string data;
        data.swap(data_);
        has_data_ = false;
        return on_event_(data);
    }
    if (line.front() == ':') return true;  // a comment (servers send these to keep alive)
    const size_t colon = line.find(':');
    const std::string_view field = std::string_view(line).substr(0, colon);
    if (field != "data") return true;
    std::string_view value;
    if (colon != std::string::npos) {
        value = std::string_view(line).substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (has_data_) data_ += '\n';
    data_ += value;
    has_data_ = true;
    return true;
}

}  // namespace lc::remote
