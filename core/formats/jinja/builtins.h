#pragma once
// What a template can use without defining it, as jinja2 and Python provide it: filters
// (filters.cpp, sequences.cpp), tests (tests.cpp), the methods of str, dict and list
// (methods.cpp), the globals (globals.cpp) and the operators (operators.cpp).
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "formats/jinja/value.h"

namespace lc::jinja {

using FilterFn = Value (*)(Interpreter&, const Value&, CallArgs&);
using FilterTable = std::map<std::string, FilterFn, std::less<>>;
const FilterTable& text_filters();      // filters.cpp: text and numbers
const FilterTable& sequence_filters();  // sequences.cpp: sequences and mappings

bool has_filter(std::string_view name);
bool has_test(std::string_view name);
Value apply_filter(Interpreter& in, std::string_view name, const Value& subject, CallArgs& args);
bool apply_test(Interpreter& in, std::string_view name, const Value& subject, CallArgs& args);

// obj.name: a dict's method, else its key; a str or list method. Undefined when none.
Value get_attribute(const Value& obj, const std::string& name);
// obj[key]: a dict's key (then its method), a sequence's or string's index. Undefined when none.
Value get_item(const Value& obj, const Value& key);
// obj[start:stop:step] of a list, tuple or string; null parts are absent.
Value get_slice(const Value& obj, const Value* start, const Value* stop, const Value* step);

// a op b for + - * / // % ** ~ (operators.cpp), and `item in container`.
Value binary_op(Interpreter& in, std::string_view op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);

// range, dict, namespace and transformers' raise_exception and strftime_now.
void add_globals(Dict& globals);

// The items a for loop (and list(), join, ...) goes over: a sequence's items, a dict's keys,
// a string's characters; undefined is empty. Other values are a TypeError.
List iterate(const Value& v);

// Binds a call's arguments to parameter names as Python would, for a builtin named `function`.
class ArgReader {
public:
    ArgReader(std::string function, CallArgs& args, std::initializer_list<const char*> params);
    // The argument for parameter `i`; `fallback` when not given.
    Value get(size_t i, const Value& fallback = Value()) const;
    bool given(size_t i) const;
    const std::string& function() const { return function_; }

private:
    std::string function_;
    std::vector<std::optional<Value>> values_;
};

// Throws TemplateError when `bytes` is more text than a render may make.
void check_size(Interpreter& in, size_t bytes);

}  // namespace lc::jinja
