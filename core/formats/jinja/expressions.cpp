// The expression rules of the parser (see parser_impl.h): jinja2's precedence, from the inline
// if down to literals, with filters, tests, calls and subscripts.
#include "formats/jinja/builtins.h"
#include "formats/jinja/parser_impl.h"

namespace lc::jinja {

bool Parser::tuple_end(std::initializer_list<const char*> extra_end) const {
    if (cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || is_op(")")) return true;
    for (const char* e : extra_end)
        if (is_name(e)) return true;
    return false;
}

NodePtr Parser::parse_tuple(bool with_condexpr, std::initializer_list<const char*> extra_end,
                            bool explicit_parentheses) {
    const int line = cur().line;
    std::vector<NodePtr> items;
    bool is_tuple = false;
    while (true) {
        if (!items.empty()) expect_op(",");
        if (tuple_end(extra_end)) break;
        items.push_back(parse_expression(with_condexpr));
        if (!is_op(",")) break;
        is_tuple = true;
    }
    if (!is_tuple) {
        if (!items.empty()) return std::move(items[0]);
        if (!explicit_parentheses) fail("expected an expression, got '" + what(cur()) + "'");
    }
    NodePtr n = std::make_unique<Node>(NodeKind::TupleLit, line);
    n->items = std::move(items);
    return done(std::move(n));
}

NodePtr Parser::parse_expression(bool with_condexpr) {
    Nest nest(*this);
    if (!with_condexpr) return parse_or();
    NodePtr expr = parse_or();
    while (skip_name("if")) {
        NodePtr n = node(NodeKind::CondExpr);
        n->a = std::move(expr);
        n->b = parse_or();
        if (skip_name("else")) n->c = parse_expression(true);
        expr = done(std::move(n));
    }
    return expr;
}

NodePtr Parser::binary(NodeKind kind, NodePtr left, NodePtr right, std::string op) {
    NodePtr n = node(kind);
    n->a = std::move(left);
    n->b = std::move(right);
    n->name = std::move(op);
    return done(std::move(n));
}

NodePtr Parser::parse_or() {
    NodePtr left = parse_and();
    while (skip_name("or"))
        left = binary(NodeKind::Or, std::move(left), parse_and());
    return left;
}

NodePtr Parser::parse_and() {
    NodePtr left = parse_not();
    while (skip_name("and"))
        left = binary(NodeKind::And, std::move(left), parse_not());
    return left;
}

NodePtr Parser::parse_not() {
    if (is_name("not")) {
        Nest nest(*this);
        NodePtr n = node(NodeKind::Not);
        next();
        n->a = parse_not();
        return done(std::move(n));
    }
    return parse_compare();
}

NodePtr Parser::parse_compare() {
    NodePtr first = parse_math1();
    NodePtr n;
    while (true) {
        std::string op;
        if (cur().type == Tok::Op &&
            (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" ||
             cur().text == ">" || cur().text == ">=")) {
            op = cur().text;
            next();
        } else if (is_name("in")) {
            op = "in";
            next();
        } else if (is_name("not") && peek().type == Tok::Name && peek().text == "in") {
            op = "notin";
            next();
            next();
        } else {
            break;
        }
        if (!n) {
            n = node(NodeKind::Compare);
            n->items.push_back(std::move(first));
        }
        n->ops.push_back(op);
        n->items.push_back(parse_math1());
    }
    return n ? done(std::move(n)) : std::move(first);
}

NodePtr Parser::parse_math1() {
    NodePtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
        std::string op = cur().text;
        next();
        left = binary(NodeKind::BinOp, std::move(left), parse_concat(), op);
    }
    return left;
}

NodePtr Parser::parse_concat() {
    NodePtr left = parse_math2();
    while (skip_op("~"))
        left = binary(NodeKind::BinOp, std::move(left), parse_math2(), "~");
    return left;
}

NodePtr Parser::parse_math2() {
    NodePtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
        std::string op = cur().text;
        next();
        left = binary(NodeKind::BinOp, std::move(left), parse_pow(), op);
    }
    return left;
}

NodePtr Parser::parse_pow() {
    NodePtr left = parse_unary(true);
    while (skip_op("**"))
        left = binary(NodeKind::BinOp, std::move(left), parse_unary(true), "**");
    return left;
}

NodePtr Parser::parse_unary(bool with_filter) {
    Nest nest(*this);
    NodePtr n;
    if (is_op("-") || is_op("+")) {
        n = node(is_op("-") ? NodeKind::Neg : NodeKind::Pos);
        next();
        n->a = parse_unary(false);
        n = done(std::move(n));
    } else {
        n = parse_primary();
    }
    n = parse_postfix(std::move(n));
    if (with_filter) n = parse_filter_expr(std::move(n));
    return n;
}

