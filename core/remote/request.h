#pragma once
// What the remote client's calls share (private to core/remote): the request with its headers
// and timeouts, and the sentence a failed transfer or an error status becomes.
#include <atomic>
#include <string>

#include "hub/http.h"
#include "remote/openai_client.h"

namespace lc::remote {

hub::HttpRequest make_request(const RemoteOptions& options, const std::string& url,
                              const std::atomic<bool>* cancel);

// The server's own words from an error body: OpenAI's {"error": {"message"}}, vLLM's
// {"object": "error", "message"}, FastAPI's {"detail"}, else the text itself (cut short).
std::string server_message(const std::string& body);

// Throws the lc::Error for a reply that failed on the way (transport_error) or has a status
// other than 2xx; returns when neither.
void check_reply(const std::string& url, const hub::HttpReply& reply);

}  // namespace lc::remote
