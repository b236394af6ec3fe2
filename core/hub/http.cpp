#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
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
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
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

}  // namespace

HttpReply http_get(const HttpRequest& request, const BodySink& sink) {
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
    std::string range;
    if (request.range_from >= 0) {
        range = std::to_string(request.range_from) + "-";
        curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
    }

    const CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.reply.status);
    if (rc != CURLE_OK && !t.reply.cancelled) {
        if (t.too_large)
            t.reply.transport_error = "the reply is larger than expected";
        else
            t.reply.transport_error = error[0] ? error : curl_easy_strerror(rc);
    }
    return t.reply;
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

}  // namespace lc::hub
