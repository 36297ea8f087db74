// Exit codes, diagnostics on stderr and the parser's stack, for the `nabla` subcommands.
#include "tools/Cli.h"

#include <pthread.h>

#include <iostream>

namespace nabla::tools {

int report(const Diagnostics &d) {
  std::cerr << d.render();
  return kBadInput;
}

int report(const Diagnostic &d) { return report(Diagnostics{{d}}); }

int runWithLargeStack(const std::function<int()> &body) {
  struct Job {
    const std::function<int()> *body;
    int result = kBadInput;
  } job{&body};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, std::size_t{1} << 30); // reserved, not committed
  pthread_t thread;
  auto trampoline = [](void *p) -> void * {
    auto *j = static_cast<Job *>(p);
    j->result = (*j->body)();
    return nullptr;
  };
  if (pthread_create(&thread, &attr, trampoline, &job) != 0) {
    pthread_attr_destroy(&attr);
    return body(); // no big stack to be had: run on this one
  }
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  return job.result;
}

} // namespace nabla::tools
