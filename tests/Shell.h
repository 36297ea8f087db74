// Running shell commands from tests: the `nabla` binary, compilers, compiled programs.
#pragma once

#include <fmt/format.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

namespace nabla::testing {

struct ShellResult {
  int exitCode = -1;
  std::string out; // stdout
  std::string err; // stderr
};

/// Runs `command` with sh from the source directory, capturing both streams.
inline ShellResult runShell(const std::string &command) {
  static int counter = 0;
  std::filesystem::path errFile =
      std::filesystem::temp_directory_path() /
      fmt::format("nabla_test_{}_{}.err", ::getpid(), counter++);
  std::string full =
      fmt::format("cd '{}' && {} 2>'{}'", NABLA_SOURCE_DIR, command, errFile.string());
  ShellResult r;
  FILE *pipe = ::popen(full.c_str(), "r");
  if (!pipe)
    return r;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0)
    r.out.append(buf.data(), n);
  int status = ::pclose(pipe);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(errFile);
  r.err.assign(std::istreambuf_iterator<char>(err), {});
  std::filesystem::remove(errFile);
  return r;
}

/// Runs `nabla ARGS` (the binary under test) from the source directory.
inline ShellResult runNabla(const std::string &args) {
  return runShell(fmt::format("'{}' {}", NABLA_BINARY, args));
}

} // namespace nabla::testing
