// Runs a parsed template (see interpreter.h). Scoping follows jinja2: each loop turn and each
// macro call gets a fresh scope whose parent is where it was written; `if` and `set` at the top
// share the template's scope; namespace() objects are the one thing a loop body can change
// outside itself.
#include "formats/jinja/interpreter.h"

#include "formats/jinja/builtins.h"

namespace lc::jinja {

namespace {

std::string line_prefix(int line) {
    return line > 0 ? "line " + std::to_string(line) + ": " : "";
}

}  // namespace

Interpreter::~Interpreter() {
    for (Value& ns : namespaces_)
        ns.namespace_attrs().entries.clear();
}

Value Interpreter::make_namespace(Dict attrs) {
    namespaces_.push_back(Value::name_space(std::move(attrs)));
    return namespaces_.back();
}

std::string Interpreter::render(const std::vector<NodePtr>& body, const Dict& variables) {
    auto globals = std::make_shared<Scope>(nullptr);
    Dict g;
    add_globals(g);
    for (auto& [k, v] : g.entries)
        globals->vars[k.str()] = v;
    auto context = std::make_shared<Scope>(globals);
    for (const auto& [k, v] : variables.entries)
        if (k.is_string()) context->vars[k.str()] = v;
    auto top = std::make_shared<Scope>(context);
    std::string out;
    try {
        exec(body, out, top);
    } catch (const TemplateError& e) {
        if (e.raised) throw;  // the template's own words
        throw TemplateError(line_prefix(line_) + e.what());
    }
    return out;
}

void Interpreter::step() {
    if (++steps_ > limits_.max_steps)
        throw TemplateError("the template did more than " + std::to_string(limits_.max_steps) +
                            " steps of work (an endless loop?)");
}

void check_size(Interpreter& in, size_t bytes) {
    if (bytes > in.limits().max_output_bytes)
        throw TemplateError("the template made more than " +
                            std::to_string(in.limits().max_output_bytes) + " bytes of text");
}

void Interpreter::append_out(std::string& out, const std::string& text) {
    out += text;
    check_size(*this, out.size());
}

Interpreter::Flow Interpreter::exec(const std::vector<NodePtr>& body, std::string& out,
                                    const ScopePtr& scope) {
    for (const NodePtr& n : body) {
        const Flow f = exec(*n, out, scope);
        if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
}

Interpreter::Flow Interpreter::exec(const Node& n, std::string& out, const ScopePtr& scope) {
    step();
    line_ = n.line;
    switch (n.kind) {
        case NodeKind::Output:
            append_out(out, n.name);
            return Flow::Normal;
        case NodeKind::Print:
            append_out(out, to_str(eval(*n.a, scope)));
            return Flow::Normal;
        case NodeKind::If:
            return exec(truthy(eval(*n.a, scope)) ? n.body : n.else_body, out, scope);
        case NodeKind::For:
            exec_for(n, out, scope);
            return Flow::Normal;
        case NodeKind::Set:
            assign(*n.target, eval(*n.a, scope), scope);
            return Flow::Normal;
        case NodeKind::SetBlock:
        case NodeKind::FilterBlock: {
            std::string text;
            exec(n.body, text, scope);
            Value v(std::move(text));
            if (n.b) v = eval_filters(*n.b, &v, scope);
            if (n.kind == NodeKind::SetBlock) {
                assign(*n.target, v, scope);
            } else {
                append_out(out, to_str(v));
            }
            return Flow::Normal;
        }
        case NodeKind::Macro:
            scope->vars[n.name] = make_macro(n, scope, n.name);
            return Flow::Normal;
        case NodeKind::CallBlock: {
            // The body becomes `caller`, passed to the macro the tag calls.
            CallArgs args = eval_args(*n.a, scope);
            args.kwargs.emplace_back("caller", make_macro(n, scope, "caller"));
            const Value fn = eval(*n.a->a, scope);
            append_out(out, to_str(call(fn, args)));
            return Flow::Normal;
        }
        case NodeKind::With: {
            auto inner = std::make_shared<Scope>(scope);
            for (size_t i = 0; i < n.params.size(); ++i)
                inner->vars[n.params[i]] = eval(*n.items[i], scope);
            exec(n.body, out, inner);
            return Flow::Normal;
        }
        case NodeKind::Break:
            return Flow::Break;
        case NodeKind::Continue:
            return Flow::Continue;
        case NodeKind::Scope:
            return exec(n.body, out, scope);
        default:
            throw TemplateError("not a statement");
    }
}

void Interpreter::exec_for(const Node& n, std::string& out, const ScopePtr& scope) {
    List all = iterate(eval(*n.a, scope));
    List items;
    if (n.b) {  // `for x in xs if cond`: the filter sees the target, not `loop`
        for (Value& item : all) {
            auto probe = std::make_shared<Scope>(scope);
            assign(*n.target, item, probe);
            if (truthy(eval(*n.b, probe))) items.push_back(std::move(item));
        }
    } else {
        items = std::move(all);
    }
    if (items.empty()) {
        exec(n.else_body, out, std::make_shared<Scope>(scope));
        return;
    }
    const auto length = static_cast<int64_t>(items.size());
    // loop.cycle() reads the turn it is called in.
    auto turn = std::make_shared<int64_t>(0);
    const Value cycle = Value::callable("cycle", [turn](Interpreter&, CallArgs& a) {
        if (a.args.empty()) throw TemplateError("no items for cycling given");
        return a.args[static_cast<size_t>(*turn) % a.args.size()];
    });
    for (int64_t i = 0; i < length; ++i) {
        step();
        *turn = i;
        auto inner = std::make_shared<Scope>(scope);
        assign(*n.target, items[static_cast<size_t>(i)], inner);
        if (!n.uses_loop) {
            if (exec(n.body, out, inner) == Flow::Break) break;
            continue;
        }
        Dict loop;
        loop.entries.reserve(13);
        auto add = [&](const char* key, Value v) {
            loop.entries.emplace_back(Value(key), std::move(v));
        };
        add("index", Value(i + 1));
        add("index0", Value(i));
        add("revindex", Value(length - i));
        add("revindex0", Value(length - i - 1));
        add("first", Value(i == 0));
        add("last", Value(i == length - 1));
        add("length", Value(length));
        add("depth", Value(1));
        add("depth0", Value(0));
        add("previtem", i > 0 ? items[static_cast<size_t>(i - 1)]
                              : Value::undefined("there is no previous item"));
        add("nextitem", i + 1 < length ? items[static_cast<size_t>(i + 1)]
                                       : Value::undefined("there is no next item"));
        add("cycle", cycle);
        inner->vars.emplace("loop", Value::dict(std::move(loop)));
        if (exec(n.body, out, inner) == Flow::Break) break;
    }
}

void Interpreter::assign(const Node& target, const Value& value, const ScopePtr& scope) {
    if (target.kind == NodeKind::Name) {
        scope->vars[target.name] = value;
        return;
    }
    if (target.kind == NodeKind::Getattr) {  // set ns.attr = value
        const Value base = lookup(target.a->name, scope);
        if (!base.is_namespace())
            throw TemplateError("cannot assign attribute on non-namespace object");
        base.namespace_attrs().set(Value(target.name), value);
        return;
    }
    // A tuple of targets takes the items of an iterable of the same length.
    const List items = iterate(value);
    if (items.size() != target.items.size())
        throw TemplateError(
            items.size() > target.items.size()
                ? "too many values to unpack (expected " + std::to_string(target.items.size()) + ")"
                : "not enough values to unpack (expected " + std::to_string(target.items.size()) +
                      ", got " + std::to_string(items.size()) + ")");
    for (size_t i = 0; i < items.size(); ++i)
        assign(*target.items[i], items[i], scope);
}

Value Interpreter::lookup(const std::string& name, const ScopePtr& scope) const {
    for (const Scope* s = scope.get(); s; s = s->parent.get()) {
        const auto it = s->vars.find(name);
        if (it != s->vars.end()) return it->second;
    }
    return Value::undefined("'" + name + "' is undefined");
}

Value Interpreter::make_macro(const Node& n, const ScopePtr& scope, const std::string& name) {
    // Weak: the scope holds the macro, so a strong pointer back would never be freed.
    const Node* m = &n;
    std::weak_ptr<Scope> closure = scope;
    return Value::callable(name, [m, closure](Interpreter& in, CallArgs& args) {
        return in.call_macro(*m, closure, args);
    });
}

Value Interpreter::call_macro(const Node& m, const std::weak_ptr<Scope>& closure_ref,
                              CallArgs& args) {
    struct Depth {
        explicit Depth(Interpreter& i) : in(i) {
            if (++in.call_depth_ > in.limits_.max_call_depth)
                throw TemplateError("macro calls nest deeper than " +
                                    std::to_string(in.limits_.max_call_depth) +
                                    " levels (endless recursion?)");
        }
        ~Depth() { --in.call_depth_; }
        Interpreter& in;
    } depth(*this);
    const std::string name = m.kind == NodeKind::Macro ? m.name : "caller";
    const ScopePtr closure = closure_ref.lock();
    if (!closure)
        throw TemplateError("macro '" + name + "' is called after the block that defined it ended");
    auto scope = std::make_shared<Scope>(closure);
    const size_t n = m.params.size();
    if (args.args.size() > n && !m.catch_varargs)
        throw TemplateError("macro '" + name + "' takes not more than " + std::to_string(n) +
                            " argument(s)");
    std::vector<bool> bound(n, false);
    for (size_t i = 0; i < n && i < args.args.size(); ++i) {
        scope->vars[m.params[i]] = args.args[i];
        bound[i] = true;
    }
    Dict extra_kwargs;
    for (auto& [key, value] : args.kwargs) {
        size_t i = 0;
        while (i < n && m.params[i] != key)
            ++i;
        if (i < n) {
            if (bound[i])
                throw TemplateError("macro '" + name + "' got multiple values for argument '" +
                                    key + "'");
            scope->vars[key] = value;
            bound[i] = true;
        } else if (key == "caller") {
            scope->vars["caller"] = value;
        } else if (m.catch_kwargs) {
            extra_kwargs.set(Value(key), value);
        } else {
            throw TemplateError("macro '" + name + "' takes no keyword argument '" + key + "'");
        }
    }
    const size_t first_default = n - m.defaults.size();
    for (size_t i = 0; i < n; ++i) {
        if (bound[i]) continue;
        scope->vars[m.params[i]] =
            i >= first_default
                ? eval(*m.defaults[i - first_default], scope)
                : Value::undefined("parameter '" + m.params[i] + "' was not provided");
    }
    List varargs;
    for (size_t i = n; i < args.args.size(); ++i)
        varargs.push_back(args.args[i]);
    scope->vars["varargs"] = Value::tuple(std::move(varargs));
    scope->vars["kwargs"] = Value::dict(std::move(extra_kwargs));
    std::string out;
    exec(m.body, out, scope);
    return Value(std::move(out));
}

Value Interpreter::call(const Value& fn, CallArgs& args) {
    step();
    if (fn.is_undefined()) fn.throw_undefined();
    if (!fn.is_callable()) throw TemplateError("'" + type_name(fn) + "' object is not callable");
    return fn.callable().fn(*this, args);
}

CallArgs Interpreter::eval_args(const Node& n, const ScopePtr& scope) {
    CallArgs args;
    for (const NodePtr& a : n.items)
        args.args.push_back(eval(*a, scope));
    if (n.star_args)
        for (Value& v : iterate(eval(*n.star_args, scope)))
            args.args.push_back(std::move(v));
    for (const auto& [key, expr] : n.kwargs)
        args.kwargs.emplace_back(key, eval(*expr, scope));
    if (n.star_kwargs) {
        const Value d = eval(*n.star_kwargs, scope);
        if (!d.is_dict()) throw TemplateError("argument after ** must be a mapping");
        for (const auto& [k, v] : d.dict().entries)
            args.kwargs.emplace_back(to_str(k), v);
    }
    return args;
}

Value Interpreter::eval_filters(const Node& n, const Value* given, const ScopePtr& scope) {
    const Value subject =
        n.a ? (n.a->kind == NodeKind::Filter ? eval_filters(*n.a, given, scope) : eval(*n.a, scope))
            : *given;
    line_ = n.line;
    CallArgs args = eval_args(n, scope);
    return apply_filter(*this, n.name, subject, args);
}

Value Interpreter::eval_call(const Node& n, const ScopePtr& scope) {
    const Value fn = eval(*n.a, scope);
    CallArgs args = eval_args(n, scope);
    line_ = n.line;
    return call(fn, args);
}

Value Interpreter::eval(const Node& n, const ScopePtr& scope) {
    step();
    line_ = n.line;
    switch (n.kind) {
        case NodeKind::Const:
            return n.value;
        case NodeKind::Name:
            return lookup(n.name, scope);
        case NodeKind::ListLit:
        case NodeKind::TupleLit: {
            List items;
            for (const NodePtr& item : n.items)
                items.push_back(eval(*item, scope));
            return n.kind == NodeKind::ListLit ? Value::list(std::move(items))
                                               : Value::tuple(std::move(items));
        }
        case NodeKind::DictLit: {
            Dict d;
            for (size_t i = 0; i + 1 < n.items.size(); i += 2) {
                Value key = eval(*n.items[i], scope);
                d.set(std::move(key), eval(*n.items[i + 1], scope));
            }
            return Value::dict(std::move(d));
        }
        case NodeKind::Getattr: {
            const Value obj = eval(*n.a, scope);
            if (obj.is_undefined()) obj.throw_undefined();
            return get_attribute(obj, n.name);
        }
        case NodeKind::Getitem: {
            const Value obj = eval(*n.a, scope);
            if (obj.is_undefined()) obj.throw_undefined();
            if (n.b->kind == NodeKind::Slice) {
                const Node& s = *n.b;
                const Value start = s.a ? eval(*s.a, scope) : Value::none();
                const Value stop = s.b ? eval(*s.b, scope) : Value::none();
                const Value stride = s.c ? eval(*s.c, scope) : Value::none();
                return get_slice(obj, &start, &stop, &stride);
            }
            return get_item(obj, eval(*n.b, scope));
        }
        case NodeKind::Call:
            return eval_call(n, scope);
        case NodeKind::Filter:
            return eval_filters(n, nullptr, scope);
        case NodeKind::Test: {
            const Value subject = eval(*n.a, scope);
            CallArgs args = eval_args(n, scope);
            line_ = n.line;
            return Value(apply_test(*this, n.name, subject, args));
        }
        case NodeKind::Not:
            return Value(!truthy(eval(*n.a, scope)));
        case NodeKind::Neg:
        case NodeKind::Pos: {
            const Value v = eval(*n.a, scope);
            if (v.is_undefined()) v.throw_undefined();
            if (!v.is_number())
                throw TemplateError(std::string("bad operand type for unary ") +
                                    (n.kind == NodeKind::Neg ? "-" : "+") + ": '" + type_name(v) +
                                    "'");
            if (n.kind == NodeKind::Pos) return v.is_bool() ? Value(v.as_int()) : v;
            if (v.is_int()) {
                if (v.as_int() == INT64_MIN) throw TemplateError("integer overflow");
                return Value(-v.as_int());
            }
            return Value(-v.as_float());
        }
        case NodeKind::BinOp: {
            const Value a = eval(*n.a, scope);
            const Value b = eval(*n.b, scope);
            line_ = n.line;
            return binary_op(*this, n.name, a, b);
        }
        case NodeKind::Compare: {
            Value left = eval(*n.items[0], scope);
            for (size_t i = 0; i < n.ops.size(); ++i) {
                Value right = eval(*n.items[i + 1], scope);
                const std::string& op = n.ops[i];
                line_ = n.line;
                bool ok;
                if (op == "==") {
                    ok = equals(left, right);
                } else if (op == "!=") {
                    ok = !equals(left, right);
                } else if (op == "in") {
                    ok = contains(right, left);
                } else if (op == "notin") {
                    ok = !contains(right, left);
                } else {
                    const int c = compare(left, right, op);
                    ok = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
                }
                if (!ok) return Value(false);
                left = std::move(right);
            }
            return Value(true);
        }
        case NodeKind::And: {
            Value a = eval(*n.a, scope);
            return truthy(a) ? eval(*n.b, scope) : a;
        }
        case NodeKind::Or: {
            Value a = eval(*n.a, scope);
            return truthy(a) ? a : eval(*n.b, scope);
        }
        case NodeKind::CondExpr:
            if (truthy(eval(*n.b, scope))) return eval(*n.a, scope);
            if (n.c) return eval(*n.c, scope);
            return Value::undefined("the inline if-expression on line " + std::to_string(n.line) +
                                    " evaluated to false and no else section was defined.");
        default:
            throw TemplateError("not an expression");
    }
}

}  // namespace lc::jinja
