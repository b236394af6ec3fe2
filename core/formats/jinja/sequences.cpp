// jinja2's builtin filters for sequences and mappings (first, join, map, select, sort, ...)
// with their Python behaviour. An undefined value goes in as an empty sequence, as jinja2's
// Undefined iterates. Where jinja2 returns a generator (map, select..., unique, batch, items)
// so do these: always true, without a length or an index.
#include <algorithm>
#include <cctype>

#include "formats/jinja/builtins.h"
#include "formats/jinja/interpreter.h"
#include "formats/jinja/text.h"

namespace lc::jinja {

namespace {

// `item.a.b` / `item.0` for map/selectattr/sort/sum's attribute=: each part looked up as
// obj[part], digits as an index.
Value attr_path(const Value& item, const Value& attribute) {
    if (!attribute.is_string()) return get_item(item, attribute);
    Value v = item;
    size_t pos = 0;
    const std::string& path = attribute.str();
    while (true) {
        const size_t dot = path.find('.', pos);
        const std::string part = path.substr(pos, dot == std::string::npos ? dot : dot - pos);
        const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
        if (v.is_undefined()) v.throw_undefined();
        v = digits ? get_item(v, Value(static_cast<int64_t>(std::stoll(part))))
                   : get_item(v, Value(part));
        if (dot == std::string::npos) return v;
        pos = dot + 1;
    }
}

// jinja2's ignore_case: strings compare lowercased unless case_sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
    return !case_sensitive && v.is_string() ? Value(py_lower(v.str())) : v;
}

std::string text(const Value& v) {
    return to_str(v);
}

Value f_list(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("list", a, {});
    return Value::list(iterate(v));
}

Value f_first(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("first", a, {});
    const List items = iterate(v);
    return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("last", a, {});
    if (v.is_iterator()) throw TemplateError("'" + type_name(v) + "' object is not reversible");
    const List items = iterate(v);
    return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_join(Interpreter& in, const Value& v, CallArgs& a) {
    ArgReader r("join", a, {"d", "attribute"});
    const std::string sep = text(r.get(0, Value("")));
    const Value attribute = r.get(1, Value::none());
    std::string out;
    bool first = true;
    for (const Value& item : iterate(v)) {
        if (!first) out += sep;
        first = false;
        out += text(attribute.is_none() ? item : attr_path(item, attribute));
        check_size(in, out.size());
    }
    return Value(std::move(out));
}

Value f_items(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("items", a, {});
    if (v.is_undefined()) return Value::iterator({});
    if (!v.is_dict()) throw TemplateError("Can only get item pairs from a mapping.");
    List out;
    for (const auto& [k, val] : v.dict().entries)
        out.push_back(Value::tuple({k, val}));
    return Value::iterator(std::move(out));
}

Value f_map(Interpreter& in, const Value& v, CallArgs& a) {
    List out;
    if (a.args.empty()) {  // map(attribute='x', default=y)
        ArgReader r("map", a, {"attribute", "default"});
        if (!r.given(0)) throw TemplateError("map requires a filter argument");
        const Value fallback = r.get(1, Value::none());
        for (const Value& item : iterate(v)) {
            Value x = attr_path(item, r.get(0));
            out.push_back(x.is_undefined() && !fallback.is_none() ? fallback : x);
        }
        return Value::iterator(std::move(out));
    }
    const std::string name = text(a.args[0]);
    if (!has_filter(name)) throw TemplateError("no filter named '" + name + "'");
    for (const Value& item : iterate(v)) {
        CallArgs rest{std::vector<Value>(a.args.begin() + 1, a.args.end()), a.kwargs};
        out.push_back(apply_filter(in, name, item, rest));
    }
    return Value::iterator(std::move(out));
}

// select/reject and selectattr/rejectattr.
Value select_items(Interpreter& in, const Value& v, CallArgs& a, bool keep, bool by_attr) {
    size_t off = 0;
    Value attribute;
    if (by_attr) {
        if (a.args.empty()) throw TemplateError("Missing parameter for attribute name");
        attribute = a.args[0];
        off = 1;
    }
    const bool has_test_name = a.args.size() > off;
    const std::string test = has_test_name ? text(a.args[off]) : "";
    if (has_test_name && !has_test(test)) throw TemplateError("no test named '" + test + "'");
    List out;
    for (const Value& item : iterate(v)) {
        const Value x = by_attr ? attr_path(item, attribute) : item;
        bool ok;
        if (has_test_name) {
            CallArgs rest{
                std::vector<Value>(a.args.begin() + static_cast<long>(off) + 1, a.args.end()),
                a.kwargs};
            ok = apply_test(in, test, x, rest);
        } else {
            ok = truthy(x);
        }
        if (ok == keep) out.push_back(item);
    }
    return Value::iterator(std::move(out));
}

Value f_select(Interpreter& in, const Value& v, CallArgs& a) {
    return select_items(in, v, a, true, false);
}

Value f_reject(Interpreter& in, const Value& v, CallArgs& a) {
    return select_items(in, v, a, false, false);
}

Value f_selectattr(Interpreter& in, const Value& v, CallArgs& a) {
    return select_items(in, v, a, true, true);
}

Value f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) {
    return select_items(in, v, a, false, true);
}

Value f_sort(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("sort", a, {"reverse", "case_sensitive", "attribute"});
    const bool reverse = truthy(r.get(0, Value(false)));
    const bool cs = truthy(r.get(1, Value(false)));
    const Value attribute = r.get(2, Value::none());
    List items = iterate(v);
    std::vector<std::pair<Value, size_t>> keyed;
    for (size_t i = 0; i < items.size(); ++i)
        keyed.emplace_back(
            sort_key(attribute.is_none() ? items[i] : attr_path(items[i], attribute), cs), i);
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
        return reverse ? compare(y.first, x.first, "<") < 0 : compare(x.first, y.first, "<") < 0;
    });
    List out;
    for (const auto& k : keyed)
        out.push_back(items[k.second]);
    return Value::list(std::move(out));
}

