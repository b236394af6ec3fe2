// The operators of template expressions with Python's semantics: + - * / // % ** ~ and `in`,
// including str % args formatting. Integers are 64-bit: overflow is an error, not a bigint.
#include <cmath>
#include <cstdio>

#include "formats/jinja/builtins.h"
#include "formats/jinja/interpreter.h"
#include "formats/jinja/text.h"

namespace lc::jinja {

namespace {

[[noreturn]] void unsupported(std::string_view op, const Value& a, const Value& b) {
    throw TemplateError("unsupported operand type(s) for " + std::string(op) + ": '" +
                        type_name(a) + "' and '" + type_name(b) + "'");
}

[[noreturn]] void overflow() {
    throw TemplateError("integer overflow");
}

Value repeat(Interpreter& in, const Value& seq, int64_t times) {
    if (times <= 0) return seq.is_string() ? Value("") : seq.is_sequence() ? Value::list({}) : seq;
    if (seq.is_string()) {
        check_size(in, seq.str().size() * static_cast<size_t>(times));
        std::string out;
        for (int64_t i = 0; i < times; ++i)
            out += seq.str();
        return Value(std::move(out));
    }
    check_size(in, seq.items().size() * static_cast<size_t>(times) * sizeof(Value));
    List out;
    for (int64_t i = 0; i < times; ++i)
        out.insert(out.end(), seq.items().begin(), seq.items().end());
    return seq.type() == Value::Type::Tuple ? Value::tuple(std::move(out))
                                            : Value::list(std::move(out));
}

// One %-conversion of str % args: flags, width, precision, type.
std::string format_one(const std::string& spec, char type, const Value& v) {
    char buf[512];
    std::string fmt = "%" + spec;
    if (type == 's' || type == 'r' || type == 'a') {
        const std::string s = type == 's' ? to_str(v) : repr(v);
        fmt += 's';
        std::snprintf(buf, sizeof buf, fmt.c_str(), s.c_str());
        return s.size() + spec.size() >= sizeof buf - 64 ? s : std::string(buf);
    }
    if (!v.is_number())
        throw TemplateError(std::string("%") + type + " format: a real number is required, not " +
                            type_name(v));
    if (type == 'd' || type == 'i' || type == 'u' || type == 'x' || type == 'X' || type == 'o') {
        const auto i = static_cast<long long>(v.is_int() ? v.as_int() : std::trunc(v.as_float()));
        fmt += "ll";
        fmt += type == 'i' || type == 'u' ? 'd' : type;
        std::snprintf(buf, sizeof buf, fmt.c_str(), i);
    } else if (std::string_view("eEfFgG").find(type) != std::string_view::npos) {
        fmt += type;
        std::snprintf(buf, sizeof buf, fmt.c_str(), v.as_float());
    } else if (type == 'c') {
        std::string s;
        append_utf8(s, static_cast<char32_t>(v.as_int()));
        return s;
    } else {
        throw TemplateError(std::string("unsupported format character '") + type + "'");
    }
    return buf;
}

Value format_percent(Interpreter& in, const std::string& f, const Value& args) {
    const bool mapping = args.is_dict();
    List positional = args.type() == Value::Type::Tuple ? args.items() : List{args};
    size_t next = 0;
    std::string out;
    for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] != '%') {
            out += f[i];
            continue;
        }
        if (++i >= f.size()) throw TemplateError("incomplete format");
        const Value* arg = nullptr;
        if (f[i] == '(') {
            const size_t close = f.find(')', i);
            if (close == std::string::npos) throw TemplateError("incomplete format key");
            if (!mapping) throw TemplateError("format requires a mapping");
            arg = args.dict().find(std::string_view(f).substr(i + 1, close - i - 1));
            if (!arg) throw TemplateError("'" + f.substr(i + 1, close - i - 1) + "'");
            i = close + 1;
        }
        std::string spec;
        while (i < f.size() &&
               std::string_view("-+ #0123456789.").find(f[i]) != std::string_view::npos)
            spec += f[i++];
        if (i >= f.size()) throw TemplateError("incomplete format");
        const char type = f[i];
        if (type == '%') {
            out += '%';
            continue;
        }
        if (!arg) {
            if (mapping && positional.size() == 1 && next == 0) {
                arg = &positional[0];  // "%s" % {...} prints the dict
            } else if (next >= positional.size()) {
                throw TemplateError("not enough arguments for format string");
            }
            if (!arg) arg = &positional[next];
            ++next;
        }
        out += format_one(spec, type, *arg);
        check_size(in, out.size());
    }
    // Python leaves a mapping's or list's unused parts alone (it takes them for a mapping).
    const bool lenient = mapping || args.type() == Value::Type::Array;
    if (!lenient && next < positional.size())
        throw TemplateError("not all arguments converted during string formatting");
    return Value(std::move(out));
}

int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

}  // namespace

