#pragma once
// A Jinja template as transformers renders chat templates: jinja2 3.1 in an
// ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks, loop controls, `{% generation %}`
// and the globals raise_exception() and strftime_now(). Parsed once, rendered many times (render
// is const and may run on several threads at once).
#include <string>
#include <string_view>
#include <vector>

#include "formats/jinja/ast.h"
#include "formats/jinja/interpreter.h"
#include "formats/jinja/value.h"

namespace lc::jinja {

class Template {
public:
    // Throws TemplateError ("line N: ...") for what jinja2 would refuse to compile.
    explicit Template(std::string_view source);

    // `variables` by name (messages, add_generation_prompt, bos_token...). Throws TemplateError:
    // "line N: ..." for an error, the template's own message for raise_exception() (`raised`).
    std::string render(const Dict& variables, const Limits& limits = {}) const;

private:
    std::vector<NodePtr> body_;
};

}  // namespace lc::jinja
