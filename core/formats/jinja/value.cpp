// Python's semantics for the values of a template (see value.h): truth, equality, order, str()
// and repr().
#include "formats/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "formats/jinja/text.h"

namespace lc::jinja {

Value Value::undefined(std::string hint) {
    Value v;
    v.str_ = std::move(hint);
    return v;
}

Value Value::none() {
    Value v;
    v.type_ = Type::None;
    return v;
}

void Value::set_depth(const List& items) {
    int d = 0;
    for (const Value& item : items)
        d = std::max(d, item.depth_);
    depth_ = d + 1;
    if (depth_ > kMaxValueDepth)
        throw TemplateError("lists and dicts nest deeper than " + std::to_string(kMaxValueDepth) +
                            " levels");
}

Value Value::list(List items) {
    Value v;
    v.type_ = Type::Array;
    v.set_depth(items);
    v.list_ = std::make_shared<const List>(std::move(items));
    return v;
}

Value Value::iterator(List items, const char* kind) {
    Value v = list(std::move(items));
    v.str_ = kind;
    return v;
}

Value Value::tuple(List items) {
    Value v = list(std::move(items));
    v.type_ = Type::Tuple;
    return v;
}

Value Value::dict(Dict d) {
    Value v;
    v.type_ = Type::Map;
    int depth = 0;
    for (const auto& [k, val] : d.entries)
        depth = std::max({depth, k.depth_, val.depth_});
    v.depth_ = depth + 1;
    if (v.depth_ > kMaxValueDepth)
        throw TemplateError("lists and dicts nest deeper than " + std::to_string(kMaxValueDepth) +
                            " levels");
    v.dict_ = std::make_shared<Dict>(std::move(d));
    return v;
}

Value Value::callable(std::string name, NativeFn fn) {
    Value v;
    v.type_ = Type::Function;
    v.callable_ = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
    return v;
}

Value Value::name_space(Dict attrs) {
    Value v;
    v.type_ = Type::Namespace;
    v.depth_ = 1;  // it changes; what it holds was checked when that was made
    v.dict_ = std::make_shared<Dict>(std::move(attrs));
    return v;
}

void Value::throw_undefined() const {
    throw TemplateError(str_.empty() ? "a value is undefined" : str_);
}

const Value* Dict::find(const Value& key) const {
    for (const auto& [k, v] : entries)
        if (equals(k, key)) return &v;
    return nullptr;
}

const Value* Dict::find(std::string_view key) const {
    for (const auto& [k, v] : entries)
        if (k.is_string() && k.str() == key) return &v;
    return nullptr;
}

void Dict::set(Value key, Value value) {
    for (auto& [k, v] : entries) {
        if (equals(k, key)) {
            v = std::move(value);
            return;
        }
    }
    entries.emplace_back(std::move(key), std::move(value));
}

bool truthy(const Value& v) {
    switch (v.type()) {
        case Value::Type::Undefined:
        case Value::Type::None:
            return false;
        case Value::Type::Bool:
        case Value::Type::Int:
            return v.as_int() != 0;
        case Value::Type::Float:
            return v.as_float() != 0.0;
        case Value::Type::String:
            return !v.str().empty();
        case Value::Type::Array:
        case Value::Type::Tuple:
            return v.is_iterator() || !v.items().empty();
        case Value::Type::Map:
            return v.dict().size() != 0;
        case Value::Type::Function:
        case Value::Type::Namespace:
            return true;
    }
    return false;
}

bool equals(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.type() == Value::Type::Float || b.type() == Value::Type::Float)
            return a.as_float() == b.as_float();
        return a.as_int() == b.as_int();
    }
    if (a.type() != b.type()) return false;
    switch (a.type()) {
        case Value::Type::Undefined:
        case Value::Type::None:
            return true;
        case Value::Type::String:
            return a.str() == b.str();
        case Value::Type::Array:
        case Value::Type::Tuple: {
            if (a.is_iterator() || b.is_iterator()) return &a.items() == &b.items();
            const List &x = a.items(), &y = b.items();
            if (x.size() != y.size()) return false;
            for (size_t i = 0; i < x.size(); ++i)
                if (!equals(x[i], y[i])) return false;
            return true;
        }
        case Value::Type::Map: {
            if (a.dict().size() != b.dict().size()) return false;
            for (const auto& [k, v] : a.dict().entries) {
                const Value* other = b.dict().find(k);
                if (!other || !equals(v, *other)) return false;
            }
            return true;
        }
        case Value::Type::Function:
            return &a.callable() == &b.callable();
        case Value::Type::Namespace:
            return &a.dict() == &b.dict();
        default:
            return false;
    }
}

