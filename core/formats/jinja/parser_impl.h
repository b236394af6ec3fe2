#pragma once
// The parser's state and rules (see parser.h), shared by parser.cpp (statements) and
// expressions.cpp (expressions); internal to formats/jinja.
#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

#include "formats/jinja/ast.h"
#include "formats/jinja/lexer.h"
#include "formats/jinja/parser.h"

namespace lc::jinja {

class Parser {
public:
    explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

    std::vector<NodePtr> run() {
        std::vector<NodePtr> body = subparse({});
        if (cur().type != Tok::Eof) fail("unexpected '" + cur().text + "'");
        for (const NodePtr& n : body)
            check_names(*n, false);
        return body;
    }

private:
    // Nesting of expressions and blocks, bounded so that a hostile template cannot overflow
    // the stack here or in the interpreter.
    struct Nest {
        explicit Nest(Parser& p) : p_(p) {
            if (++p_.nesting_ > kMaxNesting)
                p_.fail("the template nests deeper than " + std::to_string(kMaxNesting) +
                        " levels");
        }
        ~Nest() { --p_.nesting_; }
        Parser& p_;
    };

    const Token& cur() const { return t_[pos_]; }
    const Token& peek(size_t n = 1) const { return t_[std::min(pos_ + n, t_.size() - 1)]; }
    void next() {
        if (pos_ + 1 < t_.size()) ++pos_;
    }
    bool is_op(const char* op) const { return cur().type == Tok::Op && cur().text == op; }
    bool is_name(const char* name) const { return cur().type == Tok::Name && cur().text == name; }
    bool skip_op(const char* op) {
        if (!is_op(op)) return false;
        next();
        return true;
    }
    bool skip_name(const char* name) {
        if (!is_name(name)) return false;
        next();
        return true;
    }

    [[noreturn]] void fail(const std::string& message) const {
        throw TemplateError("line " + std::to_string(cur().line) + ": " + message);
    }
    std::string what(const Token& t) const;  // for messages: "end of template", "+", ...
    void expect_op(const char* op) {
        if (!skip_op(op)) fail(std::string("expected '") + op + "', got '" + what(cur()) + "'");
    }
    void expect(Tok type, const char* name) {
        if (cur().type != type)
            fail(std::string("expected '") + name + "', got '" + what(cur()) + "'");
        next();
    }
    std::string expect_name() {
        if (cur().type != Tok::Name) fail("expected a name, got '" + what(cur()) + "'");
        std::string n = cur().text;
        next();
        return n;
    }

    NodePtr node(NodeKind k) { return std::make_unique<Node>(k, cur().line); }

    // Sets n's depth from its children; chains like a+b+c+... count too.
    NodePtr done(NodePtr n) {
        int d = 0;
        auto see = [&](const NodePtr& c) {
            if (c) d = std::max(d, c->depth);
        };
        see(n->a);
        see(n->b);
        see(n->c);
        see(n->star_args);
        see(n->star_kwargs);
        for (const auto& c : n->items)
            see(c);
        for (const auto& kw : n->kwargs)
            see(kw.second);
        n->depth = d + 1;
        if (n->depth > kMaxNesting)
            fail("the template nests deeper than " + std::to_string(kMaxNesting) + " levels");
        return n;
    }

    // statements (parser.cpp)
    void check_names(const Node& n, bool soft) const;
    std::vector<NodePtr> subparse(std::initializer_list<const char*> end_tags);
    std::vector<NodePtr> statements(std::initializer_list<const char*> end_tags);
    std::vector<NodePtr> block_until(const char* end_tag);
    NodePtr parse_statement();
    NodePtr parse_if();
    NodePtr parse_for();
    NodePtr parse_set();
    void parse_signature(Node& n);
    NodePtr parse_macro();
    NodePtr parse_call_block();
    NodePtr parse_with();
    NodePtr parse_assign_target(bool with_namespace, std::initializer_list<const char*> extra_end);
    NodePtr parse_tuple_of_names(std::initializer_list<const char*> extra_end);
    void check_target(const Node& n);
    bool closes_names(const char* name);

    // expressions (expressions.cpp)
    bool tuple_end(std::initializer_list<const char*> extra_end) const;
    NodePtr parse_tuple(bool with_condexpr, std::initializer_list<const char*> extra_end,
                        bool explicit_parentheses);
    NodePtr parse_expression(bool with_condexpr);
    NodePtr binary(NodeKind kind, NodePtr left, NodePtr right, std::string op = {});
    NodePtr parse_or();
    NodePtr parse_and();
    NodePtr parse_not();
    NodePtr parse_compare();
    NodePtr parse_math1();
    NodePtr parse_concat();
    NodePtr parse_math2();
    NodePtr parse_pow();
    NodePtr parse_unary(bool with_filter);
    NodePtr parse_primary();
    NodePtr parse_postfix(NodePtr n);
    NodePtr parse_filter_expr(NodePtr n);
    NodePtr parse_subscript(NodePtr subject);
    NodePtr parse_subscribed();
    void parse_call_args(Node& n);
    NodePtr parse_call(NodePtr callee);
    NodePtr parse_filter_chain(NodePtr subject);
    NodePtr parse_test(NodePtr subject);

    const std::vector<Token>& t_;
    size_t pos_ = 0;
    int nesting_ = 0;
    int loops_ = 0;
    std::vector<std::string> open_tags_;
    std::vector<std::vector<std::string>> names_;  // names read in each open macro and loop
};

}  // namespace lc::jinja
