#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>
#include <mutex>

namespace lc::hub {

namespace {

// curl_global_init is not thread-safe: once per process, before the first handle.
void init_curl_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

constexpr size_t kMaxErrorBody = 64 * 1024;
constexpr size_t kMaxMemoryBody = size_t{256} << 20;

struct Transfer {
    const HttpRequest* request = nullptr;
    const BodySink* sink = nullptr;
    HttpReply reply;
    CURL* curl = nullptr;
    bool status_known = false;
    bool too_large = false;
    bool stalled = false;  // nothing came for stall_timeout_s (perform() cut it)
    std::chrono::steady_clock::time_point last_byte = std::chrono::steady_clock::now();
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    t->last_byte = std::chrono::steady_clock::now();
    std::string line(data, size * count);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
        line.pop_back();
    // A new status line starts a new response (after a redirect): forget the previous headers.
    if (line.rfind("HTTP/", 0) == 0) {
        t->reply.headers.clear();
    } else if (auto colon = line.find(':'); colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        size_t start = colon + 1;
        while (start < line.size() && line[start] == ' ')
            ++start;
        t->reply.headers[name] = line.substr(start);
    }
    return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    t->last_byte = std::chrono::steady_clock::now();
    const size_t n = size * count;
    if (!t->status_known) {
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->reply.status);
        t->status_known = true;
    }
    const bool ok = t->reply.status >= 200 && t->reply.status < 300;
    if (!ok || !*t->sink) {
        const size_t cap = ok ? kMaxMemoryBody : kMaxErrorBody;
        if (t->reply.body.size() + n > cap) {
            if (ok) {
                t->too_large = true;
                return 0;
            }
            return n;  // an error page's tail is not needed
        }
        t->reply.body.append(data, n);
        if (ok) t->reply.received += static_cast<int64_t>(n);
        return n;
    }
    if (!(*t->sink)(t->reply, data, n)) {
        t->reply.cancelled = true;
        return 0;
    }
    t->reply.received += static_cast<int64_t>(n);
    return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* t = static_cast<Transfer*>(user);
    if (t->request->cancel && t->request->cancel->load()) {
        t->reply.cancelled = true;
        return 1;
    }
    return 0;
}

struct CurlDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
    void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

// curl_easy_perform, but the cancel flag is looked at every 50 ms: curl calls the progress
// callback only about once a second while a server sends nothing (a model still reading a long
// prompt), and Stop must not wait for that. A transfer that receives nothing for
// stall_timeout_s is cut here too: curl's own low-speed check averages over a window of several
// seconds, so it noticed a silent server only some seconds late.
CURLcode perform(CURL* c, Transfer& t) {
    const std::atomic<bool>* cancel = t.request->cancel;
    const auto stall = std::chrono::seconds(t.request->stall_timeout_s);
    CURLM* multi = curl_multi_init();
    if (!multi) return CURLE_OUT_OF_MEMORY;
    curl_multi_add_handle(multi, c);
    CURLcode result = CURLE_OK;
    bool done = false;
    int running = 1;
    while (!done) {
        if (cancel && cancel->load()) {
            t.reply.cancelled = true;
            result = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        if (t.request->stall_timeout_s > 0 &&
            std::chrono::steady_clock::now() - t.last_byte > stall) {
            t.stalled = true;
            result = CURLE_OPERATION_TIMEDOUT;
            break;
        }
        if (curl_multi_perform(multi, &running) != CURLM_OK) {
            result = CURLE_FAILED_INIT;
            break;
        }
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
            if (msg->msg == CURLMSG_DONE) {
                result = msg->data.result;
                done = true;
            }
        }
        if (!done && running == 0) break;  // ended without a message: taken as done
        if (!done) curl_multi_poll(multi, nullptr, 0, 50, nullptr);
    }
    curl_multi_remove_handle(multi, c);
    curl_multi_cleanup(multi);
    return result;
}

HttpReply transfer(const HttpRequest& request, const std::string* post_body, const BodySink& sink) {
    init_curl_once();
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    Transfer t;
    t.request = &request;
    t.sink = &sink;
    t.curl = curl.get();
    if (!curl) {
        t.reply.transport_error = "libcurl could not start a transfer";
        return t.reply;
    }
    curl_slist* list = nullptr;
    for (const std::string& h : request.headers)
        list = curl_slist_append(list, h.c_str());
    std::unique_ptr<curl_slist, SlistDeleter> headers(list);
    char error[CURL_ERROR_SIZE] = {};

    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_USERAGENT, "LatentChat/0.1 (libcurl)");
    // The hub sends file bytes from a CDN through a redirect. curl does not carry our
    // Authorization header to another host, so the token stays with the hub.
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, request.connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, request.stall_timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // worker threads: no SIGALRM for DNS timeouts
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    if (post_body) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body->data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(post_body->size()));
    }
    std::string range;
    if (request.range_from >= 0) {
        range = std::to_string(request.range_from) + "-";
        curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
    }

    const CURLcode rc = perform(c, t);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.reply.status);
    t.reply.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
    if (rc != CURLE_OK && !t.reply.cancelled) {
        if (t.stalled)
            t.reply.transport_error =
                "nothing received for " + std::to_string(request.stall_timeout_s) + " s";
        else if (t.too_large)
            t.reply.transport_error = "the reply is larger than expected";
        else
            t.reply.transport_error = error[0] ? error : curl_easy_strerror(rc);
    }
    return t.reply;
}

}  // namespace

HttpReply http_get(const HttpRequest& request, const BodySink& sink) {
    return transfer(request, nullptr, sink);
}

HttpReply http_post(const HttpRequest& request, const std::string& body, const BodySink& sink) {
    return transfer(request, &body, sink);
}

std::string url_encode(const std::string& text, bool keep_slash) {
    static const char* digits = "0123456789ABCDEF";
    std::string out;
    for (unsigned char ch : text) {
        if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' ||
            (keep_slash && ch == '/')) {
            out += static_cast<char>(ch);
        } else {
            out += '%';
            out += digits[ch >> 4];
            out += digits[ch & 15];
        }
    }
    return out;
}

std::string http_status_words(long status) {
    switch (status) {
        case 400:
            return "400 Bad Request";
        case 401:
            return "401 Unauthorized";
        case 403:
            return "403 Forbidden";
        case 404:
            return "404 Not Found";
        case 413:
            return "413 Payload Too Large";
        case 416:
            return "416 Range Not Satisfiable";
        case 422:
            return "422 Unprocessable Entity";
        case 429:
            return "429 Too Many Requests";
        case 500:
            return "500 Internal Server Error";
        case 502:
            return "502 Bad Gateway";
        case 503:
            return "503 Service Unavailable";
        case 504:
            return "504 Gateway Timeout";
        default:
            return std::to_string(status);
    }
}

}  // namespace lc::hub
