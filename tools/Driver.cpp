// Shared plumbing of the `nabla` subcommands.
#include "tools/Driver.h"

#include <fmt/format.h>

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

namespace nabla::tools {

int report(const Diagnostics &d) {
  std::cerr << d.render();
  return kBadInput;
}

int report(const Diagnostic &d) { return report(Diagnostics{{d}}); }

std::optional<SourceFile> readSource(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    report(makeDiagnostic(fmt::format("cannot read '{}': {}", path, std::strerror(errno))));
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return SourceFile(path, text.str());
}

Expected<std::map<std::string, std::int64_t>> parseDims(const std::vector<std::string> &specs) {
  std::map<std::string, std::int64_t> dims;
  for (const std::string &spec : specs) {
    auto eq = spec.find('=');
    std::int64_t value = 0;
    bool ok = eq != std::string::npos && eq > 0;
    if (ok) {
      const char *begin = spec.c_str() + eq + 1;
      char *end = nullptr;
      errno = 0;
      value = std::strtoll(begin, &end, 10);
      ok = *begin && *end == '\0' && errno == 0 && value > 0;
    }
    if (!ok)
      return makeDiagnostic(
          fmt::format("--dim expects NAME=N with a positive integer N, got '{}'", spec));
    dims[spec.substr(0, eq)] = value;
  }
  return dims;
}

Expected<Module> loadModule(const std::string &path, const SemaOptions &options) {
  auto source = readSource(path);
  if (!source)
    return Diagnostics{}; // already reported
  return compileSource(*source, options);
}

Expected<LoadedFile> loadWithDims(const std::string &path,
                                  const std::vector<std::string> &dimSpecs) {
  auto dims = parseDims(dimSpecs);
  if (!dims)
    return dims.takeError();
  SemaOptions sema;
  sema.dims = *dims;
  auto module = loadModule(path, sema);
  if (!module)
    return module.takeError();
  return LoadedFile{std::move(*module), std::move(*dims)};
}

Expected<const Function *> selectFunction(const Module &m, const std::string &name,
                                          const std::string &path) {
  if (name.empty()) {
    if (m.functions.size() == 1)
      return &m.functions[0];
    return makeDiagnostic(fmt::format("'{}' defines {} functions and models; choose one with --fn",
                                      path, m.functions.size()));
  }
  if (const Function *f = m.find(name))
    return f;
  std::string known;
  for (const Function &f : m.functions)
    known += (known.empty() ? "" : ", ") + f.name;
  return makeDiagnostic(fmt::format("'{}' has no fn or model named '{}' (it has: {})", path, name,
                                    known.empty() ? "none" : known));
}

std::optional<std::string> writeFileAtomically(const std::string &path, const std::string &text) {
  return writeFilesAtomically({{path, text}});
}

std::optional<std::string>
writeFilesAtomically(const std::vector<std::pair<std::string, std::string>> &files) {
  std::vector<std::string> written;
  auto fail = [&](std::string message) {
    for (const std::string &tmp : written)
      std::remove(tmp.c_str());
    return std::optional<std::string>(std::move(message));
  };
  for (const auto &[path, text] : files) {
    // A rename over a directory fails: find that out before anything is replaced.
    struct stat info;
    if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode))
      return fail(fmt::format("cannot write '{}': it is a directory", path));
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return fail(fmt::format("cannot write '{}': {}", tmp, std::strerror(errno)));
    written.push_back(tmp);
    out << text;
    out.flush();
    if (!out)
      return fail(fmt::format("cannot write '{}': {}", tmp, std::strerror(errno)));
  }
  for (std::size_t i = 0; i < files.size(); ++i)
    if (std::rename(written[i].c_str(), files[i].first.c_str()) != 0) {
      std::string err = std::strerror(errno);
      written.erase(written.begin(), written.begin() + static_cast<std::ptrdiff_t>(i));
      return fail(fmt::format("cannot write '{}': {}", files[i].first, err));
    }
  return std::nullopt;
}

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
