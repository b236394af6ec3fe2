#pragma once
// Tokens to the statements of a template, with jinja2's grammar and operator precedence. Unknown
// tags, filters and tests are errors here, as jinja2 reports them when it compiles a template.
#include <vector>

#include "formats/jinja/ast.h"
#include "formats/jinja/lexer.h"

namespace lc::jinja {

// Deeper nesting (of expressions or blocks) than this is an error, not a stack overflow.
inline constexpr int kMaxNesting = 256;

// Throws TemplateError ("line N: ...").
std::vector<NodePtr> parse(const std::vector<Token>& tokens);

}  // namespace lc::jinja
