// Matrix products: GEMM calls through the BLAS (one per batch entry, or with the leading batch
// axes folded into the rows), and the loop nests that run small products, matrix-vector products
// and sums of products over batch axes. Which runs is the plan's decision (codegen/Plan.h).
#include "codegen/Gemm.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>

#include <algorithm>

namespace nabla::codegen {

namespace {

using llvm::Value;

/// CBLAS's enumerators (cblas.h): row-major storage, and an operand as stored or transposed.
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

/// Element (row, col) of a matmul operand in batch `batch`, reading a transposed operand's
/// buffer with its indices swapped.
Value *matrixElement(KernelEmitter &e, const MatrixOperand &m, const Index &batch, Value *row,
                     Value *col) {
  Index idx = batch;
  if (m.transposed)
    std::swap(row, col);
  idx.push_back(row);
  idx.push_back(col);
  return e.element(m.base, idx);
}

/// cblas_[sd]gemm(RowMajor, transA, transB, M, N, K, 1, A, lda, B, ldb, 0, C, ldc).
void emitGemmCall(KernelEmitter &e, DType dtype, int transA, int transB, Value *rowsM, Value *colsN,
                  Value *depthK, Value *pa, Value *lda, Value *pb, Value *ldb, Value *pc,
                  Value *ldc) {
  auto &b = e.b();
  bool isF32 = dtype == DType::F32;
  llvm::Type *t = e.registerType(dtype);
  llvm::Type *i32 = b.getInt32Ty(), *ptr = b.getPtrTy();
  auto *type = llvm::FunctionType::get(
      b.getVoidTy(), {i32, i32, i32, i32, i32, i32, t, ptr, i32, ptr, i32, t, ptr, i32}, false);
  llvm::FunctionCallee gemm =
      e.module().getOrInsertFunction(isF32 ? "cblas_sgemm" : "cblas_dgemm", type);
  auto i32v = [&](Value *x) { return b.CreateTrunc(x, i32); };
  b.CreateCall(gemm, {b.getInt32(kRowMajor), b.getInt32(transA), b.getInt32(transB), i32v(rowsM),
                      i32v(colsN), i32v(depthK), llvm::ConstantFP::get(t, 1.0), pa, i32v(lda), pb,
                      i32v(ldb), llvm::ConstantFP::get(t, 0.0), pc, i32v(ldc)});
}

/// One GEMM per batch entry, transposes passed as flags.
void emitBlasMatMul(KernelEmitter &e, ValueId v, const MatrixOperand &a, const MatrixOperand &c,
                    const std::vector<Value *> &batch, Value *m, Value *n, Value *k) {
  auto &b = e.b();
  DType dtype = e.inst(v).type.dtype;
  // Leading dimensions are the row lengths of the buffers as stored.
  Value *lda = a.transposed ? m : k;
  Value *ldb = c.transposed ? k : n;
  e.loopNest(batch, [&](const Index &bIdx) {
    Index origin = bIdx; // each matrix's (batch, 0, 0)
    origin.push_back(b.getInt64(0));
    origin.push_back(b.getInt64(0));
    emitGemmCall(e, dtype, a.transposed ? kTrans : kNoTrans, c.transposed ? kTrans : kNoTrans, m, n,
                 k, e.elementPointer(a.base, origin), lda, e.elementPointer(c.base, origin), ldb,
                 e.elementPointer(v, origin), n);
  });
}

/// The GEMMs of a product with its leading `axes` batch axes folded into the rows (or the
/// contraction): one per entry of the trailing batch axes.
void emitFoldedGemm(KernelEmitter &e, const ProductPlan &p, Value *rows) {
  auto &b = e.b();
  ValueId out = p.out, product = p.product;
  const MatrixOperand &a = p.a, &c = p.b;
  std::size_t axes = p.foldedAxes;
  const Shape &so = e.f().typeOf(product).shape;
  const Shape &sa = e.f().typeOf(e.inst(product).operands[0]).shape;
  std::size_t r = so.size();
  DType dtype = e.f().typeOf(product).dtype;
  Value *m = e.dim(so[r - 2]), *n = e.dim(so[r - 1]), *k = e.dim(sa[r - 1]);
  std::vector<Value *> trailing;
  Value *stride = b.getInt64(1); // entries of the trailing batch axes: rows are this far apart
  for (std::size_t d = axes; d + 2 < r; ++d) {
    trailing.push_back(e.dim(so[d]));
    stride = b.CreateMul(stride, trailing.back());
  }
  e.loopNest(trailing, [&](const Index &tIdx) {
    Index full(axes, b.getInt64(0)); // the product's index at (0, t, 0, 0)
    full.insert(full.end(), tIdx.begin(), tIdx.end());
    full.push_back(b.getInt64(0));
    full.push_back(b.getInt64(0));
    if (out == product) {
      // y[:, t] (rows x m) = x[:, t] (rows x k) op(A[t]) with op(A) = A^T (k x m)
      emitGemmCall(e, dtype, kNoTrans, a.transposed ? kNoTrans : kTrans, rows, m, k,
                   e.elementPointer(c.base, full), b.CreateMul(stride, k),
                   e.elementPointer(a.base, full), a.transposed ? m : k,
                   e.elementPointer(out, full), b.CreateMul(stride, m));
    } else {
      // C[t] (m x n) = U^T V with U = u[:, t] (rows x m), V = v[:, t] (rows x n)
      Index outIdx(tIdx.begin(), tIdx.end());
      outIdx.push_back(b.getInt64(0));
      outIdx.push_back(b.getInt64(0));
      emitGemmCall(e, dtype, kTrans, kNoTrans, m, n, rows, e.elementPointer(a.base, full),
                   b.CreateMul(stride, m), e.elementPointer(c.base, full), b.CreateMul(stride, n),
                   e.elementPointer(out, outIdx), n);
    }
  });
}

} // namespace

/// The product written to `out`: the product itself, or a reduce_sum of it over some batch axes,
/// which then become contraction loops (sum_n of outer products, as reverse mode makes for a
/// weight shared across a batch, without storing each).
void emitProduct(KernelEmitter &e, const ProductPlan &p) {
  auto &b = e.b();
  ValueId out = p.out, product = p.product;
  const Inst &inst = e.inst(product);
  const MatrixOperand &a = p.a, &c = p.b;
  const Shape &so = inst.type.shape;
  const Shape &sa = e.f().typeOf(inst.operands[0]).shape;
  const Shape &outShape = e.f().typeOf(out).shape;
  std::size_t r = so.size();
  llvm::Type *t = e.registerType(inst.type.dtype);
  std::vector<std::int64_t> reducedAxes;
  if (out != product)
    reducedAxes = e.inst(out).intsAttr("axes");
  auto isReduced = [&](std::size_t d) {
    return std::find(reducedAxes.begin(), reducedAxes.end(), static_cast<std::int64_t>(d)) !=
           reducedAxes.end();
  };
  std::vector<Value *> keptBatch, reducedBatch;
  for (std::size_t d = 0; d + 2 < r; ++d)
    (isReduced(d) ? reducedBatch : keptBatch).push_back(e.dim(so[d]));
  // The product's batch index from the kept and the reduced ones.
  auto batchIndex = [&](const Index &kept, const Index &reduced) {
    Index full;
    std::size_t nk = 0, nr = 0;
    for (std::size_t d = 0; d + 2 < r; ++d)
      full.push_back(isReduced(d) ? reduced[nr++] : kept[nk++]);
    return full;
  };
  auto outFlat = [&](const Index &kept, Value *i, Value *j) {
    Index idx = kept;
    idx.push_back(i);
    idx.push_back(j);
    return e.flatten(outShape, idx);
  };
  Value *m = e.dim(so[r - 2]), *n = e.dim(so[r - 1]), *k = e.dim(sa[r - 1]);
  std::int64_t threshold = e.plan().target.blasMinWork;

  if (p.path == ProductPath::Blas) {
    emitBlasMatMul(e, product, a, c, keptBatch, m, n, k);
    return;
  }
  llvm::BasicBlock *loops = e.block("matmul_loops");
  llvm::BasicBlock *done = e.block("matmul_done");
  switch (p.path) {
  case ProductPath::FoldedGemmIfLarge: {
    llvm::BasicBlock *gemm = e.block("matmul_folded_gemm");
    Value *rows = b.getInt64(1);
    for (std::size_t d = 0; d < p.foldedAxes; ++d)
      rows = b.CreateMul(rows, e.dim(so[d]));
    Value *work = b.CreateMul(b.CreateMul(rows, m), out == product ? k : n);
    b.CreateCondBr(b.CreateICmpSGE(work, b.getInt64(threshold)), gemm, loops);
    b.SetInsertPoint(gemm);
    emitFoldedGemm(e, p, rows);
    b.CreateBr(done);
    break;
  }
  case ProductPath::BlasIfLarge: {
    llvm::BasicBlock *blasBlock = e.block("matmul_blas");
    Value *work = b.CreateMul(b.CreateMul(m, n), k);
    b.CreateCondBr(b.CreateICmpSGE(work, b.getInt64(threshold)), blasBlock, loops);
    b.SetInsertPoint(blasBlock);
    emitBlasMatMul(e, product, a, c, keptBatch, m, n, k);
    b.CreateBr(done);
    break;
  }
  case ProductPath::Loops:
  case ProductPath::Blas:
    b.CreateBr(loops);
    break;
  }
  b.SetInsertPoint(loops);
  // Sums that may be reassociated (vectorized) and contracted to FMAs.
  auto fastMath = [](std::initializer_list<Value *> ops) {
    for (Value *op : ops) {
      auto *inst = llvm::cast<llvm::Instruction>(op);
      inst->setHasAllowReassoc(true);
      inst->setHasAllowContract(true);
    }
  };
  switch (p.loops) {
  case ProductLoops::TransposedMatVec:
    // Aᵀ x with A stored by rows: out += A[p, :] x[p] for each p, reading rows contiguously
    // (a dot product would read columns of A, with a stride).
    e.loopNest(keptBatch, [&](const Index &kept) {
      e.loopNest({m}, [&](const Index &i) {
        e.store(out, outFlat(kept, i[0], b.getInt64(0)), llvm::ConstantFP::get(t, 0.0));
      });
      e.loopNest(reducedBatch, [&](const Index &reduced) {
        Index bIdx = batchIndex(kept, reduced);
        e.loopNest({k}, [&](const Index &pIdx) {
          Value *xp = matrixElement(e, c, bIdx, pIdx[0], b.getInt64(0));
          e.loopNest({m}, [&](const Index &i) {
            Value *flat = outFlat(kept, i[0], b.getInt64(0));
            Value *term = b.CreateFMul(matrixElement(e, a, bIdx, i[0], pIdx[0]), xp);
            Value *sum = b.CreateFAdd(e.load(out, flat), term);
            fastMath({term, sum});
            e.store(out, flat, sum);
          });
        });
      });
    });
    break;
  case ProductLoops::MatVec:
    // A matrix-vector product: each entry a dot product accumulated in a register.
    e.loopNest(keptBatch, [&](const Index &kept) {
      e.loopNest({m}, [&](const Index &i) {
        Value *acc = e.accumulator(t, llvm::ConstantFP::get(t, 0.0));
        e.loopNest(reducedBatch, [&](const Index &reduced) {
          Index bIdx = batchIndex(kept, reduced);
          e.loopNest({k}, [&](const Index &pIdx) {
            Value *term = b.CreateFMul(matrixElement(e, a, bIdx, i[0], pIdx[0]),
                                       matrixElement(e, c, bIdx, pIdx[0], b.getInt64(0)));
            Value *sum = b.CreateFAdd(b.CreateLoad(t, acc), term);
            fastMath({term, sum});
            b.CreateStore(sum, acc);
          });
        });
        e.store(out, outFlat(kept, i[0], b.getInt64(0)), b.CreateLoad(t, acc));
      });
    });
    break;
  case ProductLoops::Rows:
    // C = 0, then C[i, :] += A[i, p] B[p, :] for every (reduced batch entry and) p.
    e.loopNest(keptBatch, [&](const Index &kept) {
      e.loopNest({m}, [&](const Index &i) {
        e.loopNest({n}, [&](const Index &j) {
          e.store(out, outFlat(kept, i[0], j[0]), llvm::ConstantFP::get(t, 0.0));
        });
      });
      e.loopNest(reducedBatch, [&](const Index &reduced) {
        Index bIdx = batchIndex(kept, reduced);
        e.loopNest({m}, [&](const Index &i) {
          e.loopNest({k}, [&](const Index &pIdx) {
            Value *aip = matrixElement(e, a, bIdx, i[0], pIdx[0]);
            e.loopNest({n}, [&](const Index &j) {
              Value *flat = outFlat(kept, i[0], j[0]);
              Value *term = b.CreateFMul(aip, matrixElement(e, c, bIdx, pIdx[0], j[0]));
              Value *sum = b.CreateFAdd(e.load(out, flat), term);
              if (!reducedAxes.empty())
                fastMath({term, sum});
              e.store(out, flat, sum);
            });
          });
        });
      });
    });
    break;
  }
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

} // namespace nabla::codegen
