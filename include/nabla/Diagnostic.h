// Source positions, diagnostics in the LLVM form, and the result type used across library boundaries.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace nabla {

/// A file's text and name; diagnostics point into it by byte offset.
class SourceFile {
public:
  SourceFile(std::string name, std::string text);

  const std::string &name() const { return name_; }
  const std::string &text() const { return text_; }
  /// 1-based line and column of a byte offset (columns count bytes, as clang's do).
  std::pair<int, int> lineCol(std::size_t offset) const;
  /// The text of 1-based line `line`, without its newline.
  std::string_view lineText(int line) const;

private:
  std::string name_;
  std::string text_;
  std::vector<std::size_t> lineStarts_;
};

/// A half-open byte range in a SourceFile; the caret goes under it.
struct SourceRange {
  std::size_t begin = 0;
  std::size_t end = 0;
};

enum class Severity { Error, Note };

/// One message: `file:line:col: error: text`, then the source line and a caret.
struct Diagnostic {
  Severity severity = Severity::Error;
  std::string file; // empty when there is no source position (e.g. a CLI argument)
  int line = 0;
  int col = 0;
  std::string message;
  std::string sourceLine;
  int caretWidth = 1;

  /// The full text, ending in a newline.
  std::string render() const;
};

/// Builds a diagnostic pointing at `range` in `file`.
Diagnostic makeDiagnostic(const SourceFile &file, SourceRange range, std::string message,
                          Severity severity = Severity::Error);
/// A diagnostic without a source position.
Diagnostic makeDiagnostic(std::string message);

/// A list of diagnostics; the failure side of Expected.
struct Diagnostics {
  std::vector<Diagnostic> list;
  std::string render() const;
};

/// A value or the diagnostics explaining why there is none. Exceptions never cross a library
/// boundary; this does.
template <class T> class Expected {
public:
  Expected(T value) : state_(std::move(value)) {}
  Expected(Diagnostic d) : state_(Diagnostics{{std::move(d)}}) {}
  Expected(Diagnostics d) : state_(std::move(d)) {}

  explicit operator bool() const { return state_.index() == 0; }
  T &operator*() { return std::get<0>(state_); }
  const T &operator*() const { return std::get<0>(state_); }
  T *operator->() { return &std::get<0>(state_); }
  const T *operator->() const { return &std::get<0>(state_); }
  const Diagnostics &error() const { return std::get<1>(state_); }
  Diagnostics takeError() { return std::move(std::get<1>(state_)); }

private:
  std::variant<T, Diagnostics> state_;
};

/// Success, or the diagnostics explaining the failure: for operations that produce nothing
/// (writing files).
template <> class Expected<void> {
public:
  Expected() = default;
  Expected(Diagnostic d) : error_(Diagnostics{{std::move(d)}}), failed_(true) {}
  Expected(Diagnostics d) : error_(std::move(d)), failed_(true) {}

  explicit operator bool() const { return !failed_; }
  const Diagnostics &error() const { return error_; }
  Diagnostics takeError() { return std::move(error_); }

private:
  Diagnostics error_;
  bool failed_ = false;
};

/// Thrown only inside a library to unwind to its boundary, where it becomes an Expected.
struct DiagnosticException {
  Diagnostic diagnostic;
};

} // namespace nabla
