// Reading, checking and writing files for every way into nabla.
#include "driver/Source.h"

#include "frontend/Parser.h"

#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace nabla {

Expected<SourceFile> readSource(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return makeDiagnostic(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
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
    return source.takeError();
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

Expected<Function> expressionFunction(const std::string &expression,
                                      const std::string &sourceName,
                                      const std::vector<std::string> &variables) {
  SourceFile source(sourceName, expression);
  auto expr = parseExpression(source);
  if (!expr)
    return expr.takeError();
  for (const std::string &v : variables)
    if (isBuiltinName(v) || v.empty() ||
        v.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
            std::string::npos ||
        std::isdigit(static_cast<unsigned char>(v[0])))
      return makeDiagnostic(fmt::format("'{}' is not a variable name", v));
  return analyzeExpression(*expr, source, variables);
}

Expected<void> writeFileAtomically(const std::string &path, const std::string &text) {
  return writeFilesAtomically({{path, text}});
}

Expected<void>
writeFilesAtomically(const std::vector<std::pair<std::string, std::string>> &files) {
  std::vector<std::string> written;
  auto fail = [&](std::string message) {
    for (const std::string &tmp : written)
      std::remove(tmp.c_str());
    return Expected<void>(makeDiagnostic(std::move(message)));
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
  return {};
}

} // namespace nabla
