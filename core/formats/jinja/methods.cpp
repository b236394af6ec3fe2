// Attribute and item access and the methods of str, dict and list, as Python and jinja2's
// ImmutableSandboxedEnvironment provide them: methods that would change a list or dict are
// refused, as the sandbox refuses them.
#include <algorithm>

#include "formats/jinja/builtins.h"
#include "formats/jinja/interpreter.h"
#include "formats/jinja/text.h"

namespace lc::jinja {

namespace {

// "'dict object'", as jinja2's messages name a value (built by appending: GCC 12 warns
// wrongly about "'" + std::string temporaries).
std::string object_name(const Value& obj) {
    std::string out = "'";
    out += type_name(obj);
    out += " object'";
    return out;
}

Value no_attribute(const Value& obj, const std::string& name) {
    std::string what = "'";
    what += obj.is_none() ? "None'" : type_name(obj) + " object'";
    what += " has no attribute '";
    what += name;
    return Value::undefined(what + "'");
}

Value method(const std::string& name, NativeFn fn) {
    return Value::callable(name, std::move(fn));
}

// Python's index into a sequence of `size` items; -1 when out of range.
int64_t index_of(int64_t i, size_t size) {
    const auto n = static_cast<int64_t>(size);
    if (i < 0) i += n;
    return i < 0 || i >= n ? -1 : i;
}

std::string arg_str(const ArgReader& r, size_t i, const char* what) {
    const Value v = r.get(i);
    if (!v.is_string())
        throw TemplateError(r.function() + "() argument " + std::to_string(i + 1) +
                            " must be str, not " + type_name(v) + (what ? what : ""));
    return v.str();
}

// Python's str.split / rsplit.
Value split(const std::string& s, const Value& sep, int64_t maxsplit, bool from_right) {
    List out;
    if (sep.is_none() || sep.is_undefined()) {
        std::u32string cps = to_code_points(s);
        if (from_right) std::reverse(cps.begin(), cps.end());
        size_t i = 0;
        std::vector<std::u32string> parts;
        while (true) {
            while (i < cps.size() && is_py_space(cps[i]))
                ++i;
            if (i >= cps.size()) break;
            if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
                size_t e = cps.size();
                while (e > i && is_py_space(cps[e - 1]))
                    --e;
                parts.push_back(cps.substr(i, e - i));
                break;
            }
            size_t e = i;
            while (e < cps.size() && !is_py_space(cps[e]))
                ++e;
            parts.push_back(cps.substr(i, e - i));
            i = e;
        }
        if (from_right) std::reverse(parts.begin(), parts.end());
        for (auto& p : parts) {
            if (from_right) std::reverse(p.begin(), p.end());
            out.push_back(Value(to_utf8(p)));
        }
        return Value::list(std::move(out));
    }
    if (!sep.is_string()) throw TemplateError("must be str or None, not " + type_name(sep));
    const std::string& d = sep.str();
    if (d.empty()) throw TemplateError("empty separator");
    std::vector<std::string> parts;
    if (!from_right) {
        size_t pos = 0;
        while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
            const size_t hit = s.find(d, pos);
            if (hit == std::string::npos) break;
            parts.push_back(s.substr(pos, hit - pos));
            pos = hit + d.size();
        }
        parts.push_back(s.substr(pos));
    } else {
        size_t end = s.size();
        while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
            if (end < d.size()) break;
            const size_t hit = s.rfind(d, end - d.size());
            if (hit == std::string::npos) break;
            parts.push_back(s.substr(hit + d.size(), end - hit - d.size()));
            end = hit;
        }
        parts.push_back(s.substr(0, end));
        std::reverse(parts.begin(), parts.end());
    }
    for (auto& p : parts)
        out.push_back(Value(std::move(p)));
    return Value::list(std::move(out));
}

