#pragma once
// An error the server answers with: OpenAI's JSON error shape
// {"error": {"message", "type", "param", "code"}} and the HTTP status it goes with. It is an
// lc::Error, so its message is the sentence the client reads.
#include <string>

#include "base/error.h"

namespace lc::server {

class ApiError : public Error {
public:
    ApiError(int status, std::string type, const std::string& message, std::string param = {},
             std::string code = {})
        : Error(message),
          status_(status),
          type_(std::move(type)),
          param_(std::move(param)),
          code_(std::move(code)) {}

    int status() const { return status_; }
    const std::string& type() const { return type_; }
    const std::string& param() const { return param_; }  // the request field at fault, or empty
    const std::string& code() const { return code_; }    // a machine-readable reason, or empty

    // 400: the body is no JSON, or a field is missing, of the wrong type or out of range.
    static ApiError invalid(const std::string& message, const std::string& param = {}) {
        return ApiError(400, "invalid_request_error", message, param);
    }

private:
    int status_;
    std::string type_;
    std::string param_;
    std::string code_;
};

}  // namespace lc::server
