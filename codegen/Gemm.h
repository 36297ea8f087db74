// Matrix products as loops or GEMM calls (cblas_[sd]gemm), as their ProductPlan says.
#pragma once

#include "codegen/KernelEmitter.h"

namespace nabla::codegen {

/// Emits product `p` into the buffer of `p.out`: loops, GEMMs, or a runtime choice of the two.
void emitProduct(KernelEmitter &e, const ProductPlan &p);

} // namespace nabla::codegen