bool starts_or_ends(const std::string& s, const Value& affix, bool start) {
    auto one = [&](const Value& a) {
        if (!a.is_string()) throw TemplateError("startswith/endswith first arg must be str");
        const std::string& x = a.str();
        return x.size() <= s.size() && (start ? s.compare(0, x.size(), x) == 0
                                              : s.compare(s.size() - x.size(), x.size(), x) == 0);
    };
    if (affix.type() == Value::Type::Tuple) {
        for (const Value& a : affix.items())
            if (one(a)) return true;
        return false;
    }
    return one(affix);
}

bool all_of(const std::string& s, bool (*pred)(char32_t)) {
    const std::u32string cps = to_code_points(s);
    return !cps.empty() && std::all_of(cps.begin(), cps.end(), pred);
}

// str.format with {}, {0} and {name}; format specs are not supported.
std::string format_braces(const std::string& f, CallArgs& args) {
    std::string out;
    size_t auto_index = 0;
    for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] == '{' && i + 1 < f.size() && f[i + 1] == '{') {
            out += '{';
            ++i;
        } else if (f[i] == '}' && i + 1 < f.size() && f[i + 1] == '}') {
            out += '}';
            ++i;
        } else if (f[i] == '{') {
            const size_t close = f.find('}', i);
            if (close == std::string::npos) throw TemplateError("unmatched '{' in format string");
            const std::string field = f.substr(i + 1, close - i - 1);
            if (field.find_first_of(":!.[") != std::string::npos)
                throw TemplateError("format specs in str.format are not supported");
            const Value* v = nullptr;
            if (field.empty() || std::all_of(field.begin(), field.end(), ::isdigit)) {
                const size_t k = field.empty() ? auto_index++ : std::stoul(field);
                if (k >= args.args.size())
                    throw TemplateError("Replacement index " + std::to_string(k) +
                                        " out of range for positional args tuple");
                v = &args.args[k];
            } else {
                for (const auto& [key, value] : args.kwargs)
                    if (key == field) v = &value;
                if (!v) throw TemplateError("'" + field + "'");
            }
            out += to_str(*v);
            i = close;
        } else if (f[i] == '}') {
            throw TemplateError("single '}' encountered in format string");
        } else {
            out += f[i];
        }
    }
    return out;
}

