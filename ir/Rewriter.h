// Rebuilding one function into another through a value map: the loop that every pass shares.
#pragma once

#include "ir/Builder.h"
#include "ir/Function.h"

#include <string>
#include <vector>

namespace nabla {

/// A function under construction from `source`. `map(v)` is where source value v went; a pass
/// visits the source's instructions in order and says where each goes (`set`), usually by
/// re-emitting it through `builder()` (`copy`), which folds constants and shares equal values.
/// `finish()` carries the result and the outputs over.
class Rewriter {
public:
  /// An empty function named `name`, with `source`'s kind, runtime dimensions and initializers.
  Rewriter(const Function &source, std::string name);
  Rewriter(const Rewriter &) = delete;
  Rewriter &operator=(const Rewriter &) = delete;

  const Function &source() const { return source_; }
  Function &target() { return target_; }
  Builder &builder() { return builder_; }

  ValueId map(ValueId v) const { return map_[v]; }
  const std::vector<ValueId> &valueMap() const { return map_; }
  void set(ValueId v, ValueId to) { map_[v] = to; }

  /// Source instruction `v` with its operands moved into the target.
  Inst mapped(ValueId v) const;
  /// Re-emits source instruction `v` (op, attributes, declared type) through the builder.
  ValueId copy(ValueId v);
  /// Copies every instruction: the start of a derivative pass, which then adds its own.
  void copyAll();
  /// Appends source instruction `v` as it is, without folding or sharing it.
  ValueId keep(ValueId v);

  /// Sets the target's result and outputs to the source's, mapped, and hands the target over.
  /// A pass that adds outputs appends them to the returned function.
  Function finish();

private:
  const Function &source_;
  Function target_;
  Builder builder_; // builds into target_, so declared after it
  std::vector<ValueId> map_;
};

} // namespace nabla
