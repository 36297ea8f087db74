// The plan as text: one line per loop, its fused values and what it stores, then the matrix
// products with their decision rules and the result slots (golden tests, tests/golden/plan/).
#include "codegen/LowerRule.h"
#include "codegen/Plan.h"
#include "ir/OpTable.h"

#include <fmt/format.h>

#include <algorithm>

namespace nabla::codegen {

namespace {

std::string shapeText(const Shape &s) {
  std::string out = "[";
  for (std::size_t d = 0; d < s.size(); ++d)
    out += (d ? ", " : "") + s[d].str();
  return out + "]";
}

std::string operandText(const MatrixOperand &m) {
  return fmt::format("%{}{}", m.base, m.transposed ? ".T" : "");
}

/// The fused values that computing `v` reads (not stored, computed in its loop), in order.
void collectFused(const Function &f, const LoopPlan &plan, ValueId v, std::vector<ValueId> &out) {
  for (ValueId o : f.insts[v].operands) {
    const LowerRule &rule = lowerRule(f.insts[o].op);
    if (plan.materialized[o] || rule.how == Lowering::Argument || rule.how == Lowering::Alias)
      continue;
    if (std::find(out.begin(), out.end(), o) == out.end())
      out.push_back(o);
    collectFused(f, plan, o, out);
  }
}

std::string loopText(const Function &f, const LoopPlan &plan, const std::vector<ValueId> &loop) {
  std::vector<ValueId> computed;
  for (ValueId v : loop) {
    collectFused(f, plan, v, computed);
    computed.push_back(v);
  }
  std::sort(computed.begin(), computed.end());
  computed.erase(std::unique(computed.begin(), computed.end()), computed.end());
  std::string body, stored;
  for (ValueId v : computed)
    body += fmt::format("{}%{} {}", body.empty() ? "" : ", ", v, mnemonic(f.insts[v].op));
  for (ValueId v : loop)
    stored += fmt::format("{}%{}", stored.empty() ? "" : ", ", v);
  return fmt::format("loop {} {{ {} }} -> {}", shapeText(f.typeOf(loop.front()).shape), body,
                     stored);
}

std::string productText(const Function &f, const LoopPlan &plan, const ProductPlan &p) {
  const Shape &so = f.typeOf(p.product).shape;
  const Shape &sa = f.typeOf(f.insts[p.product].operands[0]).shape;
  std::size_t r = so.size();
  std::string what =
      fmt::format("%{} = matmul {}, {}", p.product, operandText(p.a), operandText(p.b));
  if (p.out != p.product)
    what = fmt::format("%{} = reduce_sum of {}", p.out, what);
  static const char *const loopNames[] = {"transposed matvec", "matvec", "rows"};
  std::string loops = fmt::format("loops ({})", loopNames[static_cast<int>(p.loops)]);
  Dim m = so[r - 2], n = so[r - 1], k = sa[r - 1];
  std::string how;
  switch (p.path) {
  case ProductPath::Loops:
    how = loops;
    break;
  case ProductPath::Blas:
    how = "blas";
    break;
  case ProductPath::BlasIfLarge:
    how =
        fmt::format("blas if {} >= {}, else {}", (m * n * k).str(), plan.target.blasMinWork, loops);
    break;
  case ProductPath::FoldedGemmIfLarge: {
    Dim rows(1);
    for (std::size_t d = 0; d < p.foldedAxes; ++d)
      rows = rows * so[d];
    Dim work = rows * m * (p.out == p.product ? k : n);
    how = fmt::format("gemm with {} batch axes folded if {} >= {}, else {}", p.foldedAxes,
                      work.str(), plan.target.blasMinWork, loops);
    break;
  }
  }
  return fmt::format("product {}: {}", what, how);
}

} // namespace

std::string printPlan(const Function &f, const LoopPlan &plan) {
  std::string out = fmt::format("plan @{}\n", f.name);
  std::string workspace;
  for (ValueId v = 0; v < f.insts.size(); ++v)
    if (plan.inWorkspace[v])
      workspace += fmt::format(" %{}", v);
  out += fmt::format("workspace:{}\n", workspace.empty() ? " none" : workspace);
  for (std::size_t g = 0; g < plan.groups.size(); ++g) {
    const LoopGroup &group = plan.groups[g];
    if (group.rows) {
      out += fmt::format("group {}: rows [{}] {{\n", g, group.rows->str());
      for (const std::vector<ValueId> &loop : group.loops)
        out += "  " + loopText(f, plan, loop) + "\n";
      out += "}\n";
      continue;
    }
    out += fmt::format("group {}: {}{}\n", g, group.inKernel ? "in kernel, " : "",
                       loopText(f, plan, group.loops.front()));
  }
  for (const std::optional<ProductPlan> &p : plan.products)
    if (p)
      out += productText(f, plan, *p) + "\n";
  for (std::size_t r = 0; r < plan.results.size(); ++r)
    out += fmt::format("result {}: %{}{}\n", r, plan.results[r].value,
                       plan.results[r].copied ? " (copied)" : "");
  return out;
}

} // namespace nabla::codegen