NodePtr Parser::parse_primary() {
    const Token& t = cur();
    NodePtr n;
    if (t.type == Tok::Name) {
        n = node(NodeKind::Const);
        if (t.text == "true" || t.text == "True") {
            n->value = Value(true);
        } else if (t.text == "false" || t.text == "False") {
            n->value = Value(false);
        } else if (t.text == "none" || t.text == "None") {
            n->value = Value::none();
        } else {
            n->kind = NodeKind::Name;
            n->name = t.text;
            if (!names_.empty()) names_.back().push_back(t.text);
        }
        next();
    } else if (t.type == Tok::String) {
        n = node(NodeKind::Const);
        std::string s;
        while (cur().type == Tok::String) {  // adjacent literals join, as in Python
            s += cur().text;
            next();
        }
        n->value = Value(std::move(s));
    } else if (t.type == Tok::Int || t.type == Tok::Float) {
        n = node(NodeKind::Const);
        n->value = t.type == Tok::Int ? Value(t.int_value) : Value(t.float_value);
        next();
    } else if (is_op("(")) {
        next();
        n = parse_tuple(true, {}, true);
        expect_op(")");
    } else if (is_op("[")) {
        n = node(NodeKind::ListLit);
        next();
        while (!is_op("]")) {
            if (!n->items.empty()) expect_op(",");
            if (is_op("]")) break;
            n->items.push_back(parse_expression(true));
        }
        next();
        n = done(std::move(n));
    } else if (is_op("{")) {
        n = node(NodeKind::DictLit);
        next();
        while (!is_op("}")) {
            if (!n->items.empty()) expect_op(",");
            if (is_op("}")) break;
            n->items.push_back(parse_expression(true));
            expect_op(":");
            n->items.push_back(parse_expression(true));
        }
        next();
        n = done(std::move(n));
    } else {
        fail("unexpected '" + what(t) + "'");
    }
    return n;
}

NodePtr Parser::parse_postfix(NodePtr n) {
    while (true) {
        if (is_op(".") || is_op("[")) {
            n = parse_subscript(std::move(n));
        } else if (is_op("(")) {
            n = parse_call(std::move(n));
        } else {
            return n;
        }
    }
}

NodePtr Parser::parse_filter_expr(NodePtr n) {
    while (true) {
        if (is_op("|")) {
            n = parse_filter_chain(std::move(n));
        } else if (is_name("is")) {
            n = parse_test(std::move(n));
        } else if (is_op("(")) {
            n = parse_call(std::move(n));
        } else {
            return n;
        }
    }
}

NodePtr Parser::parse_subscript(NodePtr subject) {
    if (skip_op(".")) {
        if (cur().type == Tok::Name) {
            NodePtr n = node(NodeKind::Getattr);
            n->name = cur().text;
            next();
            n->a = std::move(subject);
            return done(std::move(n));
        }
        if (cur().type != Tok::Int) fail("expected name or number");
        NodePtr n = node(NodeKind::Getitem);
        n->b = node(NodeKind::Const);
        n->b->value = Value(cur().int_value);
        next();
        n->a = std::move(subject);
        return done(std::move(n));
    }
    NodePtr n = node(NodeKind::Getitem);
    next();  // [
    std::vector<NodePtr> args;
    while (!is_op("]")) {
        if (!args.empty()) expect_op(",");
        args.push_back(parse_subscribed());
    }
    next();
    if (args.empty()) fail("expected subscript expression");
    n->a = std::move(subject);
    if (args.size() == 1) {
        n->b = std::move(args[0]);
    } else {
        n->b = node(NodeKind::TupleLit);
        n->b->items = std::move(args);
        n->b = done(std::move(n->b));
    }
    return done(std::move(n));
}

NodePtr Parser::parse_subscribed() {
    NodePtr start;
    if (!is_op(":")) {
        start = parse_expression(true);
        if (!is_op(":")) return start;
    }
    NodePtr n = node(NodeKind::Slice);
    next();  // :
    n->a = std::move(start);
    if (!is_op(":") && !is_op("]") && !is_op(",")) n->b = parse_expression(true);
    if (skip_op(":") && !is_op("]") && !is_op(",")) n->c = parse_expression(true);
    return done(std::move(n));
}

// ( args ) into n's items, kwargs, star_args, star_kwargs.
void Parser::parse_call_args(Node& n) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
        if (!first) {
            expect_op(",");
            if (is_op(")")) break;
        }
        first = false;
        if (skip_op("**")) {
            n.star_kwargs = parse_expression(true);
        } else if (skip_op("*")) {
            n.star_args = parse_expression(true);
        } else if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "=") {
            std::string key = cur().text;
            next();
            next();
            n.kwargs.emplace_back(std::move(key), parse_expression(true));
        } else {
            if (!n.kwargs.empty() || n.star_args || n.star_kwargs)
                fail("invalid syntax for function call expression");
            n.items.push_back(parse_expression(true));
        }
    }
    next();
}

NodePtr Parser::parse_call(NodePtr callee) {
    NodePtr n = node(NodeKind::Call);
    n->a = std::move(callee);
    parse_call_args(*n);
    return done(std::move(n));
}

// | name(args) | name2 ... applied to `subject` (null: the value given when it runs).
NodePtr Parser::parse_filter_chain(NodePtr subject) {
    bool first = true;
    while (first || is_op("|")) {
        if (is_op("|")) next();
        first = false;
        NodePtr n = node(NodeKind::Filter);
        n->name = expect_name();
        while (skip_op(".")) {
            n->name += '.';
            n->name += expect_name();
        }
        if (is_op("(")) parse_call_args(*n);
        n->a = std::move(subject);
        subject = done(std::move(n));
    }
    return subject;
}

NodePtr Parser::parse_test(NodePtr subject) {
    next();  // is
    const bool negated = skip_name("not");
    NodePtr n = node(NodeKind::Test);
    n->name = expect_name();
    while (skip_op(".")) {
        n->name += '.';
        n->name += expect_name();
    }
    if (is_op("(")) {
        parse_call_args(*n);
    } else if ((cur().type == Tok::Name || cur().type == Tok::String || cur().type == Tok::Int ||
                cur().type == Tok::Float || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
        if (is_name("is")) fail("you cannot chain multiple tests with is");
        n->items.push_back(parse_postfix(parse_primary()));
    }
    n->a = std::move(subject);
    n = done(std::move(n));
    if (!negated) return n;
    NodePtr neg = node(NodeKind::Not);
    neg->a = std::move(n);
    return done(std::move(neg));
}

}  // namespace lc::jinja
