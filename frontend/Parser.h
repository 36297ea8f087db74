// Entry points of the Boost.Spirit X3 parser; X3 itself stays inside frontend/*.cpp.
#pragma once

#include "frontend/Ast.h"
#include "nabla/Diagnostic.h"

namespace nabla {

/// Expressions nested deeper than this (parentheses, brackets, unary minus, `^` chains) are
/// rejected with a diagnostic instead of exhausting the stack.
inline constexpr int kMaxNestingDepth = 256;

/// Parses a whole .nabla file.
Expected<ast::File> parseFile(const SourceFile &file);

/// Parses a single expression spanning the whole text (e.g. the EXPR of `nabla diff 'EXPR' x`).
Expected<ast::ExprPtr> parseExpression(const SourceFile &file);

} // namespace nabla
