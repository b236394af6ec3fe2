// jinja2's builtin filters for text and numbers with their Python behaviour, and transformers'
// tojson (no HTML escaping, json.dumps' options). An undefined value goes in as jinja2's
// Undefined does: as "" (int, float and indent refuse it).
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <map>

#include "formats/jinja/builtins.h"
#include "formats/jinja/interpreter.h"
#include "formats/jinja/pyjson.h"
#include "formats/jinja/text.h"

namespace lc::jinja {

namespace {

std::string text(const Value& v) {
    return to_str(v);
}

int64_t int_arg(const Value& v, const char* what) {
    if (!v.is_int()) throw TemplateError(std::string(what) + " must be an integer");
    return v.as_int();
}

// Python's round(x, n): correctly rounded, ties to even.
double round_half_even(double x, int64_t digits) {
    if (!std::isfinite(x)) return x;
    if (digits < 0) {
        const double p = std::pow(10.0, static_cast<double>(-digits));
        return std::nearbyint(x / p) * p;
    }
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::min<int64_t>(digits, 300)), x);
    return std::strtod(buf, nullptr);
}

Value f_default(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("default", a, {"default_value", "boolean"});
    const bool boolean = truthy(r.get(1, Value(false)));
    if (v.is_undefined() || (boolean && !truthy(v))) return r.get(0, Value(""));
    return v;
}

Value f_length(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("length", a, {});
    switch (v.type()) {
        case Value::Type::Undefined:
            return Value(0);
        case Value::Type::String:
            return Value(static_cast<int64_t>(code_point_count(v.str())));
        case Value::Type::Array:
        case Value::Type::Tuple:
            if (v.is_iterator())
                throw TemplateError("object of type '" + type_name(v) + "' has no len()");
            return Value(static_cast<int64_t>(v.items().size()));
        case Value::Type::Map:
            return Value(static_cast<int64_t>(v.dict().size()));
        default:
            throw TemplateError("object of type '" + type_name(v) + "' has no len()");
    }
}

Value f_tojson(Interpreter& in, const Value& v, CallArgs& a) {
    ArgReader r("tojson", a, {"ensure_ascii", "indent", "separators", "sort_keys"});
    JsonStyle style;
    style.ensure_ascii = truthy(r.get(0, Value(false)));
    const Value indent = r.get(1, Value::none());
    if (indent.is_string()) {
        style.indent = indent.str();
    } else if (indent.is_int()) {
        style.indent = std::string(static_cast<size_t>(std::max<int64_t>(indent.as_int(), 0)), ' ');
    } else if (!indent.is_none()) {
        throw TemplateError("tojson: indent must be an integer, a string or none");
    }
    const Value seps = r.get(2, Value::none());
    if (!seps.is_none()) {
        const List parts = iterate(seps);
        if (parts.size() != 2 || !parts[0].is_string() || !parts[1].is_string())
            throw TemplateError("tojson: separators must be two strings");
        style.item_separator = parts[0].str();
        style.key_separator = parts[1].str();
    }
    style.sort_keys = truthy(r.get(3, Value(false)));
    std::string out = to_json(v, style);
    check_size(in, out.size());
    return Value(std::move(out));
}

Value f_trim(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("trim", a, {"chars"});
    const Value chars = r.get(0, Value::none());
    return Value(py_strip(text(v), chars.is_none() ? nullptr : &chars.str(), true, true));
}

Value f_string(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("string", a, {});
    return Value(text(v));
}

