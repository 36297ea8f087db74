// The current scalar emitter, per thread.
#include "ir/ScalarEmitter.h"

namespace nabla {

namespace {
thread_local ScalarEmitter *currentEmitter = nullptr;
}

ScalarEmitter *ScalarEmitter::current() { return currentEmitter; }

ScalarEmitter::Scope::Scope(ScalarEmitter &e) : previous_(currentEmitter) { currentEmitter = &e; }

ScalarEmitter::Scope::~Scope() { currentEmitter = previous_; }

} // namespace nabla
