// A template: source to statements once, statements to text per render (see template.h).
#include "formats/jinja/template.h"

#include "formats/jinja/lexer.h"
#include "formats/jinja/parser.h"

namespace lc::jinja {

Template::Template(std::string_view source) : body_(parse(tokenize(source))) {}

std::string Template::render(const Dict& variables, const Limits& limits) const {
    Interpreter interpreter(limits);
    return interpreter.render(body_, variables);
}

}  // namespace lc::jinja