int compare(const Value& a, const Value& b, std::string_view op) {
    if (a.is_undefined()) a.throw_undefined();
    if (b.is_undefined()) b.throw_undefined();
    if (a.is_number() && b.is_number()) {
        if (a.type() == Value::Type::Float || b.type() == Value::Type::Float) {
            const double x = a.as_float(), y = b.as_float();
            return x < y ? -1 : x > y ? 1 : 0;
        }
        return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0;
    }
    if (a.is_string() && b.is_string()) {
        const int c = a.str().compare(b.str());  // UTF-8 bytes sort as code points do
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (a.is_sequence() && a.type() == b.type() && !a.is_iterator() && !b.is_iterator()) {
        const List &x = a.items(), &y = b.items();
        for (size_t i = 0; i < x.size() && i < y.size(); ++i)
            if (!equals(x[i], y[i])) return compare(x[i], y[i], op);
        return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
    }
    throw TemplateError("'" + std::string(op) + "' not supported between instances of '" +
                        type_name(a) + "' and '" + type_name(b) + "'");
}

std::string type_name(const Value& v) {
    switch (v.type()) {
        case Value::Type::Undefined:
            return "Undefined";
        case Value::Type::None:
            return "NoneType";
        case Value::Type::Bool:
            return "bool";
        case Value::Type::Int:
            return "int";
        case Value::Type::Float:
            return "float";
        case Value::Type::String:
            return "str";
        case Value::Type::Array:
            return v.is_iterator() ? v.str() : "list";
        case Value::Type::Tuple:
            return "tuple";
        case Value::Type::Map:
            return "dict";
        case Value::Type::Function:
            return "function";
        case Value::Type::Namespace:
            return "Namespace";
    }
    return "object";
}

std::string format_float(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
    // The shortest digits that read back as `d`, then laid out as Python's repr() does:
    // positional for exponents -4 < decpt <= 16, scientific otherwise.
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    const std::string sci(buf, res.ptr);
    const size_t e = sci.find('e');
    std::string digits;
    bool negative = false;
    for (size_t i = 0; i < e; ++i) {
        if (sci[i] == '-') negative = true;
        if (sci[i] >= '0' && sci[i] <= '9') digits += sci[i];
    }
    const int decpt = std::stoi(sci.substr(e + 1)) + 1;
    const int n = static_cast<int>(digits.size());
    std::string out = negative ? "-" : "";
    if (decpt <= -4 || decpt > 16) {
        out += digits[0];
        if (n > 1) {
            out += '.';
            out.append(digits, 1, std::string::npos);
        }
        const int exp = decpt - 1;
        char ebuf[16];
        std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
        out += ebuf;
    } else if (decpt <= 0) {
        out += "0.";
        out.append(static_cast<size_t>(-decpt), '0');
        out += digits;
    } else if (decpt < n) {
        out.append(digits, 0, static_cast<size_t>(decpt));
        out += '.';
        out.append(digits, static_cast<size_t>(decpt), std::string::npos);
    } else {
        out += digits;
        out.append(static_cast<size_t>(decpt - n), '0');
        out += ".0";
    }
    return out;
}

namespace {

// What repr() escapes: controls, separators, format characters, surrogates, private use
// (Python's str.isprintable() without its full Unicode table).
bool is_printable(char32_t c) {
    if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad) return false;
    if (c == 0x1680 || c == 0x180e || (c >= 0x2000 && c <= 0x200f)) return false;
    if ((c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f) || c == 0x3000) return false;
    if ((c >= 0x600 && c <= 0x605) || c == 0x61c || c == 0x6dd || c == 0x70f) return false;
    if ((c >= 0xd800 && c <= 0xf8ff) || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb)) return false;
    if (c == 0xfffe || c == 0xffff || c >= 0xf0000 || (c >= 0xe0000 && c <= 0xe007f)) return false;
    return true;
}

