// Semantic analysis: resolves names, checks dtypes and shapes, makes broadcasting explicit,
// expands layers, inlines calls, and lowers a parsed file to IR.
#pragma once

#include "frontend/Ast.h"
#include "ir/Function.h"
#include "nabla/Diagnostic.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nabla {

struct SemaOptions {
  /// Values for model header dimensions, overriding their defaults (`--dim d=16`); a runtime
  /// dimension named here becomes a constant.
  std::map<std::string, std::int64_t> dims;
};

/// Lowers every `fn` and `model` of a parsed file to IR, in source order.
Expected<Module> analyze(const ast::File &file, const SourceFile &source,
                         const SemaOptions &options = {});

/// Parses and analyzes a file.
Expected<Module> compileSource(const SourceFile &source, const SemaOptions &options = {});

/// Lowers a lone expression whose free names (other than built-ins) are f64 scalar variables, as
/// `nabla diff 'EXPR' x` reads it. `variables` lists names that must be arguments even if the
/// expression does not use them; the arguments come in that order, then the others by first use.
Expected<Function> analyzeExpression(const ast::ExprPtr &expr, const SourceFile &source,
                                     const std::vector<std::string> &variables,
                                     const std::string &name = "expr");

/// Whether `name` is a built-in function or constant (which a definition may not rebind).
bool isBuiltinName(const std::string &name);

} // namespace nabla
