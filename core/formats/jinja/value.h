#pragma once
// The values a Jinja template computes with, modelled on the Python objects jinja2 passes around
// (str, int, float, bool, None, list, tuple, dict, its Undefined, callables, namespace()), so that
// a template prints, compares and iterates exactly as it does under Python.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace lc::jinja {

class Value;
class Interpreter;

using List = std::vector<Value>;

// Lists and dicts nesting deeper than this are an error (printing or freeing them recurses).
inline constexpr int kMaxValueDepth = 1000;

// Arguments of a call as the template wrote them: positional, then name=value.
struct CallArgs {
    std::vector<Value> args;
    std::vector<std::pair<std::string, Value>> kwargs;
};

// A function the template can call: a global, a bound method, a macro.
using NativeFn = std::function<Value(Interpreter&, CallArgs&)>;

struct Callable {
    std::string name;
    NativeFn fn;
};

struct Dict;

// An error of the template or its data. `raised` marks raise_exception() from the template.
class TemplateError : public lc::Error {
public:
    explicit TemplateError(const std::string& message, bool raised_by_template = false)
        : lc::Error(message), raised(raised_by_template) {}
    bool raised;
};

class Value {
public:
    enum class Type {
        Undefined,
        None,
        Bool,
        Int,
        Float,
        String,
        Array,
        Tuple,
        Map,
        Function,
        Namespace
    };

    Value() = default;  // undefined, like a name nothing defined
    Value(bool b) : type_(Type::Bool), int_(b) {}
    Value(int i) : type_(Type::Int), int_(i) {}
    Value(int64_t i) : type_(Type::Int), int_(i) {}
    Value(double d) : type_(Type::Float), float_(d) {}
    Value(std::string s) : type_(Type::String), str_(std::move(s)) {}
    Value(std::string_view s) : type_(Type::String), str_(s) {}
    Value(const char* s) : type_(Type::String), str_(s) {}

    // `hint` is what jinja2 says when the value is used: "'x' is undefined".
    static Value undefined(std::string hint);
    static Value none();
    static Value list(List items);
    static Value tuple(List items);
    // What a Python generator or iterator gives, here already collected: iterates like a list,
    // yet is always true and has no length or index. `kind` names its type ("generator").
    static Value iterator(List items, const char* kind = "generator");
    static Value dict(Dict d);
    static Value callable(std::string name, NativeFn fn);
    static Value name_space(Dict attrs);

    Type type() const { return type_; }
    bool is_undefined() const { return type_ == Type::Undefined; }
    bool is_none() const { return type_ == Type::None; }
    bool is_bool() const { return type_ == Type::Bool; }
    bool is_int() const {
        return type_ == Type::Int || type_ == Type::Bool;
    }  // Python: bool is int
    bool is_number() const { return is_int() || type_ == Type::Float; }
    bool is_string() const { return type_ == Type::String; }
    bool is_sequence() const { return type_ == Type::Array || type_ == Type::Tuple; }
    bool is_iterator() const { return type_ == Type::Array && !str_.empty(); }
    bool is_dict() const { return type_ == Type::Map; }
    bool is_callable() const { return type_ == Type::Function; }
    bool is_namespace() const { return type_ == Type::Namespace; }

    bool as_bool() const { return int_ != 0; }
    int64_t as_int() const { return int_; }
    double as_float() const { return type_ == Type::Float ? float_ : static_cast<double>(int_); }
    // String; the hint of Undefined; the kind of an iterator
    const std::string& str() const { return str_; }
    const List& items() const { return *list_; }             // List, Tuple
    const Dict& dict() const { return *dict_; }              // Dict, Namespace
    Dict& namespace_attrs() const { return *dict_; }         // Namespace: set ns.x = ...
    const Callable& callable() const { return *callable_; }  // Callable
    // How deeply lists and dicts nest in this value (a namespace counts as one level).
    int depth() const { return depth_; }

    // Throws the error jinja2 raises when an undefined value is used for more than printing.
    [[noreturn]] void throw_undefined() const;

private:
    void set_depth(const List& items);

    Type type_ = Type::Undefined;
    int depth_ = 0;
    int64_t int_ = 0;
    double float_ = 0;
    std::string str_;
    std::shared_ptr<const List> list_;
    std::shared_ptr<Dict> dict_;
    std::shared_ptr<const Callable> callable_;
};

// A dict in insertion order, as Python's. Keys compare as Python's do (1 == 1.0 == True).
struct Dict {
    std::vector<std::pair<Value, Value>> entries;

    const Value* find(const Value& key) const;
    const Value* find(std::string_view key) const;
    void set(Value key, Value value);  // replaces the value of an equal key, else appends
    size_t size() const { return entries.size(); }
};

// Python semantics.
bool truthy(const Value& v);
bool equals(const Value& a, const Value& b);
// <0, 0, >0; `op` names the operator in the TypeError of unorderable types.
int compare(const Value& a, const Value& b, std::string_view op);
std::string type_name(const Value& v);  // 'str', 'int', 'dict', ...
std::string to_str(const Value& v);     // str(v); undefined prints as ""
std::string repr(const Value& v);       // repr(v)
std::string format_float(double d);     // repr(float): shortest text that reads back the same

}  // namespace lc::jinja