std::string repr_string(const std::string& s) {
    const bool has_single = s.find('\'') != std::string::npos;
    const bool has_double = s.find('"') != std::string::npos;
    const char quote = has_single && !has_double ? '"' : '\'';
    std::string out(1, quote);
    for (char32_t c : to_code_points(s)) {
        if (c == static_cast<char32_t>(quote) || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (is_printable(c)) {
            append_utf8(out, c);
        } else {
            char buf[16];
            if (c < 0x100)
                std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
            else if (c < 0x10000)
                std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            else
                std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
            out += buf;
        }
    }
    out += quote;
    return out;
}

// The dicts being printed: a namespace that holds itself prints as {...}, as Python's does.
thread_local std::vector<const Dict*> printing;
thread_local int repr_depth = 0;

// Namespaces can chain values deeper than kMaxValueDepth; printing them must not overflow.
struct ReprDepth {
    ReprDepth() {
        if (++repr_depth > 2 * kMaxValueDepth) {
            --repr_depth;
            throw TemplateError("a value nests too deeply to print");
        }
    }
    ~ReprDepth() { --repr_depth; }
};

std::string repr_dict(const Dict& d) {
    if (std::find(printing.begin(), printing.end(), &d) != printing.end()) return "{...}";
    ReprDepth depth;
    printing.push_back(&d);
    std::string out = "{";
    try {
        bool first = true;
        for (const auto& [k, val] : d.entries) {
            if (!first) out += ", ";
            first = false;
            out += repr(k) + ": " + repr(val);
        }
    } catch (...) {
        printing.pop_back();
        throw;
    }
    printing.pop_back();
    return out + "}";
}

}  // namespace

std::string to_str(const Value& v) {
    switch (v.type()) {
        case Value::Type::Undefined:
            return "";
        case Value::Type::String:
            return v.str();
        case Value::Type::Function:
            return "<function " + v.callable().name + ">";
        case Value::Type::Namespace:
            return "<Namespace " + repr_dict(v.dict()) + ">";
        default:
            return repr(v);
    }
}

std::string repr(const Value& v) {
    switch (v.type()) {
        case Value::Type::Undefined:
            return "Undefined";
        case Value::Type::None:
            return "None";
        case Value::Type::Bool:
            return v.as_bool() ? "True" : "False";
        case Value::Type::Int:
            return std::to_string(v.as_int());
        case Value::Type::Float:
            return format_float(v.as_float());
        case Value::Type::String:
            return repr_string(v.str());
        case Value::Type::Array:
        case Value::Type::Tuple: {
            if (v.is_iterator()) return "<" + v.str() + " object>";
            ReprDepth depth;
            const bool tuple = v.type() == Value::Type::Tuple;
            std::string out = tuple ? "(" : "[";
            for (size_t i = 0; i < v.items().size(); ++i) {
                if (i) out += ", ";
                out += repr(v.items()[i]);
            }
            if (tuple && v.items().size() == 1) out += ",";
            return out + (tuple ? ")" : "]");
        }
        case Value::Type::Map:
            return repr_dict(v.dict());
        default:
            return to_str(v);
    }
}

}  // namespace lc::jinja
