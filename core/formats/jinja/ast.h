#pragma once
// The parsed template: one node type for expressions and statements, with the fields each kind
// uses (listed by kind below), so that the parser and the interpreter stay small.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "formats/jinja/value.h"

namespace lc::jinja {

enum class NodeKind {
    // expressions
    Const,     // value
    Name,      // name
    ListLit,   // items
    TupleLit,  // items
    DictLit,   // items: key, value, key, value...
    Getattr,   // a.name
    Getitem,   // a[b]
    Slice,     // a:b:c, each may be null (only as the b of Getitem)
    Call,      // a(items..., kwargs..., *star_args, **star_kwargs)
    Filter,    // a|name(items..., kwargs...); a is null in {% filter %} and {% set x | f %}
    Test,      // a is name(items..., kwargs...)
    Not,       // not a
    Neg,       // -a
    Pos,       // +a
    BinOp,     // a name b, name one of + - * / // % ** ~
    Compare,   // items[0] ops[0] items[1] ops[1] items[2] ...
    And,       // a and b
    Or,        // a or b
    CondExpr,  // a if b else c (c may be null)
    // statements
    Output,       // name: template text
    Print,        // {{ a }}
    If,           // if a: body, else_body (an elif is an If alone in else_body)
    For,          // for target in a [if b]: body, else_body
    Set,          // set target = a
    SetBlock,     // set target [| filter chain b] : body
    Macro,        // macro name(params, defaults for the last ones): body
    CallBlock,    // call(params, defaults) a: body, the `caller` of the macro a calls
    FilterBlock,  // filter b: body
    With,         // with params = items: body
    Break,
    Continue,
    Scope,  // body alone: {% generation %}, {% block %}
};

struct Node;
using NodePtr = std::unique_ptr<Node>;

struct Node {
    Node(NodeKind k, int l) : kind(k), line(l) {}

    NodeKind kind;
    int line;
    int depth = 1;  // of the expression tree below, bounded by the parser
    std::string name;
    Value value;
    NodePtr a, b, c;
    std::vector<NodePtr> items;
    std::vector<std::pair<std::string, NodePtr>> kwargs;
    NodePtr star_args, star_kwargs;
    std::vector<std::string> ops;
    std::vector<NodePtr> body, else_body;
    std::vector<std::string> params;
    std::vector<NodePtr> defaults;  // for the last params
    NodePtr target;                 // Name, TupleLit of targets, or Getattr on a namespace
    bool catch_varargs = false;     // a macro that reads `varargs` takes extra arguments
    bool catch_kwargs = false;      // ... and `kwargs` extra keywords
    bool uses_loop = true;          // a for loop whose body reads `loop`
};

}  // namespace lc::jinja