Value f_dictsort(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("dictsort", a, {"case_sensitive", "by", "reverse"});
    if (v.is_undefined()) v.throw_undefined();
    if (!v.is_dict()) throw TemplateError("dictsort needs a mapping");
    const bool cs = truthy(r.get(0, Value(false)));
    const std::string by = text(r.get(1, Value("key")));
    if (by != "key" && by != "value")
        throw TemplateError("You can only sort by either \"key\" or \"value\"");
    const bool reverse = truthy(r.get(2, Value(false)));
    std::vector<std::pair<Value, Value>> entries = v.dict().entries;
    std::stable_sort(entries.begin(), entries.end(), [&](const auto& x, const auto& y) {
        const Value kx = sort_key(by == "key" ? x.first : x.second, cs);
        const Value ky = sort_key(by == "key" ? y.first : y.second, cs);
        return reverse ? compare(ky, kx, "<") < 0 : compare(kx, ky, "<") < 0;
    });
    List out;
    for (auto& [k, val] : entries)
        out.push_back(Value::tuple({k, val}));
    return Value::list(std::move(out));
}

Value f_unique(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("unique", a, {"case_sensitive", "attribute"});
    const bool cs = truthy(r.get(0, Value(false)));
    const Value attribute = r.get(1, Value::none());
    List seen, out;
    for (const Value& item : iterate(v)) {
        const Value key = sort_key(attribute.is_none() ? item : attr_path(item, attribute), cs);
        if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); }))
            continue;
        seen.push_back(key);
        out.push_back(item);
    }
    return Value::iterator(std::move(out));
}

Value min_or_max(const Value& v, CallArgs& a, bool want_max) {
    ArgReader r(want_max ? "max" : "min", a, {"case_sensitive", "attribute"});
    const bool cs = truthy(r.get(0, Value(false)));
    const Value attribute = r.get(1, Value::none());
    const List items = iterate(v);
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    size_t best = 0;
    auto key = [&](size_t i) {
        return sort_key(attribute.is_none() ? items[i] : attr_path(items[i], attribute), cs);
    };
    for (size_t i = 1; i < items.size(); ++i) {
        const int c = compare(key(i), key(best), want_max ? ">" : "<");
        if (want_max ? c > 0 : c < 0) best = i;
    }
    return items[best];
}

Value f_max(Interpreter&, const Value& v, CallArgs& a) {
    return min_or_max(v, a, true);
}

Value f_min(Interpreter&, const Value& v, CallArgs& a) {
    return min_or_max(v, a, false);
}

Value f_sum(Interpreter& in, const Value& v, CallArgs& a) {
    ArgReader r("sum", a, {"attribute", "start"});
    const Value attribute = r.get(0, Value::none());
    Value total = r.get(1, Value(0));
    for (const Value& item : iterate(v))
        total = binary_op(in, "+", total, attribute.is_none() ? item : attr_path(item, attribute));
    return total;
}

// A string reversed; a generator's items as a list; a list's as an iterator (reversed()).
Value f_reverse(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("reverse", a, {});
    if (v.is_string()) {
        std::u32string s = to_code_points(v.str());
        std::reverse(s.begin(), s.end());
        return Value(to_utf8(s));
    }
    List items = iterate(v);
    std::reverse(items.begin(), items.end());
    if (v.is_sequence() && !v.is_iterator()) return Value::iterator(std::move(items), "reversed");
    return Value::list(std::move(items));
}

Value f_attr(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("attr", a, {"name"});
    if (v.is_undefined()) v.throw_undefined();
    return get_attribute(v, text(r.get(0)));
}

Value f_batch(Interpreter&, const Value& v, CallArgs& a) {
    ArgReader r("batch", a, {"linecount", "fill_with"});
    const int64_t n = r.get(0).as_int();
    if (n <= 0) throw TemplateError("batch: linecount must be positive");
    const Value fill = r.get(1, Value::none());
    List out, row;
    for (const Value& item : iterate(v)) {
        if (static_cast<int64_t>(row.size()) == n) {
            out.push_back(Value::list(std::move(row)));
            row.clear();
        }
        row.push_back(item);
    }
    if (!row.empty()) {
        while (!fill.is_none() && static_cast<int64_t>(row.size()) < n)
            row.push_back(fill);
        out.push_back(Value::list(std::move(row)));
    }
    return Value::iterator(std::move(out));
}

}  // namespace

const FilterTable& sequence_filters() {
    static const FilterTable m = {
        {"attr", f_attr},
        {"batch", f_batch},
        {"dictsort", f_dictsort},
        {"first", f_first},
        {"items", f_items},
        {"join", f_join},
        {"last", f_last},
        {"list", f_list},
        {"map", f_map},
        {"max", f_max},
        {"min", f_min},
        {"reject", f_reject},
        {"rejectattr", f_rejectattr},
        {"reverse", f_reverse},
        {"select", f_select},
        {"selectattr", f_selectattr},
        {"sort", f_sort},
        {"sum", f_sum},
        {"unique", f_unique},
    };
    return m;
}

}  // namespace lc::jinja