Value binary_op(Interpreter& in, std::string_view op, const Value& a, const Value& b) {
    if (op == "~") {
        std::string s = to_str(a) + to_str(b);
        check_size(in, s.size());
        return Value(std::move(s));
    }
    if (a.is_undefined()) a.throw_undefined();
    if (b.is_undefined()) b.throw_undefined();
    const bool ints = a.is_int() && b.is_int();
    const bool nums = a.is_number() && b.is_number();
    int64_t r = 0;
    if (op == "+") {
        if (ints) {
            if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) overflow();
            return Value(r);
        }
        if (nums) return Value(a.as_float() + b.as_float());
        if (a.is_string() && b.is_string()) {
            check_size(in, a.str().size() + b.str().size());
            return Value(a.str() + b.str());
        }
        if (a.is_sequence() && a.type() == b.type() && !a.is_iterator() && !b.is_iterator()) {
            List out = a.items();
            out.insert(out.end(), b.items().begin(), b.items().end());
            return a.type() == Value::Type::Tuple ? Value::tuple(std::move(out))
                                                  : Value::list(std::move(out));
        }
        if (a.is_string() || (a.is_sequence() && !a.is_iterator()))
            throw TemplateError("can only concatenate " + type_name(a) + " (not \"" + type_name(b) +
                                "\") to " + type_name(a));
        unsupported(op, a, b);
    }
    if (op == "-") {
        if (ints) {
            if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) overflow();
            return Value(r);
        }
        if (nums) return Value(a.as_float() - b.as_float());
        unsupported(op, a, b);
    }
    if (op == "*") {
        if (ints) {
            if (__builtin_mul_overflow(a.as_int(), b.as_int(), &r)) overflow();
            return Value(r);
        }
        if (nums) return Value(a.as_float() * b.as_float());
        auto repeatable = [](const Value& v) {
            return v.is_string() || (v.is_sequence() && !v.is_iterator());
        };
        if (repeatable(a) && b.is_int()) return repeat(in, a, b.as_int());
        if (a.is_int() && repeatable(b)) return repeat(in, b, a.as_int());
        unsupported(op, a, b);
    }
    if (op == "/") {
        if (!nums) unsupported(op, a, b);
        if (b.as_float() == 0) throw TemplateError("division by zero");
        return Value(a.as_float() / b.as_float());
    }
    if (op == "//") {
        if (!nums) unsupported(op, a, b);
        if (ints) {
            if (b.as_int() == 0) throw TemplateError("integer division or modulo by zero");
            return Value(floor_div(a.as_int(), b.as_int()));
        }
        if (b.as_float() == 0) throw TemplateError("float floor division by zero");
        return Value(std::floor(a.as_float() / b.as_float()));
    }
    if (op == "%") {
        if (a.is_string()) return format_percent(in, a.str(), b);
        if (!nums) unsupported(op, a, b);
        if (ints) {
            if (b.as_int() == 0) throw TemplateError("integer modulo by zero");
            return Value(a.as_int() - floor_div(a.as_int(), b.as_int()) * b.as_int());
        }
        if (b.as_float() == 0) throw TemplateError("float modulo");
        double m = std::fmod(a.as_float(), b.as_float());
        if (m != 0 && ((m < 0) != (b.as_float() < 0))) m += b.as_float();
        return Value(m);
    }
    if (op == "**") {
        if (!nums) unsupported(op, a, b);
        if (ints && b.as_int() >= 0) {
            int64_t base = a.as_int(), e = b.as_int(), acc = 1;
            while (e > 0) {
                if ((e & 1) && __builtin_mul_overflow(acc, base, &acc)) overflow();
                e >>= 1;
                if (e > 0 && __builtin_mul_overflow(base, base, &base)) overflow();
            }
            return Value(acc);
        }
        if (a.as_float() == 0 && b.as_float() < 0)
            throw TemplateError("0.0 cannot be raised to a negative power");
        return Value(std::pow(a.as_float(), b.as_float()));
    }
    throw TemplateError("unknown operator " + std::string(op));
}

bool contains(const Value& container, const Value& item) {
    switch (container.type()) {
        case Value::Type::Undefined:
            return false;  // iterates as empty
        case Value::Type::String:
            if (!item.is_string())
                throw TemplateError("'in <string>' requires string as left operand, not " +
                                    type_name(item));
            return container.str().find(item.str()) != std::string::npos;
        case Value::Type::Array:
        case Value::Type::Tuple:
            for (const Value& v : container.items())
                if (equals(v, item)) return true;
            return false;
        case Value::Type::Map:
            if (item.type() == Value::Type::Array || item.is_dict())
                throw TemplateError("unhashable type: '" + type_name(item) + "'");
            return container.dict().find(item) != nullptr;
        default:
            throw TemplateError("argument of type '" + type_name(container) + "' is not iterable");
    }
}

}  // namespace lc::jinja
