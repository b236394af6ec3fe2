#pragma once
// Server-sent events read incrementally (the WHATWG event-stream format): bytes go in as they
// arrive, split anywhere; each event's data (its "data:" lines joined by "\n") comes out once
// the blank line that ends it is read. Comments (":...") and other fields (event, id, retry, or
// a line that is no field at all) are ignored, as the format says. Lines end in \n, \r\n or \r.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace lc::remote {

class SseParser {
public:
    // Returns false to stop reading (feed() then returns false too).
    using EventFn = std::function<bool(const std::string& data)>;
    explicit SseParser(EventFn on_event) : on_event_(std::move(on_event)) {}

    // Throws lc::Error when one line grows beyond 8 MiB (no server sends that).
    bool feed(std::string_view bytes);
    // True while a line has begun but not ended (a stream cut in the middle of an event line).
    bool mid_line() const { return !line_.empty(); }
    // True while an event has data but its closing blank line has not come.
    bool mid_event() const { return has_data_; }

private:
    bool end_line();

    EventFn on_event_;
    std::string line_;
    std::string data_;
    bool has_data_ = false;
    bool after_cr_ = false;  // the last byte was \r: a \n right after it ends nothing more
};

}  // namespace lc::remote
