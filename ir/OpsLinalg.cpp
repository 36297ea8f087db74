// Structured matrices (diag, lower) with their adjoint extractions, and batched matmul.
#include "ir/DerivativeRules.h"
#include "ir/OpTable.h"
#include "ir/Shapes.h"

#include <fmt/format.h>

namespace nabla {

namespace {

std::int64_t outerCount(const Tensor &t, std::size_t trailing) {
  std::int64_t n = 1;
  for (std::size_t d = 0; d + trailing < t.rank(); ++d)
    n *= t.shape[d];
  return n;
}

// ----- diag: [..., n] -> [..., n, n], and diag_part back ---------------------------------------

TypeOrError diagRule(std::span<const Type> ops, const Inst &, const std::optional<Type> &) {
  if (ops[0].rank() < 1 || !isFloat(ops[0].dtype))
    return fmt::format("'diag' needs a float vector (or a batch of them), got {}", ops[0].str());
  Type out = ops[0];
  out.shape.push_back(ops[0].shape.back());
  return out;
}

void evalDiag(const Inst &, std::span<const Tensor *const> in, Tensor &out) {
  std::int64_t n = in[0]->shape.back();
  std::fill(out.data.begin(), out.data.end(), 0.0);
  for (std::int64_t b = 0, batches = outerCount(*in[0], 1); b < batches; ++b)
    for (std::int64_t i = 0; i < n; ++i)
      out.data[static_cast<std::size_t>(b * n * n + i * n + i)] =
          in[0]->data[static_cast<std::size_t>(b * n + i)];
}

TypeOrError diagPartRule(std::span<const Type> ops, const Inst &, const std::optional<Type> &) {
  const Type &t = ops[0];
  if (t.rank() < 2 || t.shape[t.rank() - 1] != t.shape[t.rank() - 2])
    return fmt::format("'diag_part' needs square matrices, got {}", t.str());
  Type out = t;
  out.shape.pop_back();
  return out;
}

void evalDiagPart(const Inst &, std::span<const Tensor *const> in, Tensor &out) {
  std::int64_t n = in[0]->shape.back();
  for (std::int64_t b = 0, batches = outerCount(*in[0], 2); b < batches; ++b)
    for (std::int64_t i = 0; i < n; ++i)
      out.data[static_cast<std::size_t>(b * n + i)] =
          in[0]->data[static_cast<std::size_t>(b * n * n + i * n + i)];
}

// ----- lower: the strictly lower triangle filled column by column ------------------------------
// l[0] = Q[1,0], l[1] = Q[2,0], ..., l[n-2] = Q[n-1,0], l[n-1] = Q[2,1], ...

Dim triangleSize(const Dim &n) { return *Dim::divide(n * (n - Dim(1)), Dim(2)); }

TypeOrError lowerRule(std::span<const Type> ops, const Inst &inst, const std::optional<Type> &) {
  const Shape &size = inst.dimsAttr("n");
  if (size.size() != 1)
    return std::string("'lower' needs one size n");
  if (ops[0].rank() < 1 || !isFloat(ops[0].dtype) || ops[0].shape.back() != triangleSize(size[0]))
    return fmt::format("'lower' of size {} needs a float vector of length {}, got {}",
                       size[0].str(), triangleSize(size[0]).str(), ops[0].str());
  Type out = ops[0];
  out.shape.back() = size[0];
  out.shape.push_back(size[0]);
  return out;
}

/// Calls visit(vectorOffset, matrixOffset) for each strictly-lower entry of an n x n matrix.
template <class Visit> void forEachLower(std::int64_t n, Visit visit) {
  std::int64_t k = 0;
  for (std::int64_t col = 0; col < n; ++col)
    for (std::int64_t row = col + 1; row < n; ++row)
      visit(k++, row * n + col);
}

void evalLower(const Inst &, std::span<const Tensor *const> in, Tensor &out) {
  std::int64_t n = out.shape.back(), len = in[0]->shape.back();
  std::fill(out.data.begin(), out.data.end(), 0.0);
  for (std::int64_t b = 0, batches = outerCount(*in[0], 1); b < batches; ++b)
    forEachLower(n, [&](std::int64_t k, std::int64_t m) {
      out.data[static_cast<std::size_t>(b * n * n + m)] =
          in[0]->data[static_cast<std::size_t>(b * len + k)];
    });
}

TypeOrError lowerPartRule(std::span<const Type> ops, const Inst &, const std::optional<Type> &) {
  const Type &t = ops[0];
  if (t.rank() < 2 || t.shape[t.rank() - 1] != t.shape[t.rank() - 2])
    return fmt::format("'lower_part' needs square matrices, got {}", t.str());
  Type out = t;
  out.shape.pop_back();
  out.shape.back() = triangleSize(t.shape.back());
  return out;
}

void evalLowerPart(const Inst &, std::span<const Tensor *const> in, Tensor &out) {
  std::int64_t n = in[0]->shape.back(), len = out.shape.back();
  for (std::int64_t b = 0, batches = outerCount(*in[0], 2); b < batches; ++b)
    forEachLower(n, [&](std::int64_t k, std::int64_t m) {
      out.data[static_cast<std::size_t>(b * len + k)] =
          in[0]->data[static_cast<std::size_t>(b * n * n + m)];
    });
}

// ----- matmul: [..., m, k] @ [..., k, n] -> [..., m, n], batch dimensions equal ----------------

TypeOrError matmulRule(std::span<const Type> ops, const Inst &, const std::optional<Type> &) {
  const Type &a = ops[0], &b = ops[1];
  auto mismatch = [&] {
    return fmt::format("shape mismatch in 'matmul': {} vs {}", a.str(), b.str());
  };
  if (a.dtype != b.dtype || !isFloat(a.dtype) || a.rank() < 2 || a.rank() != b.rank())
    return mismatch();
  std::size_t r = a.rank();
  for (std::size_t d = 0; d + 2 < r; ++d)
    if (a.shape[d] != b.shape[d])
      return mismatch();
  if (a.shape[r - 1] != b.shape[r - 2])
    return mismatch();
  Type out = a;
  out.shape[r - 1] = b.shape[r - 1];
  return out;
}

void evalMatMul(const Inst &, std::span<const Tensor *const> in, Tensor &out) {
  const Tensor &a = *in[0], &b = *in[1];
  std::size_t r = a.rank();
  std::int64_t m = a.shape[r - 2], k = a.shape[r - 1], n = b.shape[r - 1];
  for (std::int64_t batch = 0, batches = outerCount(a, 2); batch < batches; ++batch) {
    const double *pa = a.data.data() + batch * m * k;
    const double *pb = b.data.data() + batch * k * n;
    double *pc = out.data.data() + batch * m * n;
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (std::int64_t p = 0; p < k; ++p)
          acc += pa[i * k + p] * pb[p * n + j];
        pc[i * n + j] = acc;
      }
  }
  out.roundToDType();
}

// ----- derivatives ------------------------------------------------------------------------------

/// diag, diag_part, lower and lower_part are linear: the tangent is the op on the tangent.
MaybeValue linearJvp(Builder &b, const Inst &inst, ValueId, std::span<const MaybeValue> t) {
  if (!t[0])
    return std::nullopt;
  return rules::reapply(b, inst, {*t[0]});
}

// Each structured op's transpose extracts (or places) the same entries.
std::vector<MaybeValue> diagVjp(Builder &b, const Inst &, ValueId, ValueId ct, bool) {
  return {b.emit(Op::DiagPart, {ct})};
}
std::vector<MaybeValue> diagPartVjp(Builder &b, const Inst &, ValueId, ValueId ct, bool) {
  return {b.emit(Op::Diag, {ct})};
}
std::vector<MaybeValue> lowerVjp(Builder &b, const Inst &, ValueId, ValueId ct, bool) {
  return {b.emit(Op::LowerPart, {ct})};
}
std::vector<MaybeValue> lowerPartVjp(Builder &b, const Inst &inst, ValueId, ValueId ct, bool) {
  return {b.emit(Op::Lower, {ct}, {Shape{b.typeOf(inst.operands[0]).shape.back()}})};
}

/// A^T over the last two axes.
ValueId transposeMatrices(Builder &b, ValueId a) {
  std::size_t r = b.typeOf(a).rank();
  std::vector<std::int64_t> perm(r);
  for (std::size_t i = 0; i < r; ++i)
    perm[i] = static_cast<std::int64_t>(i);
  std::swap(perm[r - 1], perm[r - 2]);
  return b.transpose(a, perm);
}

// d(A B) = dA B + A dB
MaybeValue matmulJvp(Builder &b, const Inst &inst, ValueId, std::span<const MaybeValue> t) {
  ValueId a = inst.operands[0], c = inst.operands[1];
  std::vector<MaybeValue> terms;
  if (t[0])
    terms.push_back(b.emit(Op::MatMul, {*t[0], c}));
  if (t[1])
    terms.push_back(b.emit(Op::MatMul, {a, *t[1]}));
  return rules::sumOf(b, terms);
}

// For Z = A B: dA = dZ B^T, dB = A^T dZ (for z = W x: dW = delta x^T, dx = W^T delta).
std::vector<MaybeValue> matmulVjp(Builder &b, const Inst &inst, ValueId, ValueId ct, bool) {
  ValueId a = inst.operands[0], c = inst.operands[1];
  return {b.emit(Op::MatMul, {ct, transposeMatrices(b, c)}),
          b.emit(Op::MatMul, {transposeMatrices(b, a), ct})};
}

} // namespace

const OpInfo opDiag = OpInfo{1, {}, diagRule, evalDiag, linearJvp, diagVjp};
const OpInfo opDiagPart = OpInfo{1, {}, diagPartRule, evalDiagPart, linearJvp, diagPartVjp};
const OpInfo opLower =
    OpInfo{1, {{"n", AttrKind::Dims}}, lowerRule, evalLower, linearJvp, lowerVjp};
const OpInfo opLowerPart = OpInfo{1, {}, lowerPartRule, evalLowerPart, linearJvp, lowerPartVjp};
const OpInfo opMatMul = OpInfo{2, {}, matmulRule, evalMatMul, matmulJvp, matmulVjp};

} // namespace nabla
