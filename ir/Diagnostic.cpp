// Rendering of diagnostics in the LLVM form: `file:line:col: error: message`, source line, caret.
#include "nabla/Diagnostic.h"

#include <algorithm>

namespace nabla {

SourceFile::SourceFile(std::string name, std::string text)
    : name_(std::move(name)), text_(std::move(text)) {
  lineStarts_.push_back(0);
  for (std::size_t i = 0; i < text_.size(); ++i)
    if (text_[i] == '\n')
      lineStarts_.push_back(i + 1);
}

std::pair<int, int> SourceFile::lineCol(std::size_t offset) const {
  offset = std::min(offset, text_.size());
  auto it = std::upper_bound(lineStarts_.begin(), lineStarts_.end(), offset);
  std::size_t line = static_cast<std::size_t>(it - lineStarts_.begin()); // 1-based
  return {static_cast<int>(line), static_cast<int>(offset - lineStarts_[line - 1] + 1)};
}

std::string_view SourceFile::lineText(int line) const {
  if (line < 1 || static_cast<std::size_t>(line) > lineStarts_.size())
    return {};
  std::size_t begin = lineStarts_[line - 1];
  std::size_t end = text_.find('\n', begin);
  if (end == std::string::npos)
    end = text_.size();
  std::string_view view(text_);
  view = view.substr(begin, end - begin);
  if (!view.empty() && view.back() == '\r')
    view.remove_suffix(1);
  return view;
}

Diagnostic makeDiagnostic(const SourceFile &file, SourceRange range, std::string message,
                          Severity severity) {
  Diagnostic d;
  d.severity = severity;
  d.file = file.name();
  auto [line, col] = file.lineCol(range.begin);
  d.line = line;
  d.col = col;
  d.message = std::move(message);
  d.sourceLine = std::string(file.lineText(line));
  // The caret spans the range but stops at the end of the first line.
  std::size_t lineRemaining = d.sourceLine.size() >= static_cast<std::size_t>(col - 1)
                                  ? d.sourceLine.size() - static_cast<std::size_t>(col - 1)
                                  : 0;
  std::size_t width = range.end > range.begin ? range.end - range.begin : 1;
  d.caretWidth = static_cast<int>(std::max<std::size_t>(1, std::min(width, lineRemaining)));
  return d;
}

Diagnostic makeDiagnostic(std::string message) {
  Diagnostic d;
  d.message = std::move(message);
  return d;
}

std::string Diagnostic::render() const {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (line > 0)
      out += ":" + std::to_string(line) + ":" + std::to_string(col);
    out += ": ";
  }
  out += severity == Severity::Error ? "error: " : "note: ";
  out += message;
  out += '\n';
  if (line > 0) {
    out += sourceLine;
    out += '\n';
    // Tabs in the prefix are kept so that the caret lines up under tab-indented code.
    for (int i = 0; i + 1 < col && static_cast<std::size_t>(i) < sourceLine.size(); ++i)
      out += sourceLine[static_cast<std::size_t>(i)] == '\t' ? '\t' : ' ';
    out += '^';
    for (int i = 1; i < caretWidth; ++i)
      out += '~';
    out += '\n';
  }
  return out;
}

std::string Diagnostics::render() const {
  std::string out;
  for (const Diagnostic &d : list)
    out += d.render();
  return out;
}

} // namespace nabla
