#pragma once
// One HTTP GET or POST through libcurl: redirects followed, timeouts, an optional Range, the body
// either kept in memory or handed to a sink as it arrives, and a cancel flag polled every 50 ms
// even while the server is silent. Used by core/hub and core/remote only.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace lc::hub {

struct HttpRequest {
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    int64_t range_from = -1;           // >= 0: "Range: bytes=N-"
    long connect_timeout_s = 15;
    long stall_timeout_s = 30;  // below 1 byte/s this long: cut
    const std::atomic<bool>* cancel = nullptr;
};

struct HttpReply {
    long status = 0;                             // of the last response (after redirects)
    std::map<std::string, std::string> headers;  // of the last response, names lowercased
    std::string body;                            // without a sink, or the body of an error status
    std::string transport_error;                 // non-empty: the transfer failed (curl's words)
    bool timed_out = false;                      // the failure was a connect or stall timeout
    bool cancelled = false;                      // stopped by `cancel` or by the sink
    int64_t received = 0;                        // body bytes of a 2xx response handed on
};

// Called with each piece of a 2xx body; returning false stops the transfer (reply.cancelled).
using BodySink = std::function<bool(const HttpReply& head, const char* data, size_t n)>;

// Never throws for HTTP statuses or network failures: the caller words those.
HttpReply http_get(const HttpRequest& request, const BodySink& sink = {});
// The same with a POST of `body` (the caller sets Content-Type in request.headers).
HttpReply http_post(const HttpRequest& request, const std::string& body, const BodySink& sink = {});

// Percent-encodes for a URL path or query: unreserved characters stay, and "/" when keep_slash.
std::string url_encode(const std::string& text, bool keep_slash);

// An HTTP status with its reason phrase ("404 Not Found"); the number alone when not a common one.
std::string http_status_words(long status);

}  // namespace lc::hub
