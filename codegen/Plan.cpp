// Planning a kernel: materialization, fused loops, row groups and matrix products, from the IR
// and the ops' lowering traits (codegen/LowerRule.h) alone.
#include "codegen/Plan.h"

#include "codegen/LowerRule.h"
#include "ir/Loop.h"
#include "ir/OpTable.h"

#include <algorithm>
#include <cstdlib>

namespace nabla::codegen {

PlanTarget PlanTarget::host() {
  PlanTarget t;
#ifdef NABLA_HAVE_BLAS
  t.blas = true;
#endif
  // Products of at least this many multiply-adds go to the BLAS. Measured (BM_MatMul_*): with
  // OpenBLAS's AVX-512 kernels the BLAS is 2x faster than the loops at 8^3 and 4-5x from 16^3
  // on; with its SSE3 fallback kernels (what 0.3.21 picks on CPUs it does not know) the loops
  // win up to 256^3. 16^3 keeps the loops for products too small to amortize a call either way.
  // NABLA_BLAS_MIN_WORK overrides it, to measure the crossover.
  t.blasMinWork = 16 * 16 * 16;
  if (const char *work = std::getenv("NABLA_BLAS_MIN_WORK"))
    t.blasMinWork = std::atoll(work);
  return t;
}

namespace {

bool swapsLastTwoAxes(const Inst &inst) {
  if (inst.op != Op::Transpose)
    return false;
  const auto &perm = inst.intsAttr("perm");
  std::size_t r = perm.size();
  for (std::size_t d = 0; d + 2 < r; ++d)
    if (perm[d] != static_cast<std::int64_t>(d))
      return false;
  return r >= 2 && perm[r - 2] == static_cast<std::int64_t>(r - 1) &&
         perm[r - 1] == static_cast<std::int64_t>(r - 2);
}

bool isArgument(const Inst &inst) { return lowerRule(inst.op).how == Lowering::Argument; }
bool isAlias(const Inst &inst) { return lowerRule(inst.op).how == Lowering::Alias; }
bool isLoop(const Inst &inst) { return inst.op == Op::Loop || inst.op == Op::LoopGrad; }

/// A materialized value that computing an element reads: at the same index (through
/// elementwise ops only), or at another (through a broadcast or a reshape).
struct Source {
  ValueId value;
  bool sameIndex;
};

/// A materialized value read while computing row r of a value: read at row r only (`rowwise`)
/// or as a whole (a row-independent broadcast, a reshape that moves rows).
struct RowRead {
  ValueId source;
  bool rowwise;
};

class Planner {
public:
  Planner(const Function &f, const PlanTarget &target,
          std::span<const std::size_t> carriedArguments)
      : f_(f), carriedArguments_(carriedArguments) {
    plan_.target = target;
  }

  LoopPlan run() {
    planMaterialization();
    planProducts();
    plan_.groups = planRowGroups(planLoops());
    planResults();
    return std::move(plan_);
  }

private:
  bool isBody() const { return !f_.yields.empty(); }

  /// The values the kernel returns: a loop body's yields, else the value and named results.
  std::vector<ValueId> resultValues() const {
    if (isBody())
      return f_.yields;
    std::vector<ValueId> values{f_.result};
    for (const NamedValue &o : f_.outputs)
      values.push_back(o.value);
    return values;
  }

  bool isResult(ValueId v) const {
    if (isBody())
      return std::find(f_.yields.begin(), f_.yields.end(), v) != f_.yields.end();
    if (v == f_.result)
      return true;
    for (const NamedValue &o : f_.outputs)
      if (o.value == v)
        return true;
    return false;
  }

  bool isFusable(ValueId v) const { return isFused(lowerRule(f_.insts[v].op)); }

  /// Looks through a transpose of the last two axes (before materialization is planned, every
  /// such transpose; after, those without a buffer).
  MatrixOperand operandOf(ValueId v) const {
    const Inst &inst = f_.insts[v];
    bool planned = !plan_.materialized.empty();
    if (swapsLastTwoAxes(inst) && !(planned && plan_.materialized[v]))
      return {inst.operands[0], true};
    return {v, false};
  }

