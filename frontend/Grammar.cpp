// The Spirit X3 parser's entry points (parseFile, parseExpression) and the conversion of parse
// failures into diagnostics; the project's only translation unit that includes X3.
#include "frontend/GrammarDef.h"
#include "frontend/Parser.h"

#include <exception>
#include <new>
#include <string>
#include <string_view>

namespace nabla {
namespace {

using grammar::Iterator;
using grammar::ParseState;

bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

/// Skips white space and comments from `p`; newlines too when `newlines` is set.
Iterator skipSpace(const ParseState &st, Iterator p, bool newlines) {
  while (p != st.end) {
    if (isBlank(*p) || (newlines && *p == '\n')) {
      ++p;
    } else if (*p == '#') {
      while (p != st.end && *p != '\n')
        ++p;
    } else {
      break;
    }
  }
  return p;
}

/// Where the caret of an expectation failure goes: under the offending token, or just after the
/// last token when the line (or the file) ended instead. X3 reports the position before the
/// white space that precedes the offending token, so skip it the way the parser would have.
SourceRange failureRange(const ParseState &st, Iterator where) {
  Iterator p = skipSpace(st, where, st.newlineIsSpace);
  if (p != st.end && *p != '\n')
    return grammar::tokenRangeAt(st, p);
  while (p != st.begin && (isBlank(p[-1]) || p[-1] == '\n'))
    --p;
  return st.range(p, p);
}

std::string keywordAt(const ParseState &st, SourceRange range) {
  // The words that are never names (GrammarDef.h's `keyword`).
  static constexpr std::string_view keywords[] = {"fn", "let", "model", "return", "for"};
  std::string_view token(st.begin + range.begin, range.end - range.begin);
  for (std::string_view k : keywords)
    if (token == k)
      return std::string(k);
  return {};
}

char closerOf(char open) { return open == '(' ? ')' : open == '[' ? ']' : '}'; }

/// Turns the expectation failure recorded by the entry rule's error handler into diagnostics.
Diagnostics expectationDiagnostics(const SourceFile &file, const ParseState &st) {
  const std::string &which = st.failWhich;
  const grammar::OpenBracket *open = st.open.empty() ? nullptr : &st.open.back();
  bool inBlock = open && open->ch == '{';

  // A block that runs to the end of the file: the caret goes under its '{', since one under the
  // end of the file says nothing about which block is open.
  bool atEnd = skipSpace(st, st.failWhere, true) == st.end;
  bool wantsBrace = which == "'}'" || which == "'}' after the return statement";
  if (inBlock && atEnd && (wantsBrace || which == "'return' at the end of block"))
    return Diagnostics{{makeDiagnostic(file, {open->offset, open->offset + 1},
                                       "unterminated block: expected '}'")}};

  SourceRange at = failureRange(st, st.failWhere);
  std::string message = "expected " + which;
  if (which.size() >= 4 && which.compare(which.size() - 4, 4, "name") == 0) {
    std::string k = keywordAt(st, at);
    if (!k.empty())
      message = "expected " + which + ", found keyword '" + k + "'";
  }
  Diagnostics out{{makeDiagnostic(file, at, message)}};
  if (open && (which == std::string("'") + closerOf(open->ch) + "'" || (inBlock && wantsBrace)))
    out.list.push_back(makeDiagnostic(file, {open->offset, open->offset + 1},
                                      std::string("to match this '") + open->ch + "'",
                                      Severity::Note));
  return out;
}

/// Runs `rule` over the whole file; every failure, X3's or ours, comes back as diagnostics.
template <class Rule, class Attribute>
Expected<bool> runParser(const SourceFile &file, const Rule &rule, Attribute &attr,
                         bool newlineIsSpace) {
  namespace x3 = boost::spirit::x3;
  const std::string &text = file.text();
  ParseState st;
  st.begin = text.data();
  st.end = text.data() + text.size();
  st.newlineIsSpace = newlineIsSpace;
  try {
    Iterator first = st.begin;
    grammar::Skipper skipper(&st);
    bool ok = x3::phrase_parse(first, st.end, x3::with<grammar::StateTag>(st)[rule], skipper, attr);
    if (ok && first == st.end)
      return true;
    if (st.failed)
      return expectationDiagnostics(file, st);
    // The entry rules end in expectation points, so this is a grammar bug, not a user error.
    return makeDiagnostic(file, failureRange(st, first), "unexpected text");
  } catch (const grammar::ParseError &e) {
    return makeDiagnostic(file, e.range, e.message);
  } catch (const std::bad_alloc &) {
    return makeDiagnostic(file, {0, 0}, "out of memory while parsing");
  } catch (const std::exception &e) {
    return makeDiagnostic(file, {0, 0}, std::string("internal parser error: ") + e.what());
  } catch (...) {
    return makeDiagnostic(file, {0, 0}, "internal parser error");
  }
}

} // namespace

Expected<ast::File> parseFile(const SourceFile &file) {
  ast::File out;
  Expected<bool> ok = runParser(file, grammar::file, out, false);
  if (!ok)
    return ok.takeError();
  return out;
}

Expected<ast::ExprPtr> parseExpression(const SourceFile &file) {
  grammar::Node out;
  Expected<bool> ok = runParser(file, grammar::exprEntry, out, true);
  if (!ok)
    return ok.takeError();
  return ast::ExprPtr(std::move(out.expr));
}

} // namespace nabla
