// Reads the textual IR that Printer writes, exactly as written: no type inference, folding or CSE.
#pragma once

#include "ir/Function.h"
#include "nabla/Diagnostic.h"

namespace nabla {

/// The functions of a file in the textual IR form, verified; or a `file:line:col` diagnostic.
/// Never throws.
Expected<Module> parseIr(const SourceFile &file);
/// A file holding exactly one function.
Expected<Function> parseIrFunction(const SourceFile &file);

} // namespace nabla
