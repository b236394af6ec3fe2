// jinja2's builtin tests (`x is defined`, `x is string`, ...) with their Python behaviour; an
// undefined value is what jinja2's Undefined is to them (iterable, callable, not a string).
#include <cmath>

#include "formats/jinja/builtins.h"
#include "formats/jinja/interpreter.h"
#include "formats/jinja/text.h"

namespace lc::jinja {

namespace {

using TestFn = bool (*)(Interpreter&, const Value&, CallArgs&);
using TestTable = std::map<std::string, TestFn, std::less<>>;

Value one_arg(const char* test, CallArgs& a) {
    ArgReader r(test, a, {"other"});
    if (!r.given(0)) throw TemplateError(std::string(test) + "() missing 1 required argument");
    return r.get(0);
}

bool t_defined(Interpreter&, const Value& v, CallArgs&) {
    return !v.is_undefined();
}

bool t_undefined(Interpreter&, const Value& v, CallArgs&) {
    return v.is_undefined();
}

bool t_none(Interpreter&, const Value& v, CallArgs&) {
    return v.is_none();
}

bool t_boolean(Interpreter&, const Value& v, CallArgs&) {
    return v.is_bool();
}

bool t_true(Interpreter&, const Value& v, CallArgs&) {
    return v.is_bool() && v.as_bool();
}

bool t_false(Interpreter&, const Value& v, CallArgs&) {
    return v.is_bool() && !v.as_bool();
}

bool t_integer(Interpreter&, const Value& v, CallArgs&) {
    return v.type() == Value::Type::Int;
}

bool t_float(Interpreter&, const Value& v, CallArgs&) {
    return v.type() == Value::Type::Float;
}

bool t_number(Interpreter&, const Value& v, CallArgs&) {
    return v.is_number();
}

bool t_string(Interpreter&, const Value& v, CallArgs&) {
    return v.is_string();
}

bool t_mapping(Interpreter&, const Value& v, CallArgs&) {
    return v.is_dict();
}

// jinja2's Undefined has __call__ (it raises), so it counts as callable.
bool t_callable(Interpreter&, const Value& v, CallArgs&) {
    return v.is_callable() || v.is_undefined();
}

bool t_escaped(Interpreter&, const Value&, CallArgs&) {
    return false;
}

// Undefined iterates (as empty) and has a length, so jinja2 calls it both.
bool t_iterable(Interpreter&, const Value& v, CallArgs&) {
    return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict();
}

bool t_sequence(Interpreter& in, const Value& v, CallArgs& a) {
    return t_iterable(in, v, a) && !v.is_iterator();  // a generator has no length
}

bool t_lower(Interpreter&, const Value& v, CallArgs&) {
    const std::string s = to_str(v);
    return py_upper(s) != s && py_lower(s) == s;
}

bool t_upper(Interpreter&, const Value& v, CallArgs&) {
    const std::string s = to_str(v);
    return py_lower(s) != s && py_upper(s) == s;
}

// value % n as Python computes it (a string formats, a float divides).
bool remainder_is(Interpreter& in, const Value& v, const Value& n, int64_t want) {
    if (v.is_undefined()) v.throw_undefined();
    return equals(binary_op(in, "%", v, n), Value(want));
}
bool t_odd(Interpreter& in, const Value& v, CallArgs&) {
    return remainder_is(in, v, Value(2), 1);
}
bool t_even(Interpreter& in, const Value& v, CallArgs&) {
    return remainder_is(in, v, Value(2), 0);
}
bool t_divisibleby(Interpreter& in, const Value& v, CallArgs& a) {
    return remainder_is(in, v, one_arg("divisibleby", a), 0);
}
bool t_eq(Interpreter&, const Value& v, CallArgs& a) {
    return equals(v, one_arg("eq", a));
}

bool t_ne(Interpreter&, const Value& v, CallArgs& a) {
    return !equals(v, one_arg("ne", a));
}

bool t_lt(Interpreter&, const Value& v, CallArgs& a) {
    return compare(v, one_arg("lt", a), "<") < 0;
}

bool t_le(Interpreter&, const Value& v, CallArgs& a) {
    return compare(v, one_arg("le", a), "<=") <= 0;
}

bool t_gt(Interpreter&, const Value& v, CallArgs& a) {
    return compare(v, one_arg("gt", a), ">") > 0;
}

bool t_ge(Interpreter&, const Value& v, CallArgs& a) {
    return compare(v, one_arg("ge", a), ">=") >= 0;
}

bool t_in(Interpreter&, const Value& v, CallArgs& a) {
    return contains(one_arg("in", a), v);
}

bool t_sameas(Interpreter&, const Value& v, CallArgs& a) {
    const Value o = one_arg("sameas", a);
    if (v.type() != o.type()) return false;
    if (v.is_sequence()) return &v.items() == &o.items();  // the same object, not equal ones
    if (v.is_dict() || v.is_namespace()) return &v.dict() == &o.dict();
    if (v.is_callable()) return &v.callable() == &o.callable();
    return equals(v, o);
}

bool t_filter(Interpreter&, const Value& v, CallArgs&) {
    return v.is_string() && has_filter(v.str());
}

bool t_test(Interpreter&, const Value& v, CallArgs&) {
    return v.is_string() && has_test(v.str());
}

const TestTable& tests() {
    static const TestTable m = {
        {"!=", t_ne},
        {"<", t_lt},
        {"<=", t_le},
        {"==", t_eq},
        {">", t_gt},
        {">=", t_ge},
        {"boolean", t_boolean},
        {"callable", t_callable},
        {"defined", t_defined},
        {"divisibleby", t_divisibleby},
        {"eq", t_eq},
        {"equalto", t_eq},
        {"escaped", t_escaped},
        {"even", t_even},
        {"false", t_false},
        {"filter", t_filter},
        {"float", t_float},
        {"ge", t_ge},
        {"greaterthan", t_gt},
        {"gt", t_gt},
        {"in", t_in},
        {"integer", t_integer},
        {"iterable", t_iterable},
        {"le", t_le},
        {"lessthan", t_lt},
        {"lower", t_lower},
        {"lt", t_lt},
        {"mapping", t_mapping},
        {"ne", t_ne},
        {"none", t_none},
        {"number", t_number},
        {"odd", t_odd},
        {"sameas", t_sameas},
        {"sequence", t_sequence},
        {"string", t_string},
        {"test", t_test},
        {"true", t_true},
        {"undefined", t_undefined},
        {"upper", t_upper},
    };
    return m;
}

}  // namespace

bool has_test(std::string_view name) {
    return tests().count(name) > 0;
}

bool apply_test(Interpreter& in, std::string_view name, const Value& subject, CallArgs& args) {
    in.step();
    const auto it = tests().find(name);
    if (it == tests().end()) throw TemplateError("no test named '" + std::string(name) + "'");
    return it->second(in, subject, args);
}

}  // namespace lc::jinja
