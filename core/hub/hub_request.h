#pragma once
// What every call to the hub shares: the request's headers and timeouts from HubOptions, the
// offline switch, and one sentence for a reply that is not a success. Private to core/hub.
#include <string>

#include "hub/http.h"
#include "hub/hub.h"

namespace lc::hub {

// A request to `url` with the token (Bearer) and the timeouts of `options`. Throws lc::Error
// naming HF_HUB_OFFLINE when `options.offline`, before anything is sent.
HttpRequest hub_request(const HubOptions& options, const std::string& url, const std::string& what);

// Throws lc::Error for a reply that failed: the network (naming the URL), 401/403 (a token is
// needed or was refused), 404 (`not_found`, the caller's sentence), any other status.
void throw_if_failed(const HubOptions& options, const HttpReply& reply, const std::string& url,
                     const std::string& not_found);

// "owner/name" or "name" as the hub spells repo ids; anything else is an lc::Error.
void check_repo_id(const std::string& repo);

}  // namespace lc::hub