  /// Decides which values get a buffer. The rest are computed where they are used.
  void planMaterialization() {
    std::size_t n = f_.insts.size();
    std::vector<int> uses(n, 0);
    std::vector<bool> needsBuffer(n, false);
    for (const Inst &inst : f_.insts) {
      for (ValueId o : inst.operands)
        ++uses[o];
      // Matmul reads each operand element many times (from a buffer, transposed in place when
      // the operand is a transpose of the last two axes); reshape reads its operand by flat index.
      if (inst.op == Op::MatMul)
        for (ValueId o : inst.operands) {
          ValueId base = operandOf(o).base;
          needsBuffer[isBatchBroadcast(f_, base) ? f_.insts[base].operands[0] : base] = true;
        }
      if (isAlias(inst))
        needsBuffer[inst.operands[0]] = true;
      // A loop's body reads its captures through pointers.
      if (isLoop(inst))
        for (ValueId o : loops::operandsOf(inst).captures)
          needsBuffer[o] = true;
    }
    // A transpose read only by matmuls (which read its operand transposed) needs no buffer.
    std::vector<bool> onlyMatmulUses(n, true);
    for (const Inst &inst : f_.insts)
      for (ValueId o : inst.operands)
        if (inst.op != Op::MatMul)
          onlyMatmulUses[o] = false;
    for (const NamedValue &o : f_.outputs)
      onlyMatmulUses[o.value] = false;
    onlyMatmulUses[f_.result] = false;
    // Nor does a batch broadcast that matmuls read (directly or through such a transpose): they
    // read its operand's matrices. Those reads do not count as uses that would store it.
    for (ValueId v = 0; v < n; ++v) {
      const Inst &inst = f_.insts[v];
      if (inst.op == Op::MatMul) {
        for (ValueId o : inst.operands)
          if (isBatchBroadcast(f_, o))
            --uses[o];
      } else if (swapsLastTwoAxes(inst) && onlyMatmulUses[v] &&
                 isBatchBroadcast(f_, inst.operands[0])) {
        --uses[inst.operands[0]];
      }
    }
    // A matmul summed over some of its batch axes, and used nowhere else, is computed by that sum.
    plan_.productOfSum.assign(n, false);
    for (const Inst &inst : f_.insts)
      if (inst.op == Op::ReduceSum && f_.insts[inst.operands[0]].op == Op::MatMul &&
          uses[inst.operands[0]] == 1 && !isResult(inst.operands[0])) {
        std::size_t rank = f_.typeOf(inst.operands[0]).rank();
        bool batchOnly = true;
        for (std::int64_t axis : inst.intsAttr("axes"))
          batchOnly = batchOnly && static_cast<std::size_t>(axis) + 2 < rank;
        plan_.productOfSum[inst.operands[0]] = batchOnly;
      }
    std::vector<bool> materialized(n, false);
    for (ValueId v = 0; v < n; ++v) {
      const Inst &inst = f_.insts[v];
      const LowerRule &rule = lowerRule(inst.op);
      if (rule.how == Lowering::Argument || rule.how == Lowering::Alias)
        continue; // arguments have buffers; a reshape aliases its operand's buffer
      if (swapsLastTwoAxes(inst) && onlyMatmulUses[v] && uses[v] > 0)
        continue;
      if (plan_.productOfSum[v])
        continue;
      bool scalarConst = rule.recomputeScalar && inst.type.isScalar();
      materialized[v] =
          !isFused(rule) || isResult(v) || needsBuffer[v] || (uses[v] > 1 && !scalarConst);
    }
    plan_.materialized = std::move(materialized);
    plan_.inWorkspace.assign(n, false);
    // A loop's buffer is followed by its scratch (codegen/LowerLoop.cpp), so it is always
    // workspace; a loop returned as a result is copied out.
    for (ValueId v = 0; v < n; ++v)
      plan_.inWorkspace[v] = plan_.materialized[v] && (!isResult(v) || isLoop(f_.insts[v]));
  }

