// The IR: ops, attributes, typed SSA instructions and functions.
#pragma once

#include "ir/Type.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace nabla {

enum class Op : std::uint8_t {
#define NABLA_OP(Name, mnemonic) Name,
#include "ir/Ops.def"
};

inline constexpr std::size_t kOpCount = 0
#define NABLA_OP(Name, mnemonic) +1
#include "ir/Ops.def"
    ;

/// The printed name of an op (`leaky_relu`).
std::string_view mnemonic(Op op);
/// The op with a given mnemonic.
std::optional<Op> opFromMnemonic(std::string_view name);

/// The kinds of attribute an op can declare.
enum class AttrKind : std::uint8_t { Int, Float, Ints, Floats, Dims, DTypeAttr, String };

/// An attribute value; which alternative is set follows the op's AttrSpec.
using AttrValue = std::variant<std::int64_t, double, std::vector<std::int64_t>,
                               std::vector<double>, Shape, DType, std::string>;

/// Whether `value` holds the alternative that attribute kind `kind` calls for.
bool attrFits(const AttrValue &value, AttrKind kind);

/// An SSA value is named by the index of the instruction that defines it.
using ValueId = std::uint32_t;

struct Function;

/// One instruction: `%id: type = op operands {attrs}`, followed by its regions, if it has any.
struct Inst {
  Op op;
  Type type;
  std::vector<ValueId> operands;
  std::vector<AttrValue> attrs; // positional, in the order of the op's AttrSpec list
  /// The bodies of a loop (ir/Loop.h): functions of their own, immutable once built, so that
  /// copying an instruction shares them.
  std::vector<std::shared_ptr<const Function>> regions;

  std::int64_t intAttr(std::string_view name) const;
  double floatAttr(std::string_view name) const;
  const std::vector<std::int64_t> &intsAttr(std::string_view name) const;
  const std::vector<double> &floatsAttr(std::string_view name) const;
  const Shape &dimsAttr(std::string_view name) const;
  DType dtypeAttr(std::string_view name) const;
  const std::string &stringAttr(std::string_view name) const;

private:
  const AttrValue &attr(std::string_view name) const;
};

/// What a named result is: a model's `output`, or a derivative that a pass added.
enum class OutputRole : std::uint8_t { Output, Gradient, Tangent };

/// The keyword that introduces a named result in the textual IR: `output`, `grad`, `tangent`.
const char *outputRoleKeyword(OutputRole role);

/// A named result besides the main one (a model's `output`, a gradient, a tangent).
struct NamedValue {
  std::string name;
  ValueId value;
  OutputRole role = OutputRole::Output;
};

/// How nabla creates a model param when it makes one itself (`~ normal(0, 0.1)`).
struct ParamInit {
  std::string param;
  std::string kind; // zeros, ones, normal, uniform, glorot
  std::vector<double> args;
};

/// A function or model in SSA form. Instructions are in dependency order; the arguments are the
/// `input` and `param` instructions, in the order they appear.
struct Function {
  enum class Kind : std::uint8_t { Fn, Model };

  std::string name;
  Kind kind = Kind::Fn;
  std::vector<std::string> dimParams; // runtime dimensions, bound from argument shapes at a call
  std::vector<Inst> insts;
  std::vector<NamedValue> outputs; // a model's `output` values in source order, then derivatives
  ValueId result = 0;              // the value of a fn; the loss of a model
  std::vector<ValueId> yields;     // a loop body's results (ir/Loop.h); empty elsewhere
  std::vector<ParamInit> inits;    // a model's param initializers (not part of the textual IR)

  const Inst &inst(ValueId v) const { return insts[v]; }
  const Type &typeOf(ValueId v) const { return insts[v].type; }
  /// The `input` and `param` instructions in order.
  std::vector<ValueId> arguments() const;
  /// The argument named `name`, if any.
  std::optional<ValueId> argument(std::string_view name) const;

  /// A function with this one's kind, runtime dimensions and initializers, named `newName`,
  /// and no instructions yet: the start of a pass's output.
  Function emptyLike(std::string newName) const;
};

/// A compiled file: its functions and models, in source order.
struct Module {
  std::vector<Function> functions;

  const Function *find(std::string_view name) const;
};

} // namespace nabla
