// Tokens to statements (see parser.h): jinja2's Parser, rule for rule, for the tags transformers'
// environment knows (loopcontrols and {% generation %} included).
#include "formats/jinja/parser.h"

#include <algorithm>
#include <initializer_list>

#include "formats/jinja/builtins.h"
#include "formats/jinja/parser_impl.h"

namespace lc::jinja {

namespace {

const char* describe(const Token& t) {
    switch (t.type) {
        case Tok::Data:
            return "template data";
        case Tok::VarBegin:
            return "begin of print statement";
        case Tok::VarEnd:
            return "end of print statement";
        case Tok::BlockBegin:
            return "begin of statement block";
        case Tok::BlockEnd:
            return "end of statement block";
        case Tok::String:
            return "string";
        case Tok::Int:
            return "integer";
        case Tok::Float:
            return "float";
        case Tok::Eof:
            return "end of template";
        default:
            return nullptr;  // a name or operator: shown as written
    }
}

}  // namespace

std::string Parser::what(const Token& t) const {
    const char* d = describe(t);
    return d ? d : t.text;
}

std::vector<NodePtr> Parser::subparse(std::initializer_list<const char*> end_tags) {
    std::vector<NodePtr> body;
    while (cur().type != Tok::Eof) {
        if (cur().type == Tok::Data) {
            NodePtr n = node(NodeKind::Output);
            n->name = cur().text;
            body.push_back(std::move(n));
            next();
        } else if (cur().type == Tok::VarBegin) {
            next();
            NodePtr n = node(NodeKind::Print);
            n->a = parse_tuple(true, {}, false);
            expect(Tok::VarEnd, "}}");
            body.push_back(std::move(n));
        } else if (cur().type == Tok::BlockBegin) {
            next();
            for (const char* tag : end_tags)
                if (is_name(tag)) return body;
            body.push_back(parse_statement());
            expect(Tok::BlockEnd, "%}");
        } else {
            fail("unexpected '" + what(cur()) + "'");
        }
    }
    if (end_tags.size() > 0) {
        std::string want;
        for (const char* tag : end_tags)
            want += std::string(want.empty() ? "" : " or ") + "'" + tag + "'";
        fail("unexpected end of template: looking for " + want + " to close '" + open_tags_.back() +
             "'");
    }
    return body;
}

// A block's body up to one of `end_tags` (the end tag is left current).
std::vector<NodePtr> Parser::statements(std::initializer_list<const char*> end_tags) {
    skip_op(":");
    expect(Tok::BlockEnd, "%}");
    return subparse(end_tags);
}

// ... and the end tag consumed.
std::vector<NodePtr> Parser::block_until(const char* end_tag) {
    std::vector<NodePtr> body = statements({end_tag});
    next();
    return body;
}

NodePtr Parser::parse_statement() {
    Nest nest(*this);
    if (cur().type != Tok::Name) fail("tag name expected");
    const std::string tag = cur().text;
    open_tags_.push_back(tag);
    NodePtr n;
    if (tag == "if") {
        n = parse_if();
    } else if (tag == "for") {
        n = parse_for();
    } else if (tag == "set") {
        n = parse_set();
    } else if (tag == "macro") {
        n = parse_macro();
    } else if (tag == "call") {
        n = parse_call_block();
    } else if (tag == "filter") {
        n = node(NodeKind::FilterBlock);
        next();
        n->b = parse_filter_chain(nullptr);
        n->body = block_until("endfilter");
    } else if (tag == "with") {
        n = parse_with();
    } else if (tag == "break" || tag == "continue") {
        if (loops_ == 0) fail("'" + tag + "' outside of a loop");
        n = node(tag == "break" ? NodeKind::Break : NodeKind::Continue);
        next();
    } else if (tag == "generation" || tag == "block") {
        n = node(NodeKind::Scope);
        next();
        if (tag == "block") expect_name();
        n->body = block_until(tag == "block" ? "endblock" : "endgeneration");
        if (tag == "block" && cur().type == Tok::Name) next();
    } else if (tag == "include" || tag == "import" || tag == "from" || tag == "extends") {
        fail("'" + tag + "' is not supported: a chat template is one file");
    } else {
        fail("encountered unknown tag '" + tag + "'");
    }
    open_tags_.pop_back();
    return n;
}

NodePtr Parser::parse_if() {
    NodePtr n = node(NodeKind::If);
    next();
    n->a = parse_tuple(false, {}, false);
    n->body = statements({"elif", "else", "endif"});
    if (is_name("elif")) {
        n->else_body.push_back(parse_if());  // the elif consumes the endif
        return n;
    }
    if (skip_name("else")) n->else_body = statements({"endif"});
    next();  // endif
    return n;
}

NodePtr Parser::parse_for() {
    NodePtr n = node(NodeKind::For);
    next();
    n->target = parse_assign_target(false, {"in"});
    if (!skip_name("in")) fail("expected 'in', got '" + what(cur()) + "'");
    n->a = parse_tuple(false, {"recursive"}, false);
    if (skip_name("if")) n->b = parse_expression(true);
    if (is_name("recursive")) fail("recursive loops are not supported");
    ++loops_;
    names_.emplace_back();
    n->body = statements({"endfor", "else"});
    n->uses_loop = closes_names("loop");
    --loops_;
    if (skip_name("else")) {
        n->else_body = statements({"endfor"});
    }
    next();  // endfor
    return n;
}

NodePtr Parser::parse_set() {
    const int line = cur().line;
    next();
    NodePtr target = parse_assign_target(true, {});
    if (skip_op("=")) {
        NodePtr n = std::make_unique<Node>(NodeKind::Set, line);
        n->target = std::move(target);
        n->a = parse_tuple(true, {}, false);
        return n;
    }
    NodePtr n = std::make_unique<Node>(NodeKind::SetBlock, line);
    n->target = std::move(target);
    if (is_op("|")) n->b = parse_filter_chain(nullptr);
    n->body = block_until("endset");
    return n;
}

void Parser::parse_signature(Node& n) {
    expect_op("(");
    while (!is_op(")")) {
        if (!n.params.empty()) expect_op(",");
        n.params.push_back(expect_name());
        if (skip_op("=")) {
            n.defaults.push_back(parse_expression(true));
        } else if (!n.defaults.empty()) {
            fail("non-default argument follows default argument");
        }
    }
    next();
}

NodePtr Parser::parse_macro() {
    NodePtr n = node(NodeKind::Macro);
    next();
    n->name = expect_name();
    parse_signature(*n);
    names_.emplace_back();
    const int loops = loops_;
    loops_ = 0;  // a loop outside the macro is not one to break from
    n->body = block_until("endmacro");
    loops_ = loops;
    const auto& used = names_.back();
    n->catch_varargs = std::find(used.begin(), used.end(), "varargs") != used.end();
    n->catch_kwargs = closes_names("kwargs");
    return n;
}

NodePtr Parser::parse_call_block() {
    NodePtr n = node(NodeKind::CallBlock);
    next();
    if (is_op("(")) parse_signature(*n);
    n->a = parse_expression(true);
    if (n->a->kind != NodeKind::Call) fail("expected call");
    names_.emplace_back();
    n->body = block_until("endcall");
    closes_names("");
    return n;
}

NodePtr Parser::parse_with() {
    NodePtr n = node(NodeKind::With);
    next();
    while (cur().type != Tok::BlockEnd) {
        if (!n->params.empty()) expect_op(",");
        n->params.push_back(expect_name());
        expect_op("=");
        n->items.push_back(parse_expression(true));
    }
    n->body = block_until("endwith");
    return n;
}

// A name, `ns.attr` (with_namespace) or a tuple of names.
NodePtr Parser::parse_assign_target(bool with_namespace,
                                    std::initializer_list<const char*> extra_end) {
    if (with_namespace && cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "." &&
        peek(2).type == Tok::Name) {
        NodePtr n = node(NodeKind::Getattr);
        NodePtr base = node(NodeKind::Name);
        base->name = cur().text;
        next();
        next();
        n->name = expect_name();
        n->a = std::move(base);
        return n;
    }
    NodePtr target = parse_tuple_of_names(extra_end);
    check_target(*target);
    return target;
}

NodePtr Parser::parse_tuple_of_names(std::initializer_list<const char*> extra_end) {
    const int line = cur().line;
    std::vector<NodePtr> items;
    bool is_tuple = false;
    while (true) {
        if (!items.empty()) expect_op(",");
        if (tuple_end(extra_end)) break;
        items.push_back(parse_primary());
        if (!is_op(",")) break;
        is_tuple = true;
    }
    if (!is_tuple) {
        if (items.empty()) fail("expected an expression, got '" + what(cur()) + "'");
        return std::move(items[0]);
    }
    NodePtr n = std::make_unique<Node>(NodeKind::TupleLit, line);
    n->items = std::move(items);
    return n;
}

void Parser::check_target(const Node& n) {
    if (n.kind == NodeKind::Name) return;
    if (n.kind == NodeKind::TupleLit) {
        for (const auto& item : n.items)
            check_target(*item);
        return;
    }
    fail("can't assign to this expression");
}

// Ends the innermost name scope (a macro, call or loop body), its names joining the one
// around it; whether `name` was among them.
bool Parser::closes_names(const char* name) {
    std::vector<std::string> used = std::move(names_.back());
    names_.pop_back();
    const bool found = std::find(used.begin(), used.end(), name) != used.end();
    if (!names_.empty()) names_.back().insert(names_.back().end(), used.begin(), used.end());
    return found;
}

// Unknown filters and tests are errors, as when jinja2 compiles the template; except where
// jinja2's compiler is in a "soft" frame (an if's test and branches, an inline if), where they
// are errors only if they run. Loops, macros and blocks start a frame of their own.
void Parser::check_names(const Node& n, bool soft) const {
    if (!soft && ((n.kind == NodeKind::Filter && !has_filter(n.name)) ||
                  (n.kind == NodeKind::Test && !has_test(n.name))))
        throw TemplateError("line " + std::to_string(n.line) + ": no " +
                            (n.kind == NodeKind::Filter ? "filter" : "test") + " named '" + n.name +
                            "'");
    const bool inner_soft = soft || n.kind == NodeKind::If || n.kind == NodeKind::CondExpr;
    const bool own_frame = n.kind == NodeKind::For || n.kind == NodeKind::Macro ||
                           n.kind == NodeKind::CallBlock || n.kind == NodeKind::FilterBlock ||
                           n.kind == NodeKind::SetBlock || n.kind == NodeKind::With ||
                           n.kind == NodeKind::Scope;
    auto see = [&](const NodePtr& c, bool s) {
        if (c) check_names(*c, s);
    };
    // What a frame of its own evaluates in the frame around it.
    see(n.a, n.kind == NodeKind::For || n.kind == NodeKind::CallBlock ? soft : inner_soft);
    see(n.b, own_frame ? false : inner_soft);
    see(n.c, inner_soft);
    see(n.star_args, inner_soft);
    see(n.star_kwargs, inner_soft);
    see(n.target, inner_soft);
    for (const NodePtr& c : n.items)
        see(c, n.kind == NodeKind::With ? soft : inner_soft);
    for (const auto& kw : n.kwargs)
        see(kw.second, inner_soft);
    for (const NodePtr& c : n.defaults)
        see(c, false);
    for (const NodePtr& c : n.body)
        see(c, own_frame ? false : inner_soft);
    for (const NodePtr& c : n.else_body)
        see(c, own_frame ? false : inner_soft);
}

std::vector<NodePtr> parse(const std::vector<Token>& tokens) {
    return Parser(tokens).run();
}

}  // namespace lc::jinja