  // ----- matrix products ------------------------------------------------------------------------

  /// Every matmul, with the reduce_sum that computes it when it is a product of a sum.
  void planProducts() {
    plan_.products.assign(f_.insts.size(), std::nullopt);
    for (ValueId v = 0; v < f_.insts.size(); ++v) {
      const Inst &inst = f_.insts[v];
      if (inst.op == Op::MatMul && !plan_.productOfSum[v])
        plan_.products[v] = planProduct(v, v);
      else if (inst.op == Op::ReduceSum && plan_.productOfSum[inst.operands[0]])
        plan_.products[v] = planProduct(v, inst.operands[0]);
    }
  }

  ProductPlan planProduct(ValueId out, ValueId product) const {
    const Inst &inst = f_.insts[product];
    ProductPlan p{out, product, operandOf(inst.operands[0]), operandOf(inst.operands[1])};
    const Shape &so = inst.type.shape;
    const Shape &sa = f_.typeOf(inst.operands[0]).shape;
    std::size_t r = so.size();
    // Decide at compile time when the known sizes settle it (a runtime size is at least 1), so
    // that only one of the two paths is generated.
    std::int64_t knownWork = 1;
    bool allKnown = true;
    for (const Dim *d : {&so[r - 2], &so[r - 1], &sa[r - 1]}) {
      if (d->isConstant())
        knownWork *= d->constant();
      else
        allKnown = false;
    }
    // A product with a runtime size (a batch) whose known sizes already make 1/32 of the
    // threshold (128 multiply-adds) per unit of it goes to the BLAS without a loop fallback: the
    // fallback's vectorized loop nest is what costs the most to compile (a third of an MLP
    // gradient's codegen), and a BLAS call on a tiny batch costs a microsecond. Products summed
    // over batch axes run loops.
    std::int64_t threshold = plan_.target.blasMinWork;
    bool sumsNoAxes = out == product || f_.insts[out].intsAttr("axes").empty();
    bool blas = plan_.target.blas && sumsNoAxes;
    bool alwaysBlas =
        blas && (knownWork >= threshold || (!allKnown && knownWork >= threshold / 32));
    bool neverBlas = !blas || (allKnown && knownWork < threshold);
    bool folded = plan_.target.blas && foldsIntoGemm(out, product, p.a, p.b, &p.foldedAxes);
    if (alwaysBlas && !folded)
      p.path = ProductPath::Blas;
    else if (folded)
      p.path = ProductPath::FoldedGemmIfLarge;
    else if (!neverBlas)
      p.path = ProductPath::BlasIfLarge;
    else
      p.path = ProductPath::Loops;
    if (!folded)
      p.foldedAxes = 0;
    p.loops = so[r - 1] == Dim(1) && p.a.transposed ? ProductLoops::TransposedMatVec
              : so[r - 1] == Dim(1)                 ? ProductLoops::MatVec
                                                    : ProductLoops::Rows;
    return p;
  }