Value f_int(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("int", a, {"default", "base"});
    if (v.is_undefined()) v.throw_undefined();  // int(Undefined) raises, unlike int("x")
    const Value fallback = r.get(0, Value(0));
    if (v.is_int()) return Value(v.as_int());
    if (v.type() == Value::Type::Float) {
        const double d = v.as_float();
        if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return fallback;
        return Value(static_cast<int64_t>(std::trunc(d)));
    }
    if (!v.is_string()) return fallback;
    std::string s = py_strip(v.str(), nullptr, true, true);
    s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
    const int64_t base = r.get(1, Value(10)).as_int();
    errno = 0;
    char* end = nullptr;
    const char* p = s.c_str();
    int b = static_cast<int>(base);
    // int('0x1A', 16) accepts the prefix of its base; base 0 reads any prefix.
    if (s.size() > 2 && s[0] == '0' &&
        (((s[1] | 0x20) == 'x' && (b == 16 || b == 0)) ||
         ((s[1] | 0x20) == 'o' && (b == 8 || b == 0)) ||
         ((s[1] | 0x20) == 'b' && (b == 2 || b == 0)))) {
        b = (s[1] | 0x20) == 'x' ? 16 : (s[1] | 0x20) == 'o' ? 8 : 2;
        p += 2;
    }
    const long long x = s.empty() ? 0 : std::strtoll(p, &end, b == 0 ? 10 : b);
    if (!s.empty() && end && *end == 0 && errno == 0 && end != p) return Value(int64_t{x});
    // "42.23"|int is 42, as jinja2 falls back to int(float(value)).
    end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end && *end == 0 && std::isfinite(d) && std::fabs(d) < 9.2e18)
        return Value(static_cast<int64_t>(std::trunc(d)));
    return fallback;
}

Value f_float(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("float", a, {"default"});
    if (v.is_undefined()) v.throw_undefined();
    if (v.is_number()) return Value(v.as_float());
    if (v.is_string()) {
        std::string s = py_strip(v.str(), nullptr, true, true);
        char* end = nullptr;
        const double d = std::strtod(s.c_str(), &end);
        if (!s.empty() && end && *end == 0) return Value(d);
    }
    return r.get(0, Value(0.0));
}

Value f_replace(Interpreter& in, const Value& v, CallArgs& a) {
    ArgReader r("replace", a, {"old", "new", "count"});
    const Value count = r.get(2, Value::none());
    return Value(py_replace(text(v), text(r.get(0)), text(r.get(1)),
                            count.is_none() ? -1 : int_arg(count, "count"),
                            in.limits().max_output_bytes));
}

Value f_lower(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("lower", a, {});
    return Value(py_lower(text(v)));
}

Value f_upper(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("upper", a, {});
    return Value(py_upper(text(v)));
}

Value f_capitalize(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("capitalize", a, {});
    return Value(py_capitalize(text(v)));
}

// jinja2's title: each piece after a run of -, whitespace, (, {, [ or < starts upper case.
Value f_title(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("title", a, {});
    const std::u32string s = to_code_points(text(v));
    auto is_sep = [](char32_t c) {
        return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_py_space(c);
    };
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
        size_t e = i;
        const bool sep = is_sep(s[i]);
        while (e < s.size() && is_sep(s[e]) == sep)
            ++e;
        const std::u32string piece = s.substr(i, e - i);
        if (sep) {
            out += to_utf8(piece);
        } else {
            out += py_upper(to_utf8(piece.substr(0, 1))) + py_lower(to_utf8(piece.substr(1)));
        }
        i = e;
    }
    return Value(std::move(out));
}

Value f_indent(Interpreter& in, const Value& v, CallArgs& a) {
    ArgReader r("indent", a, {"width", "first", "blank"});
    if (v.is_undefined()) v.throw_undefined();
    if (!v.is_string())  // jinja2 appends "\n" to the value first
        throw TemplateError("unsupported operand type(s) for +=: '" + type_name(v) + "' and 'str'");
    const Value width = r.get(0, Value(4));
    const std::string pad =
        width.is_string()
            ? width.str()
            : std::string(static_cast<size_t>(std::max<int64_t>(int_arg(width, "width"), 0)), ' ');
    const bool first = truthy(r.get(1, Value(false))), blank = truthy(r.get(2, Value(false)));
    const std::vector<std::string> lines = py_splitlines(text(v) + "\n", false);
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (i > 0) out += "\n";
        if ((i > 0 || first) && (blank || !lines[i].empty())) out += pad;
        out += lines[i];
        check_size(in, out.size());
    }
    if (first && lines.empty()) out = pad;
    return Value(std::move(out));
}

