#pragma once
// Runs a parsed template: scopes as jinja2 has them (a loop body and a macro get their own, an
// if does not), macros, loops with `loop`, and the limits that keep a hostile template from
// hanging or exhausting memory.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "formats/jinja/ast.h"
#include "formats/jinja/value.h"

namespace lc::jinja {

struct Limits {
    size_t max_output_bytes = size_t{16}
                              << 20;  // the rendered text, and any string made on the way
    int max_call_depth = 64;          // macros calling macros (recursion)
    uint64_t max_steps = 5'000'000;   // expressions evaluated and loop turns
};

class Interpreter {
public:
    explicit Interpreter(const Limits& limits) : limits_(limits) {}
    ~Interpreter();
    Interpreter(const Interpreter&) = delete;
    Interpreter& operator=(const Interpreter&) = delete;

    // The template's text for `variables` (besides the globals). Throws TemplateError
    // ("line N: ...", or the template's own message for raise_exception).
    std::string render(const std::vector<NodePtr>& body, const Dict& variables);

    // For builtins: calls a callable value; counts work against the limits.
    Value call(const Value& fn, CallArgs& args);
    void step();
    const Limits& limits() const { return limits_; }
    // namespace(): remembered, so that cycles through them are broken when the render ends.
    Value make_namespace(Dict attrs);

private:
    struct Scope {
        explicit Scope(std::shared_ptr<Scope> p) : parent(std::move(p)) {}
        std::unordered_map<std::string, Value> vars;
        std::shared_ptr<Scope> parent;
    };
    using ScopePtr = std::shared_ptr<Scope>;
    enum class Flow { Normal, Break, Continue };

    Flow exec(const std::vector<NodePtr>& body, std::string& out, const ScopePtr& scope);
    Flow exec(const Node& n, std::string& out, const ScopePtr& scope);
    void exec_for(const Node& n, std::string& out, const ScopePtr& scope);
    Value eval(const Node& n, const ScopePtr& scope);
    Value eval_call(const Node& n, const ScopePtr& scope);
    Value eval_filters(const Node& n, const Value* given, const ScopePtr& scope);
    CallArgs eval_args(const Node& n, const ScopePtr& scope);
    Value lookup(const std::string& name, const ScopePtr& scope) const;
    void assign(const Node& target, const Value& value, const ScopePtr& scope);
    Value make_macro(const Node& n, const ScopePtr& scope, const std::string& name);
    Value call_macro(const Node& m, const std::weak_ptr<Scope>& closure, CallArgs& args);
    void append_out(std::string& out, const std::string& text);

    Limits limits_;
    uint64_t steps_ = 0;
    int call_depth_ = 0;
    int line_ = 0;
    std::vector<Value> namespaces_;
};

}  // namespace lc::jinja