  /// Whether a batch of small products is one GEMM per entry of its trailing batch axes, with
  /// the leading `*axes` batch axes folded into the GEMM's rows (or its contraction), so that
  /// the BLAS sees 1000 x 10 x 10 instead of a thousand 10 x 10 x 1. Two shapes that reverse
  /// mode makes for a matrix shared across a batch (GMM's Q, [K, D, D], used by [N, K] points):
  ///  - y[n, t] = A[t] x[n, t]: A a batch broadcast over the leading axes, x a stored vector;
  ///    then y[:, t] = x[:, t] A[t]^T, rows n with a stride.
  ///  - C[t] = sum_n u[n, t] v[n, t]^T: a reduce_sum over the leading axes of outer products of
  ///    stored vectors; then C[t] = U[:, t]^T V[:, t].
  bool foldsIntoGemm(ValueId out, ValueId product, const MatrixOperand &a, const MatrixOperand &c,
                     std::size_t *axes) const {
    const Shape &so = f_.typeOf(product).shape;
    std::size_t r = so.size();
    auto stored = [&](const MatrixOperand &x) {
      const Inst &base = f_.insts[x.base];
      return plan_.materialized[x.base] || isArgument(base) || isAlias(base);
    };
    auto fullBatch = [&](const MatrixOperand &x) {
      const Shape &s = f_.typeOf(x.base).shape;
      return s.size() == r && std::equal(so.begin(), so.end() - 2, s.begin());
    };
    if (out == product) {
      // y = A x: A broadcast over exactly the leading batch axes
      if (so[r - 1] != Dim(1) || !isBatchBroadcast(f_, a.base) || plan_.materialized[a.base] ||
          !stored(c) || !fullBatch(c))
        return false;
      const Shape &from = f_.typeOf(f_.insts[a.base].operands[0]).shape;
      std::size_t lead = r - from.size(), s = 0;
      while (s + 2 < r && (s < lead || (from[s - lead] == Dim(1) && so[s] != Dim(1))))
        ++s;
      for (std::size_t d = s; d + 2 < r; ++d)
        if (d < lead || from[d - lead] != so[d])
          return false;
      *axes = s;
      return s > 0;
    }
    // sum over the leading batch axes of u v^T
    const Shape &sa = f_.typeOf(f_.insts[product].operands[0]).shape;
    if (sa[r - 1] != Dim(1) || !stored(a) || !stored(c) || !fullBatch(a) || !fullBatch(c))
      return false;
    const auto &reduced = f_.insts[out].intsAttr("axes");
    for (std::size_t d = 0; d < reduced.size(); ++d)
      if (std::find(reduced.begin(), reduced.end(), static_cast<std::int64_t>(d)) == reduced.end())
        return false;
    *axes = reduced.size();
    return *axes > 0;
  }

  // ----- loops ----------------------------------------------------------------------------------

  /// The value whose loop writes the buffer that `v` reads from (a reshape reads its operand's).
  ValueId bufferOwner(ValueId v) const {
    while (isAlias(f_.insts[v]))
      v = f_.insts[v].operands[0];
    return v;
  }

  /// The materialized values that computing `v` reads, through its fused operands.
  void collectSources(ValueId v, bool sameIndex, std::vector<Source> &out) const {
    const Inst &inst = f_.insts[v];
    bool moves = inst.op == Op::Broadcast || isAlias(inst);
    for (ValueId o : inst.operands) {
      ValueId owner = bufferOwner(o);
      bool direct = sameIndex && !moves && owner == o;
      if (plan_.materialized[owner] || isArgument(f_.insts[owner]))
        out.push_back({owner, direct});
      else
        collectSources(o, direct, out);
    }
  }

  /// The materialized values in the order they are computed, in loops: each value its own,
  /// except that elementwise values of one shape share a loop when their inputs allow it, so
  /// that a reverse kernel computes the value and every gradient of `g(x1, x2)` in one pass over
  /// x1, x2 and the cotangent instead of one pass each. A value joins the earliest such loop
  /// that comes after everything it reads (members read each other's elements from registers).
  std::vector<std::vector<ValueId>> planLoops() const {
    std::vector<std::vector<ValueId>> loops;
    std::vector<int> loopOf(f_.insts.size(), -1); // -1: an argument, there from the start
    for (ValueId v = 0; v < f_.insts.size(); ++v) {
      if (!plan_.materialized[v])
        continue;
      int chosen = -1;
      if (isFusable(v)) {
        std::vector<Source> sources;
        collectSources(v, true, sources);
        // The first loop v may join: one that computes what v reads at its own index (a member
        // hands it over in a register), or any after what v reads elsewhere.
        int ready = -1;
        for (const Source &source : sources)
          ready = std::max(ready, loopOf[source.value] + (source.sameIndex ? 0 : 1));
        for (int l = std::max(ready, 0); l < static_cast<int>(loops.size()) && chosen < 0; ++l) {
          ValueId first = loops[l].front();
          if (isFusable(first) && f_.typeOf(first).shape == f_.typeOf(v).shape)
            chosen = l;
        }
      }
      if (chosen < 0) {
        chosen = static_cast<int>(loops.size());
        loops.emplace_back();
      }
      loops[chosen].push_back(v);
      loopOf[v] = chosen;
    }
    return loops;
  }

