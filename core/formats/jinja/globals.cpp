// The globals of a template (range, dict, namespace; transformers' raise_exception and
// strftime_now), iteration as Python does it, and the binding of builtins' arguments.
#include <algorithm>
#include <ctime>

#include "formats/jinja/builtins.h"
#include "formats/jinja/interpreter.h"
#include "formats/jinja/text.h"

namespace lc::jinja {

namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE: range() is capped as there

Value method(const std::string& name, NativeFn fn) {
    return Value::callable(name, std::move(fn));
}

}  // namespace

List iterate(const Value& v) {
    switch (v.type()) {
        case Value::Type::Undefined:
            return {};
        case Value::Type::Array:
        case Value::Type::Tuple:
            return v.items();
        case Value::Type::Map: {
            List keys;
            for (const auto& [k, val] : v.dict().entries)
                keys.push_back(k);
            return keys;
        }
        case Value::Type::String: {
            List chars;
            for (char32_t c : to_code_points(v.str()))
                chars.push_back(Value(to_utf8(std::u32string(1, c))));
            return chars;
        }
        default:
            throw TemplateError("'" + type_name(v) + "' object is not iterable");
    }
}

void add_globals(Dict& g) {
    g.set("range", method("range", [](Interpreter&, CallArgs& a) {
              if (!a.kwargs.empty()) throw TemplateError("range() takes no keyword arguments");
              if (a.args.empty() || a.args.size() > 3)
                  throw TemplateError("range expected 1 to 3 arguments, got " +
                                      std::to_string(a.args.size()));
              for (const Value& v : a.args)
                  if (!v.is_int())
                      throw TemplateError("'" + type_name(v) +
                                          "' object cannot be interpreted as an integer");
              const int64_t start = a.args.size() > 1 ? a.args[0].as_int() : 0;
              const int64_t stop = a.args.size() > 1 ? a.args[1].as_int() : a.args[0].as_int();
              const int64_t step = a.args.size() > 2 ? a.args[2].as_int() : 1;
              if (step == 0) throw TemplateError("range() arg 3 must not be zero");
              const double count = (static_cast<double>(stop) - static_cast<double>(start)) /
                                   static_cast<double>(step);
              if (count > static_cast<double>(kMaxRange))
                  throw TemplateError(
                      "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
              List out;
              for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
                  out.push_back(Value(i));
              return Value::list(std::move(out));
          }));
    auto mapping = [](const char* fn, CallArgs& a) {
        Dict d;
        if (a.args.size() > 1) throw TemplateError(std::string(fn) + " takes at most 1 argument");
        if (a.args.size() == 1) {
            if (a.args[0].is_dict() || a.args[0].is_namespace()) {
                d = a.args[0].dict();
            } else {
                for (const Value& pair : iterate(a.args[0])) {
                    const List kv = iterate(pair);
                    if (kv.size() != 2)
                        throw TemplateError(
                            "dictionary update sequence element "
                            "has the wrong length");
                    d.set(kv[0], kv[1]);
                }
            }
        }
        for (auto& [k, v] : a.kwargs)
            d.set(Value(k), v);
        return d;
    };
    g.set("dict", method("dict", [mapping](Interpreter&, CallArgs& a) {
              return Value::dict(mapping("dict", a));
          }));
    g.set("namespace", method("namespace", [mapping](Interpreter& in, CallArgs& a) {
              return in.make_namespace(mapping("namespace", a));
          }));
    // transformers' globals for chat templates.
    g.set("raise_exception", method("raise_exception", [](Interpreter&, CallArgs& a) -> Value {
              ArgReader r("raise_exception", a, {"message"});
              throw TemplateError(to_str(r.get(0)), true);
          }));
    g.set("strftime_now", method("strftime_now", [](Interpreter&, CallArgs& a) {
              ArgReader r("strftime_now", a, {"format"});
              const std::time_t now = std::time(nullptr);
              std::tm tm{};
              localtime_r(&now, &tm);
              char buf[512];
              const size_t n = std::strftime(buf, sizeof buf, to_str(r.get(0)).c_str(), &tm);
              return Value(std::string(buf, n));
          }));
}

ArgReader::ArgReader(std::string function, CallArgs& args,
                     std::initializer_list<const char*> params)
    : function_(std::move(function)), values_(params.size()) {
    if (args.args.size() > params.size())
        throw TemplateError(function_ + "() takes at most " + std::to_string(params.size()) +
                            " arguments (" + std::to_string(args.args.size()) + " given)");
    for (size_t i = 0; i < args.args.size(); ++i)
        values_[i] = args.args[i];
    for (auto& [key, value] : args.kwargs) {
        // An init-capture: clang before 16 cannot capture a structured binding by name.
        const auto it = std::find_if(params.begin(), params.end(),
                                     [&key = key](const char* p) { return key == p; });
        if (it == params.end())
            throw TemplateError(function_ + "() got an unexpected keyword argument '" + key + "'");
        const auto i = static_cast<size_t>(it - params.begin());
        if (values_[i])
            throw TemplateError(function_ + "() got multiple values for argument '" + key + "'");
        values_[i] = value;
    }
}

Value ArgReader::get(size_t i, const Value& fallback) const {
    return i < values_.size() && values_[i] ? *values_[i] : fallback;
}

bool ArgReader::given(size_t i) const {
    return i < values_.size() && values_[i].has_value();
}

}  // namespace lc::jinja