Value string_method(const Value& obj, const std::string& name) {
    const std::string s = obj.str();
    auto bind = [&](auto body) {
        return method(name, [s, name, body](Interpreter& in, CallArgs& a) -> Value {
            return body(in, s, a);
        });
    };
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        return bind([name](Interpreter&, const std::string& str, CallArgs& a) {
            ArgReader r(name, a, {"chars"});
            const Value chars = r.get(0, Value::none());
            if (!chars.is_none() && !chars.is_string())
                throw TemplateError(name + " arg must be None or str");
            return Value(py_strip(str, chars.is_string() ? &chars.str() : nullptr, name != "rstrip",
                                  name != "lstrip"));
        });
    }
    if (name == "split" || name == "rsplit") {
        return bind([name](Interpreter&, const std::string& str, CallArgs& a) {
            ArgReader r(name, a, {"sep", "maxsplit"});
            const Value maxsplit = r.get(1, Value(-1));
            if (!maxsplit.is_int()) throw TemplateError("maxsplit must be an integer");
            return split(str, r.get(0, Value::none()), maxsplit.as_int(), name == "rsplit");
        });
    }
    if (name == "splitlines") {
        return bind([](Interpreter&, const std::string& str, CallArgs& a) {
            ArgReader r("splitlines", a, {"keepends"});
            List out;
            for (std::string& line : py_splitlines(str, truthy(r.get(0, Value(false)))))
                out.push_back(Value(std::move(line)));
            return Value::list(std::move(out));
        });
    }
    if (name == "startswith" || name == "endswith") {
        return bind([name](Interpreter&, const std::string& str, CallArgs& a) {
            ArgReader r(name, a, {"prefix"});
            return Value(starts_or_ends(str, r.get(0), name == "startswith"));
        });
    }
    if (name == "upper" || name == "lower" || name == "title" || name == "capitalize" ||
        name == "swapcase") {
        return bind([name](Interpreter&, const std::string& str, CallArgs& a) {
            ArgReader r(name, a, {});
            if (name == "upper") return Value(py_upper(str));
            if (name == "lower") return Value(py_lower(str));
            if (name == "title") return Value(py_title(str));
            if (name == "capitalize") return Value(py_capitalize(str));
            std::string out;
            for (char32_t c : to_code_points(str)) {
                const std::string one = to_utf8(std::u32string(1, c));
                const std::string up = py_upper(one);
                out += up != one ? up : py_lower(one);
            }
            return Value(out);
        });
    }
    if (name == "replace") {
        return bind([](Interpreter& in, const std::string& str, CallArgs& a) {
            ArgReader r("replace", a, {"old", "new", "count"});
            return Value(py_replace(str, arg_str(r, 0, nullptr), arg_str(r, 1, nullptr),
                                    r.get(2, Value(-1)).as_int(), in.limits().max_output_bytes));
        });
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex" ||
        name == "count") {
        return bind([name](Interpreter&, const std::string& str, CallArgs& a) {
            ArgReader r(name, a, {"sub"});
            const std::string sub = arg_str(r, 0, nullptr);
            if (name == "count") {
                if (sub.empty()) return Value(static_cast<int64_t>(code_point_count(str) + 1));
                int64_t n = 0;
                for (size_t p = str.find(sub); p != std::string::npos;
                     p = str.find(sub, p + sub.size()))
                    ++n;
                return Value(n);
            }
            const size_t p = name[0] == 'r' ? str.rfind(sub) : str.find(sub);
            if (p == std::string::npos) {
                if (name.find("index") != std::string::npos)
                    throw TemplateError("substring not found");
                return Value(-1);
            }
            return Value(static_cast<int64_t>(code_point_count(str.substr(0, p))));
        });
    }
    if (name == "join") {
        return bind([](Interpreter& in, const std::string& str, CallArgs& a) {
            ArgReader r("join", a, {"iterable"});
            std::string out;
            bool first = true;
            for (const Value& v : iterate(r.get(0))) {
                if (!v.is_string())
                    throw TemplateError("sequence item: expected str instance, " + type_name(v) +
                                        " found");
                if (!first) out += str;
                first = false;
                out += v.str();
                check_size(in, out.size());
            }
            return Value(out);
        });
    }
    if (name == "isdigit" || name == "isnumeric" || name == "isdecimal" || name == "isalpha" ||
        name == "isalnum" || name == "isspace" || name == "isupper" || name == "islower") {
        return bind([name](Interpreter&, const std::string& str, CallArgs& a) {
            ArgReader r(name, a, {});
            if (name == "isspace") return Value(all_of(str, is_py_space));
            if (name == "isupper") return Value(py_lower(str) != str && py_upper(str) == str);
            if (name == "islower") return Value(py_upper(str) != str && py_lower(str) == str);
            auto digit = [](char32_t c) { return c >= '0' && c <= '9'; };
            auto alpha = [](char32_t c) {
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0xC0;
            };
            auto alnum = [](char32_t c) {
                return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       c >= 0xC0;
            };
            if (name == "isalpha") return Value(all_of(str, +alpha));
            if (name == "isalnum") return Value(all_of(str, +alnum));
            return Value(all_of(str, +digit));
        });
    }
    if (name == "removeprefix" || name == "removesuffix") {
        return bind([name](Interpreter&, const std::string& str, CallArgs& a) {
            ArgReader r(name, a, {"affix"});
            const std::string x = arg_str(r, 0, nullptr);
            if (name == "removeprefix")
                return Value(str.compare(0, x.size(), x) == 0 ? str.substr(x.size()) : str);
            return Value(x.size() <= str.size() &&
                                 str.compare(str.size() - x.size(), x.size(), x) == 0
                             ? str.substr(0, str.size() - x.size())
                             : str);
        });
    }
    if (name == "center" || name == "ljust" || name == "rjust" || name == "zfill") {
        return bind([name](Interpreter& in, const std::string& str, CallArgs& a) {
            ArgReader r(name, a, {"width", "fillchar"});
            const int64_t width = r.get(0).as_int();
            const std::string fill = name == "zfill" ? "0" : to_str(r.get(1, Value(" ")));
            check_size(in, static_cast<size_t>(std::max<int64_t>(width, 0)) * fill.size());
            const auto len = static_cast<int64_t>(code_point_count(str));
            if (width <= len) return Value(str);
            const int64_t pad = width - len;
            int64_t left = name == "rjust" || name == "zfill" ? pad
                           : name == "ljust"                  ? 0
                                                              : pad / 2 + (pad & width & 1);
            auto rep = [&](int64_t n) {
                std::string o;
                for (int64_t i = 0; i < n; ++i)
                    o += fill;
                return o;
            };
            if (name == "zfill" && !str.empty() && (str[0] == '-' || str[0] == '+'))
                return Value(str.substr(0, 1) + rep(left) + str.substr(1));
            return Value(rep(left) + str + rep(pad - left));
        });
    }
    if (name == "partition" || name == "rpartition") {
        return bind([name](Interpreter&, const std::string& str, CallArgs& a) {
            ArgReader r(name, a, {"sep"});
            const std::string sep = arg_str(r, 0, nullptr);
            if (sep.empty()) throw TemplateError("empty separator");
            const size_t p = name == "partition" ? str.find(sep) : str.rfind(sep);
            if (p == std::string::npos)
                return name == "partition" ? Value::tuple({Value(str), Value(""), Value("")})
                                           : Value::tuple({Value(""), Value(""), Value(str)});
            return Value::tuple(
                {Value(str.substr(0, p)), Value(sep), Value(str.substr(p + sep.size()))});
        });
    }
    if (name == "format") {
        return bind([](Interpreter&, const std::string& str, CallArgs& a) {
            return Value(format_braces(str, a));
        });
    }
    return no_attribute(obj, name);
}