  /// What reading `o` at an index whose axis 0 is the row (when `rowwise`) reads.
  void collectRowReads(ValueId o, bool rowwise, const Dim &rows, std::vector<RowRead> &out) const {
    const Inst &inst = f_.insts[o];
    const Shape &shape = inst.type.shape;
    if (isAlias(inst)) {
      const Shape &from = f_.typeOf(inst.operands[0]).shape;
      bool keepsRows =
          rowwise && !shape.empty() && !from.empty() && shape[0] == rows && from[0] == rows;
      return collectRowReads(inst.operands[0], keepsRows, rows, out);
    }
    if (plan_.materialized[o] || isArgument(inst)) {
      out.push_back({o, rowwise});
      return;
    }
    if (inst.op == Op::Broadcast) {
      const Shape &from = f_.typeOf(inst.operands[0]).shape;
      bool keepsRows = rowwise && from.size() == shape.size() && from[0] == rows;
      return collectRowReads(inst.operands[0], keepsRows, rows, out);
    }
    for (ValueId operand : inst.operands)
      collectRowReads(operand, rowwise, rows, out);
  }

  /// Whether `shape` has `rows` as its axis 0 and nowhere else (so that inside a row group,
  /// every loop over an extent of `rows` is the row loop).
  static bool rowsOnlyFirst(const Shape &shape, const Dim &rows) {
    if (shape.empty() || shape[0] != rows)
      return false;
    return std::find(shape.begin() + 1, shape.end(), rows) == shape.end();
  }

  /// What computing row r of `v` reads, or nothing when `v` cannot be computed row by row.
  std::optional<std::vector<RowRead>> rowReads(ValueId v, const Dim &rows) const {
    const Inst &inst = f_.insts[v];
    if (!rowsOnlyFirst(inst.type.shape, rows))
      return std::nullopt;
    std::vector<RowRead> reads;
    auto allRowwise = [&](std::initializer_list<ValueId> operands) {
      for (ValueId o : operands) {
        if (!rowsOnlyFirst(f_.typeOf(o).shape, rows))
          return false;
        collectRowReads(o, true, rows, reads);
      }
      return true;
    };
    switch (lowerRule(inst.op).rows) {
    case RowAccess::SameRow:
      for (ValueId o : inst.operands)
        collectRowReads(o, true, rows, reads);
      return reads;
    case RowAccess::KeptAxis0: {
      if (plan_.products[v]) // a reduce_sum computing a product runs the product's loops
        return std::nullopt;
      const auto &axes = inst.intsAttr("axes");
      if (std::find(axes.begin(), axes.end(), 0) != axes.end() || !allRowwise({inst.operands[0]}))
        return std::nullopt;
      return reads;
    }
    case RowAccess::OffAxis0:
      if (inst.intAttr("axis") == 0 || !allRowwise({inst.operands[0], inst.operands[1]}))
        return std::nullopt;
      return reads;
    case RowAccess::None:
      return std::nullopt;
    }
    return std::nullopt;
  }

