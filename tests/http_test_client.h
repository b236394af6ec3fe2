#pragma once
// HTTP for the server tests: libcurl for what real clients send (whole and streamed requests,
// each on its own connection), and a raw loopback socket for what no client library would send
// (endless bodies, huge headers, a client that leaves mid-stream).
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

namespace lc_test {

struct HttpReply {
    CURLcode rc = CURLE_OK;
    long status = 0;
    std::string body;
    std::string content_type;
};

inline size_t append_bytes(char* data, size_t size, size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
}

// GET when `body` is null, else POST it. `headers` are whole lines ("Name: value").
inline HttpReply http_request(const std::string& url, const std::string* body,
                              const std::vector<std::string>& headers = {}, long timeout_s = 120) {
    HttpReply r;
    CURL* curl = curl_easy_init();
    curl_slist* list = nullptr;
    for (const std::string& h : headers)
        list = curl_slist_append(list, h.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_bytes);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    }
    r.rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    char* type = nullptr;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    if (type) r.content_type = type;
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return r;
}

inline HttpReply http_get(const std::string& url, const std::vector<std::string>& headers = {}) {
    return http_request(url, nullptr, headers);
}

inline HttpReply post_json(const std::string& url, const std::string& body,
                           std::vector<std::string> headers = {}) {
    headers.push_back("Content-Type: application/json");
    return http_request(url, &body, headers);
}

// The data of each server-sent event in a stream's body.
inline std::vector<std::string> sse_data(const std::string& body) {
    std::vector<std::string> out;
    size_t at = 0;
    for (size_t end; (end = body.find("\n\n", at)) != std::string::npos; at = end + 2) {
        const std::string event = body.substr(at, end - at);
        if (event.rfind("data: ", 0) == 0) out.push_back(event.substr(6));
    }
    return out;
}

// A plain TCP connection to 127.0.0.1:port.
class RawConnection {
public:
    explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    ~RawConnection() { close(); }
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;

    bool connected() const { return connected_; }
    // False once the server stopped taking bytes (it closed the connection).
    bool send(const std::string& bytes) {
        size_t sent = 0;
        while (sent < bytes.size()) {
            const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) return false;
            sent += static_cast<size_t>(n);
        }
        return true;
    }
    // Reads until `until` appears in what was read, the server closes, or the time is up.
    std::string read(const std::string& until, int timeout_ms) {
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (received_.find(until) == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  deadline - std::chrono::steady_clock::now())
                                  .count();
            if (left <= 0) break;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
            char buf[4096];
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                closed_by_peer_ = true;
                break;
            }
            received_.append(buf, static_cast<size_t>(n));
        }
        return received_;
    }
    bool closed_by_peer() const { return closed_by_peer_; }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_;
    bool connected_ = false;
    bool closed_by_peer_ = false;
    std::string received_;
};

// The status code of a raw response ("HTTP/1.1 413 ..."), 0 when there is none.
inline int raw_status(const std::string& response) {
    if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
    return std::stoi(response.substr(9, 3));
}

}  // namespace lc_test