Value f_center(Interpreter& in, const Value& v, CallArgs& a) {
    ArgReader r("center", a, {"width"});
    CallArgs inner;
    inner.args.push_back(r.get(0, Value(80)));
    return in.call(get_attribute(Value(text(v)), "center"), inner);
}

Value f_safe(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("safe", a, {});
    return v.is_string() ? v : Value(text(v));
}

Value f_escape(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("escape", a, {});
    std::string out;
    for (char c : text(v)) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&#34;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return Value(std::move(out));
}

Value f_round(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("round", a, {"precision", "method"});
    const int64_t precision = int_arg(r.get(0, Value(0)), "precision");
    const std::string method = text(r.get(1, Value("common")));
    if (method != "common" && method != "ceil" && method != "floor")
        throw TemplateError("method must be common, ceil or floor");
    if (!v.is_number()) throw TemplateError("type " + type_name(v) + " doesn't define __round__");
    if (method == "common") {
        if (v.is_int() && precision >= 0) return Value(v.as_int());
        return Value(round_half_even(v.as_float(), precision));
    }
    const double p = std::pow(10.0, static_cast<double>(precision));
    const double x = v.as_float() * p;
    return Value((method == "ceil" ? std::ceil(x) : std::floor(x)) / p);
}

Value f_abs(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("abs", a, {});
    if (v.is_int()) {
        if (v.as_int() == INT64_MIN) throw TemplateError("integer overflow");
        return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
    }
    if (v.is_number()) return Value(std::fabs(v.as_float()));
    throw TemplateError("bad operand type for abs(): '" + type_name(v) + "'");
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("wordcount", a, {});
    int64_t n = 0;
    bool in_word = false;
    for (char32_t c : to_code_points(text(v))) {
        const bool word = c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                          (c >= 'A' && c <= 'Z') || (c >= 0x80 && !is_py_space(c));
        if (word && !in_word) ++n;
        in_word = word;
    }
    return Value(n);
}

Value f_format(Interpreter& in, const Value& v, CallArgs& a) {
    if (!a.kwargs.empty() && !a.args.empty())
        throw TemplateError("can't handle positional and keyword arguments at the same time");
    if (!a.kwargs.empty()) {
        Dict d;
        for (auto& [k, val] : a.kwargs)
            d.set(Value(k), val);
        return binary_op(in, "%", Value(text(v)), Value::dict(std::move(d)));
    }
    return binary_op(in, "%", Value(text(v)), Value::tuple(a.args));
}

}  // namespace

const FilterTable& text_filters() {
    static const FilterTable m = {
        {"abs", f_abs},       {"capitalize", f_capitalize},
        {"center", f_center}, {"count", f_length},
        {"d", f_default},     {"default", f_default},
        {"e", f_escape},      {"escape", f_escape},
        {"float", f_float},   {"forceescape", f_escape},
        {"format", f_format}, {"indent", f_indent},
        {"int", f_int},       {"length", f_length},
        {"lower", f_lower},   {"replace", f_replace},
        {"round", f_round},   {"safe", f_safe},
        {"string", f_string}, {"title", f_title},
        {"tojson", f_tojson}, {"trim", f_trim},
        {"upper", f_upper},   {"wordcount", f_wordcount},
    };
    return m;
}

bool has_filter(std::string_view name) {
    return text_filters().count(name) > 0 || sequence_filters().count(name) > 0;
}

Value apply_filter(Interpreter& in, std::string_view name, const Value& subject, CallArgs& args) {
    in.step();
    auto it = text_filters().find(name);
    if (it == text_filters().end()) {
        it = sequence_filters().find(name);
        if (it == sequence_filters().end())
            throw TemplateError("no filter named '" + std::string(name) + "'");
    }
    return it->second(in, subject, args);
}

}  // namespace lc::jinja