  /// Loops that run together inside one loop over the rows (axis 0) of their values: the rows
  /// of a softmax-cross-entropy over [B, C] (max, shift, logsumexp, exp, gather, ...) are
  /// computed row by row in one function instead of one pass and one function each. Fewer
  /// functions is what shortens compiling; rows that stay in cache are what speeds running.
  /// A loop joins the earliest open group over the same rows when everything it reads row by
  /// row is a member or computed before the group, and everything it reads as a whole is
  /// computed before the group.
  std::vector<LoopGroup> planRowGroups(const std::vector<std::vector<ValueId>> &loops) const {
    std::vector<LoopGroup> groups;
    std::vector<int> groupOf(f_.insts.size(), -1); // -1: an argument, there from the start
    for (const std::vector<ValueId> &loop : loops) {
      int chosen = -1;
      const Shape &shape = f_.typeOf(loop.front()).shape;
      if (!shape.empty() && loop.size() >= 1) {
        Dim rows = shape[0];
        std::vector<RowRead> reads;
        bool rowwise = true;
        for (ValueId v : loop) {
          auto r = rowReads(v, rows);
          if (!r) {
            rowwise = false;
            break;
          }
          reads.insert(reads.end(), r->begin(), r->end());
        }
        for (int g = 0; rowwise && g < static_cast<int>(groups.size()) && chosen < 0; ++g) {
          if (!groups[g].rows || *groups[g].rows != rows)
            continue;
          bool fits = true;
          for (const RowRead &read : reads) {
            int at = groupOf[read.source];
            fits = fits && (at < g || (at == g && read.rowwise));
          }
          if (fits)
            chosen = g;
        }
        if (chosen < 0 && rowwise) {
          groups.push_back({{}, rows});
          chosen = static_cast<int>(groups.size()) - 1;
        }
      }
      if (chosen < 0) {
        groups.push_back({{}, std::nullopt});
        chosen = static_cast<int>(groups.size()) - 1;
      }
      groups[chosen].loops.push_back(loop);
      for (ValueId v : loop)
        groupOf[v] = chosen;
    }
    for (LoopGroup &g : groups) {
      // A group of one loop needs no row loop of its own.
      if (g.loops.size() == 1)
        g.rows.reset();
      // Scalar arithmetic has no loop to keep apart: it goes straight into the kernel (a
      // function costs about a millisecond to compile however small it is).
      g.inKernel = true;
      for (const std::vector<ValueId> &loop : g.loops)
        for (ValueId v : loop)
          g.inKernel = g.inKernel && f_.typeOf(v).isScalar() && isFusable(v);
    }
    return groups;
  }

  /// Results go straight to the caller's buffers (the first result that names a value gets it;
  /// a value named twice, or an argument returned as a result, is copied at the end).
  void planResults() {
    std::vector<ValueId> values = resultValues();
    std::vector<bool> claimed(f_.insts.size(), false);
    for (std::size_t r = 0; r < values.size(); ++r) {
      ValueId v = values[r];
      bool direct = plan_.materialized[v] && !claimed[v] && !isLoop(f_.insts[v]);
      claimed[v] = claimed[v] || direct;
      plan_.results.push_back({v, !direct, direct && updatesInPlace(r)});
    }
  }

  /// Whether yield `r` is an update of the argument it replaces, read by nothing else.
  bool updatesInPlace(std::size_t r) const {
    if (r >= carriedArguments_.size())
      return false;
    const Inst &update = f_.insts[f_.yields[r]];
    ValueId carried = f_.arguments()[carriedArguments_[r]];
    if (update.op != Op::Update || update.operands[0] != carried)
      return false;
    for (const Inst &inst : f_.insts)
      for (ValueId o : inst.operands)
        if (o == carried && &inst != &update)
          return false;
    return std::find(f_.yields.begin(), f_.yields.end(), carried) == f_.yields.end();
  }

  const Function &f_;
  std::span<const std::size_t> carriedArguments_;
  LoopPlan plan_;
};

} // namespace

LoopPlan planKernel(const Function &f, const PlanTarget &target,
                    std::span<const std::size_t> carriedArguments) {
  return Planner(f, target, carriedArguments).run();
}

MatrixOperand matrixOperand(const Function &f, const LoopPlan &plan, ValueId v) {
  const Inst &inst = f.insts[v];
  if (swapsLastTwoAxes(inst) && !plan.materialized[v])
    return {inst.operands[0], true};
  return {v, false};
}

bool isBatchBroadcast(const Function &f, ValueId v) {
  const Inst &inst = f.insts[v];
  if (inst.op != Op::Broadcast)
    return false;
  const Shape &from = f.typeOf(inst.operands[0]).shape;
  const Shape &to = inst.type.shape;
  std::size_t r = to.size();
  return from.size() >= 2 && from[from.size() - 2] == to[r - 2] &&
         from[from.size() - 1] == to[r - 1];
}

} // namespace nabla::codegen