Value dict_method(const Value& obj, const std::string& name) {
    if (name == "items" || name == "keys" || name == "values") {
        return method(name, [obj, name](Interpreter&, CallArgs& a) {
            ArgReader r(name, a, {});
            List out;
            for (const auto& [k, v] : obj.dict().entries)
                out.push_back(name == "items" ? Value::tuple({k, v}) : name == "keys" ? k : v);
            return Value::list(std::move(out));
        });
    }
    if (name == "get") {
        return method(name, [obj](Interpreter&, CallArgs& a) {
            ArgReader r("get", a, {"key", "default"});
            const Value* v = obj.dict().find(r.get(0));
            return v ? *v : r.get(1, Value::none());
        });
    }
    if (name == "copy") {
        return method(name, [obj](Interpreter&, CallArgs&) { return Value::dict(obj.dict()); });
    }
    return Value();
}

Value list_method(const Value& obj, const std::string& name) {
    if (name == "index" || name == "count") {
        return method(name, [obj, name](Interpreter&, CallArgs& a) {
            ArgReader r(name, a, {"value"});
            const Value x = r.get(0);
            int64_t n = 0;
            for (size_t i = 0; i < obj.items().size(); ++i) {
                if (!equals(obj.items()[i], x)) continue;
                if (name == "index") return Value(static_cast<int64_t>(i));
                ++n;
            }
            if (name == "index") throw TemplateError(repr(x) + " is not in list");
            return Value(n);
        });
    }
    if (name == "copy" && obj.type() == Value::Type::Array) {
        return method(name, [obj](Interpreter&, CallArgs&) { return Value::list(obj.items()); });
    }
    return Value();
}

bool is_mutator(const Value& obj, const std::string& name) {
    static const char* const kList[] = {"append", "extend",  "insert", "pop",
                                        "remove", "reverse", "sort",   "clear"};
    static const char* const kDict[] = {"update", "pop", "popitem", "setdefault", "clear"};
    if (obj.type() == Value::Type::Array)
        return std::find(std::begin(kList), std::end(kList), name) != std::end(kList);
    if (obj.is_dict())
        return std::find(std::begin(kDict), std::end(kDict), name) != std::end(kDict);
    return false;
}

}  // namespace

