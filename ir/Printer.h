// The textual form of the IR: one instruction per line, values numbered densely in order.
#pragma once

#include "ir/Function.h"

#include <string>

namespace nabla {

/// `func @f[n] {` ... `}` followed by a newline; IrParser reads it back to an equal Function.
std::string print(const Function &f);
/// The functions of a module, separated by one blank line.
std::string print(const Module &m);

/// The IR as a Graphviz digraph, operands pointing at their users (`nabla emit dot`).
std::string printDot(const Function &f);
/// One instruction without indentation or newline: `%3: f64[n] = add %1, %2`. Tolerates broken
/// instructions (missing attributes, dangling operands) so that the verifier can quote them.
std::string printInst(const Function &f, ValueId v);

/// A loop body as it prints inside its loop, braces included (its name is not part of it).
std::string printRegion(const Function &body);

/// An attribute value as it appears after `name=`: `3`, `2.5`, `[0, 1]`, `[B, 784]`, `f32`, `"x"`.
std::string printAttrValue(const AttrValue &value);
/// The shortest decimal that reads back to exactly `x`, always recognizable as a float: it
/// contains '.' or 'e', or is `nan`, `inf` or `-inf`.
std::string printFloat(double x);
/// A double-quoted string with `\"`, `\\` and control characters escaped.
std::string quoteString(const std::string &s);
/// `name` unchanged when it lexes as one identifier, quoted otherwise (for `@"odd name"`).
std::string printName(const std::string &name);

} // namespace nabla