Value get_attribute(const Value& obj, const std::string& name) {
    if (obj.is_namespace()) {
        const Value* v = obj.dict().find(std::string_view(name));
        return v ? *v : Value::undefined("'Namespace object' has no attribute '" + name + "'");
    }
    if (is_mutator(obj, name))
        return Value::undefined("access to attribute '" + name + "' of '" + type_name(obj) +
                                "' object is unsafe.");
    if (obj.is_dict()) {
        Value m = dict_method(obj, name);
        if (!m.is_undefined()) return m;
        const Value* v = obj.dict().find(std::string_view(name));
        return v ? *v : no_attribute(obj, name);
    }
    if (obj.is_string()) return string_method(obj, name);
    if (obj.is_sequence() && !obj.is_iterator()) {
        Value m = list_method(obj, name);
        return m.is_undefined() ? no_attribute(obj, name) : m;
    }
    return no_attribute(obj, name);
}

Value get_item(const Value& obj, const Value& key) {
    if (obj.is_dict() || obj.is_namespace()) {
        const Value* v = obj.dict().find(key);
        if (v) return *v;
        if (key.is_string()) return get_attribute(obj, key.str());
        return Value::undefined("'dict object' has no attribute " + repr(key));
    }
    if (obj.is_iterator()) return Value::undefined(object_name(obj) + " is not subscriptable");
    if ((obj.is_sequence() || obj.is_string()) && key.is_int()) {
        if (obj.is_string()) {
            const std::u32string cps = to_code_points(obj.str());
            const int64_t i = index_of(key.as_int(), cps.size());
            if (i < 0) return Value::undefined("string index out of range");
            return Value(to_utf8(std::u32string(1, cps[static_cast<size_t>(i)])));
        }
        const int64_t i = index_of(key.as_int(), obj.items().size());
        if (i < 0)
            return Value::undefined(object_name(obj) + " has no attribute " +
                                    std::to_string(key.as_int()));
        return obj.items()[static_cast<size_t>(i)];
    }
    if (key.is_string()) return get_attribute(obj, key.str());
    return Value::undefined(object_name(obj) + " has no attribute " + repr(key));
}

Value get_slice(const Value& obj, const Value* start, const Value* stop, const Value* step) {
    auto part = [](const Value* v, const char* what) -> std::optional<int64_t> {
        if (!v || v->is_none()) return std::nullopt;
        if (!v->is_int())
            throw TemplateError(std::string("slice ") + what + " must be an integer or None, not " +
                                type_name(*v));
        return v->as_int();
    };
    const int64_t st = part(step, "step").value_or(1);
    if (st == 0) throw TemplateError("slice step cannot be zero");
    std::u32string cps;
    if (obj.is_string()) {
        cps = to_code_points(obj.str());
    } else if (obj.is_dict()) {
        throw TemplateError("unhashable type: 'slice'");  // dict[a:b], as Python says it
    } else if (!obj.is_sequence() || obj.is_iterator()) {
        // jinja2 slices with Python's own subscript, not its forgiving getitem.
        throw TemplateError("'" + type_name(obj) + "' object is not subscriptable");
    }
    const auto n = static_cast<int64_t>(obj.is_string() ? cps.size() : obj.items().size());
    // Python's slice.indices().
    auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
        if (!v) return dflt;
        int64_t x = *v;
        if (x < 0) x += n;
        if (st > 0) return std::clamp<int64_t>(x, 0, n);
        return std::clamp<int64_t>(x, -1, n - 1);
    };
    const int64_t b = clamp(part(start, "start"), st > 0 ? 0 : n - 1);
    const int64_t e = clamp(part(stop, "stop"), st > 0 ? n : -1);
    std::u32string text;
    List items;
    for (int64_t i = b; st > 0 ? i < e : i > e; i += st) {
        if (obj.is_string()) {
            text += cps[static_cast<size_t>(i)];
        } else {
            items.push_back(obj.items()[static_cast<size_t>(i)]);
        }
    }
    if (obj.is_string()) return Value(to_utf8(text));
    return obj.type() == Value::Type::Tuple ? Value::tuple(std::move(items))
                                            : Value::list(std::move(items));
}

}  // namespace lc::jinja
