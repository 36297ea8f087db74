// A hand-written lexer and recursive-descent parser for the line-oriented textual IR.
#include "ir/IrParser.h"

#include "ir/OpTable.h"
#include "ir/Verifier.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <exception>
#include <limits>
#include <set>

namespace nabla {

namespace {

enum class Tok : std::uint8_t { Ident, Global, Value, Int, Float, String, Punct, Newline, Eof };

struct Token {
  Tok kind = Tok::Eof;
  std::size_t begin = 0;
  std::size_t end = 0;
  std::string_view text; // the spelling; for Punct the one character
  std::string value;     // the decoded contents of a String or a Global (quoted or not)
  ValueId number = 0;    // of a Value
};

bool isIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isIdentChar(char c) { return isIdentStart(c) || (c >= '0' && c <= '9') || c == '.'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

[[noreturn]] void fail(const SourceFile &file, SourceRange range, std::string message) {
  throw DiagnosticException{makeDiagnostic(file, range, std::move(message))};
}

std::string describe(const Token &t) {
  switch (t.kind) {
  case Tok::Newline:
    return "end of line";
  case Tok::Eof:
    return "end of file";
  case Tok::String:
    return "a string";
  case Tok::Ident:
  case Tok::Global:
  case Tok::Value:
  case Tok::Int:
  case Tok::Float:
  case Tok::Punct:
    return "'" + std::string(t.text) + "'";
  }
  return "?";
}

/// Splits the text into tokens on demand, so that an error late in a file cannot hide an
/// earlier one. Newlines are tokens: the format has one instruction per line.
class Lexer {
public:
  explicit Lexer(const SourceFile &file) : file_(file), text_(file.text()) {}

  Token next() {
    skipBlanks();
    Token t;
    t.begin = pos_;
    if (pos_ >= text_.size()) {
      t.kind = Tok::Eof;
      t.end = pos_;
      return t;
    }
    char c = text_[pos_];
    if (c == '\n') {
      ++pos_;
      return finish(t, Tok::Newline);
    }
    if (isIdentStart(c)) {
      scanIdent();
      return finish(t, Tok::Ident);
    }
    if (isDigit(c))
      return scanNumber(t);
    if (c == '"') {
      t.value = scanString();
      return finish(t, Tok::String);
    }
    if (c == '@') {
      ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '"') {
        t.value = scanString();
      } else if (pos_ < text_.size() && isIdentStart(text_[pos_])) {
        std::size_t start = pos_;
        scanIdent();
        t.value = std::string(text_.substr(start, pos_ - start));
      } else {
        fail(file_, {t.begin, pos_}, "expected a function name after '@'");
      }
      return finish(t, Tok::Global);
    }
    if (c == '%')
      return scanValue(t);
    if (std::string_view("[]{}(),=:+-*/").find(c) != std::string_view::npos) {
      ++pos_;
      return finish(t, Tok::Punct);
    }
    auto u = static_cast<unsigned char>(c);
    std::string shown = u >= 0x20 && u < 0x7f ? std::string(1, c) : hexByte(u);
    fail(file_, {pos_, pos_ + 1}, "unexpected character '" + shown + "'");
  }

private:
  static std::string hexByte(unsigned char u) {
    static const char *hex = "0123456789abcdef";
    return std::string("\\x") + hex[u >> 4] + hex[u & 15];
  }

  Token finish(Token &t, Tok kind) {
    t.kind = kind;
    t.end = pos_;
    t.text = text_.substr(t.begin, t.end - t.begin);
    return std::move(t);
  }

  /// Spaces, tabs, carriage returns and `//` comments; not newlines.
  void skipBlanks() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/') {
        while (pos_ < text_.size() && text_[pos_] != '\n')
          ++pos_;
      } else {
        return;
      }
    }
  }

  void scanIdent() {
    while (pos_ < text_.size() && isIdentChar(text_[pos_]))
      ++pos_;
  }

  void scanDigits() {
    while (pos_ < text_.size() && isDigit(text_[pos_]))
      ++pos_;
  }

  // number = digits ("." digits*)? (("e" | "E") ("+" | "-")? digits)?
  Token scanNumber(Token &t) {
    bool isFloat = false;
    scanDigits();
    if (pos_ < text_.size() && text_[pos_] == '.') {
      isFloat = true;
      ++pos_;
      scanDigits();
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      std::size_t p = pos_ + 1;
      if (p < text_.size() && (text_[p] == '+' || text_[p] == '-'))
        ++p;
      if (p < text_.size() && isDigit(text_[p])) {
        isFloat = true;
        pos_ = p;
        scanDigits();
      }
    }
    return finish(t, isFloat ? Tok::Float : Tok::Int);
  }

  Token scanValue(Token &t) {
    ++pos_;
    std::size_t start = pos_;
    scanDigits();
    if (pos_ == start)
      fail(file_, {t.begin, pos_}, "expected a value number after '%'");
    std::uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, n);
    if (ec != std::errc() || n >= std::numeric_limits<ValueId>::max())
      fail(file_, {t.begin, pos_}, "value number too large");
    t.number = static_cast<ValueId>(n);
    return finish(t, Tok::Value);
  }

  // string = '"' (char | '\"' | '\\' | '\n' | '\t' | '\x' hex hex)* '"'
  std::string scanString() {
    std::size_t open = pos_;
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= text_.size() || text_[pos_] == '\n')
        fail(file_, {open, pos_}, "unterminated string");
      char c = text_[pos_++];
      if (c == '"')
        return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size())
        fail(file_, {open, pos_}, "unterminated string");
      char e = text_[pos_++];
      if (e == '"' || e == '\\') {
        out += e;
      } else if (e == 'n') {
        out += '\n';
      } else if (e == 't') {
        out += '\t';
      } else if (e == 'x' && pos_ + 2 <= text_.size() &&
                 std::isxdigit(static_cast<unsigned char>(text_[pos_])) &&
                 std::isxdigit(static_cast<unsigned char>(text_[pos_ + 1]))) {
        unsigned v = 0;
        std::from_chars(text_.data() + pos_, text_.data() + pos_ + 2, v, 16);
        out += static_cast<char>(v);
        pos_ += 2;
      } else {
        fail(file_, {pos_ - 2, pos_}, "unknown escape sequence in string");
      }
    }
  }

  const SourceFile &file_;
  std::string_view text_;
  std::size_t pos_ = 0;
};

/// A dimension with bounds on its coefficients, so that no input can overflow Dim's 64-bit
/// rational arithmetic: written over a common denominator `den`, its integer coefficients'
/// magnitudes sum to at most `mag`.
struct BoundedDim {
  Dim dim;
  double mag = 0;
  double den = 1;
};

// Dims are sizes: 2^31 is far beyond any real one and keeps every product inside 64 bits. The
// denominator bound is lower because type rules multiply dimensions together.
constexpr double kMaxDimMagnitude = 2147483648.0;
constexpr double kMaxDimDenominator = 65536.0;
constexpr int kMaxDimDepth = 64;

class Parser {
public:
  explicit Parser(const SourceFile &file) : file_(file), lexer_(file) { advance(); }

  // module = (newline | function)* eof
  Module parseModule() {
    Module m;
    skipNewlines();
    while (tok_.kind != Tok::Eof) {
      m.functions.push_back(parseFunction());
      skipNewlines();
    }
    return m;
  }

  Function parseSingleFunction() {
    skipNewlines();
    if (tok_.kind == Tok::Eof)
      fail(tok_, "expected a function");
    Function f = parseFunction();
    skipNewlines();
    if (tok_.kind != Tok::Eof)
      fail(tok_, "expected exactly one function, found more");
    return f;
  }

private:
  [[noreturn]] void fail(const Token &t, std::string message) {
    nabla::fail(file_, {t.begin, t.end}, std::move(message));
  }

  void advance() { tok_ = lexer_.next(); }

  bool isPunct(char c) const { return tok_.kind == Tok::Punct && tok_.text[0] == c; }
  bool isKeyword(std::string_view word) const {
    return tok_.kind == Tok::Ident && tok_.text == word;
  }

  bool consumePunct(char c) {
    if (!isPunct(c))
      return false;
    advance();
    return true;
  }

  void expectPunct(char c) {
    if (!consumePunct(c))
      fail(tok_, std::string("expected '") + c + "', found " + describe(tok_));
  }

  void expectLineEnd() {
    if (tok_.kind == Tok::Eof)
      return;
    if (tok_.kind != Tok::Newline)
      fail(tok_, "expected end of line, found " + describe(tok_));
    advance();
  }

  void skipNewlines() {
    while (tok_.kind == Tok::Newline)
      advance();
  }

  /// An identifier or a quoted name (what Printer's printName writes).
  std::string parseName(const char *what) {
    if (tok_.kind != Tok::Ident && tok_.kind != Tok::String)
      fail(tok_, std::string("expected ") + what + ", found " + describe(tok_));
    std::string name = tok_.kind == Tok::Ident ? std::string(tok_.text) : tok_.value;
    advance();
    return name;
  }

  /// A use of a value: it must be defined by an earlier line.
  ValueId parseUse(std::size_t defined) {
    if (tok_.kind != Tok::Value)
      fail(tok_, "expected a value, found " + describe(tok_));
    if (tok_.number >= defined)
      fail(tok_, "use of undefined value %" + std::to_string(tok_.number));
    ValueId v = tok_.number;
    advance();
    return v;
  }

  // function = ("func" | "model") global ("[" name ("," name)* "]")? "{" newline
  //            (inst newline)* (("output" | "grad" | "tangent") name "=" value newline)*
  //            "return" value newline "}"
  Function parseFunction() {
    Function f;
    if (isKeyword("func"))
      f.kind = Function::Kind::Fn;
    else if (isKeyword("model"))
      f.kind = Function::Kind::Model;
    else
      fail(tok_, "expected 'func' or 'model', found " + describe(tok_));
    advance();
    if (tok_.kind != Tok::Global)
      fail(tok_, "expected a function name like '@f', found " + describe(tok_));
    Token nameTok = tok_;
    f.name = tok_.value;
    if (!functionNames_.insert(f.name).second)
      fail(nameTok, "duplicate function @" + f.name);
    advance();
    if (consumePunct('[')) {
      do {
        Token paramTok = tok_;
        std::string param = parseName("a dimension name");
        if (std::find(f.dimParams.begin(), f.dimParams.end(), param) != f.dimParams.end())
          fail(paramTok, "duplicate dimension parameter '" + param + "'");
        f.dimParams.push_back(std::move(param));
      } while (consumePunct(','));
      expectPunct(']');
    }
    expectPunct('{');
    expectLineEnd();

    std::vector<SourceRange> instRanges;
    skipNewlines();
    while (tok_.kind == Tok::Value) {
      instRanges.push_back(parseInst(f));
      expectLineEnd();
      skipNewlines();
    }
    std::vector<SourceRange> outputRanges;
    auto roleKeyword = [&]() -> std::optional<OutputRole> {
      for (OutputRole r : {OutputRole::Output, OutputRole::Gradient, OutputRole::Tangent})
        if (isKeyword(outputRoleKeyword(r)))
          return r;
      return std::nullopt;
    };
    while (auto role = roleKeyword()) {
      std::size_t begin = tok_.begin;
      advance();
      std::string name = parseName("an output name");
      expectPunct('=');
      std::size_t end = tok_.end;
      ValueId v = parseUse(f.insts.size());
      f.outputs.push_back(NamedValue{std::move(name), v, *role});
      outputRanges.push_back({begin, end});
      expectLineEnd();
      skipNewlines();
    }
    if (isPunct('}'))
      fail(tok_, "missing return in @" + f.name);
    if (!isKeyword("return"))
      fail(tok_, std::string(f.outputs.empty() ? "expected an instruction, 'output' or 'return'"
                                               : "expected 'output' or 'return'") +
                     ", found " + describe(tok_));
    SourceRange returnRange{tok_.begin, tok_.end};
    advance();
    returnRange.end = tok_.end;
    f.result = parseUse(f.insts.size());
    expectLineEnd();
    skipNewlines();
    if (!isPunct('}'))
      fail(tok_, "expected '}' after return, found " + describe(tok_));
    advance();
    expectLineEnd();

    verifyParsed(f, {nameTok.begin, nameTok.end}, instRanges, outputRanges, returnRange);
    return f;
  }

  /// Puts the verifier's caret on the line it blames.
  void verifyParsed(const Function &f, SourceRange whole, const std::vector<SourceRange> &insts,
                    const std::vector<SourceRange> &outputs, SourceRange result) {
    auto failure = verifyDetailed(f);
    if (!failure)
      return;
    SourceRange range = whole;
    switch (failure->site) {
    case VerifierFailure::Site::Function:
      break;
    case VerifierFailure::Site::Inst:
      range = insts[failure->index];
      break;
    case VerifierFailure::Site::Output:
      range = outputs[failure->index];
      break;
    case VerifierFailure::Site::Result:
      range = result;
      break;
    }
    nabla::fail(file_, range, std::move(failure->message));
  }

  // region = "{" newline (inst newline)* "yield" value ("," value)* newline "}"
  // A loop body: a function of its own, with the enclosing function's dimensions.
  std::shared_ptr<const Function> parseRegion(const Function &enclosing, SourceRange loop) {
    Function body;
    body.name = enclosing.name + ".body";
    body.dimParams = enclosing.dimParams;
    expectPunct('{');
    expectLineEnd();
    skipNewlines();
    std::vector<SourceRange> instRanges;
    while (tok_.kind == Tok::Value) {
      instRanges.push_back(parseInst(body));
      expectLineEnd();
      skipNewlines();
    }
    if (!isKeyword("yield"))
      fail(tok_, "expected an instruction or 'yield', found " + describe(tok_));
    SourceRange yieldRange{tok_.begin, tok_.end};
    advance();
    do {
      yieldRange.end = tok_.end;
      body.yields.push_back(parseUse(body.insts.size()));
    } while (consumePunct(','));
    body.result = body.yields.front();
    expectLineEnd();
    skipNewlines();
    if (!isPunct('}'))
      fail(tok_, "expected '}' after yield, found " + describe(tok_));
    advance();
    verifyParsed(body, loop, instRanges, {}, yieldRange);
    return std::make_shared<const Function>(std::move(body));
  }

  // inst = value ":" type "=" mnemonic (value ("," value)*)? ("{" attr ("," attr)* "}")? region*
  SourceRange parseInst(Function &f) {
    std::size_t begin = tok_.begin;
    auto id = static_cast<std::size_t>(tok_.number);
    if (id < f.insts.size())
      fail(tok_, "duplicate value %" + std::to_string(id));
    if (id > f.insts.size())
      fail(tok_, "value %" + std::to_string(id) + " out of order: expected %" +
                     std::to_string(f.insts.size()));
    advance();
    expectPunct(':');
    Inst inst;
    inst.type = parseType(f);
    expectPunct('=');
    if (tok_.kind != Tok::Ident)
      fail(tok_, "expected an op, found " + describe(tok_));
    auto op = opFromMnemonic(tok_.text);
    if (!op)
      fail(tok_, "unknown op '" + std::string(tok_.text) + "'");
    inst.op = *op;
    std::string opName(tok_.text);
    std::size_t end = tok_.end;
    advance();
    if (tok_.kind == Tok::Value) {
      do {
        end = tok_.end;
        inst.operands.push_back(parseUse(f.insts.size()));
      } while (consumePunct(','));
    }
    const auto &specs = opInfo(inst.op).attrs;
    if (isPunct('{')) {
      if (specs.empty())
        fail(tok_, "'" + opName + "' takes no attributes");
      advance();
      for (std::size_t i = 0; i < specs.size(); ++i) {
        if (i > 0 && isPunct('}'))
          fail(tok_, "missing attribute '" + std::string(specs[i].name) + "' of '" + opName + "'");
        if (i > 0)
          expectPunct(',');
        parseAttrName(specs, i, opName);
        inst.attrs.push_back(parseAttrValue(f, specs[i], opName));
      }
      if (isPunct(','))
        fail(tok_, "'" + opName + "' takes " + std::to_string(specs.size()) + " attribute(s)");
      end = tok_.end;
      expectPunct('}');
    } else if (!specs.empty()) {
      fail(tok_, "missing attributes of '" + opName + "', expected {" + std::string(specs[0].name) +
                     "=...}");
    }
    while (isPunct('{'))
      inst.regions.push_back(parseRegion(f, {begin, end}));
    f.insts.push_back(std::move(inst));
    return {begin, end};
  }

  void parseAttrName(const std::vector<AttrSpec> &specs, std::size_t i, const std::string &opName) {
    if (tok_.kind != Tok::Ident)
      fail(tok_,
           "expected attribute '" + std::string(specs[i].name) + "', found " + describe(tok_));
    std::string_view name = tok_.text;
    if (name != specs[i].name) {
      bool known = std::any_of(specs.begin(), specs.end(),
                               [&](const AttrSpec &s) { return name == s.name; });
      if (known)
        fail(tok_, "attribute '" + std::string(name) + "' out of order: expected '" +
                       specs[i].name + "'");
      fail(tok_, "unknown attribute '" + std::string(name) + "' of '" + opName + "'");
    }
    advance();
    expectPunct('=');
  }

  [[noreturn]] void failKind(const AttrSpec &spec, const std::string &opName, const char *what) {
    fail(tok_, "attribute '" + std::string(spec.name) + "' of '" + opName + "' expects " + what +
                   ", found " + describe(tok_));
  }

  AttrValue parseAttrValue(const Function &f, const AttrSpec &spec, const std::string &opName) {
    switch (spec.kind) {
    case AttrKind::Int:
      if (!startsNumber())
        failKind(spec, opName, "an integer");
      return parseInt(spec, opName);
    case AttrKind::Float:
      if (!startsNumber() && !isKeyword("nan") && !isKeyword("inf"))
        failKind(spec, opName, "a float");
      return parseFloat(spec, opName);
    case AttrKind::Ints: {
      if (!isPunct('['))
        failKind(spec, opName, "a list of integers");
      std::vector<std::int64_t> xs;
      parseList([&] { xs.push_back(parseInt(spec, opName)); });
      return xs;
    }
    case AttrKind::Floats: {
      if (!isPunct('['))
        failKind(spec, opName, "a list of floats");
      std::vector<double> xs;
      parseList([&] { xs.push_back(parseFloat(spec, opName)); });
      return xs;
    }
    case AttrKind::Dims: {
      if (!isPunct('['))
        failKind(spec, opName, "a list of dimensions");
      Shape xs;
      parseList([&] { xs.push_back(parseDim(f)); });
      return xs;
    }
    case AttrKind::DTypeAttr: {
      if (tok_.kind != Tok::Ident)
        failKind(spec, opName, "an element type");
      auto t = parseDType(std::string(tok_.text));
      if (!t)
        fail(tok_, "unknown element type '" + std::string(tok_.text) + "'");
      advance();
      return *t;
    }
    case AttrKind::String: {
      if (tok_.kind != Tok::String)
        failKind(spec, opName, "a string");
      std::string s = tok_.value;
      advance();
      return s;
    }
    }
    fail(tok_, "unsupported attribute kind");
  }

  bool startsNumber() const {
    return isPunct('-') || tok_.kind == Tok::Int || tok_.kind == Tok::Float;
  }

  // list = "[" (item ("," item)*)? "]"
  template <class F> void parseList(F &&item) {
    expectPunct('[');
    if (consumePunct(']'))
      return;
    do
      item();
    while (consumePunct(','));
    expectPunct(']');
  }

  std::int64_t parseInt(const AttrSpec &spec, const std::string &opName) {
    std::size_t begin = tok_.begin;
    bool negative = consumePunct('-');
    if (tok_.kind != Tok::Int)
      failKind(spec, opName, "an integer");
    // Sign and digits together, so that the most negative int64 reads back.
    std::string digits = (negative ? "-" : "") + std::string(tok_.text);
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc() || ptr != digits.data() + digits.size())
      nabla::fail(file_, {begin, tok_.end}, "integer out of range");
    advance();
    return v;
  }

  double parseFloat(const AttrSpec &spec, const std::string &opName) {
    std::size_t begin = tok_.begin;
    bool negative = consumePunct('-');
    if (isKeyword("inf")) {
      advance();
      return negative ? -std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::infinity();
    }
    if (!negative && isKeyword("nan")) {
      advance();
      return std::numeric_limits<double>::quiet_NaN();
    }
    if (tok_.kind != Tok::Int && tok_.kind != Tok::Float)
      failKind(spec, opName, "a float");
    std::string digits = (negative ? "-" : "") + std::string(tok_.text);
    double v = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc() || ptr != digits.data() + digits.size())
      nabla::fail(file_, {begin, tok_.end}, "float out of range");
    advance();
    return v;
  }

  // type = dtype ("[" dim ("," dim)* "]")?
  Type parseType(const Function &f) {
    if (tok_.kind != Tok::Ident)
      fail(tok_, "expected a type, found " + describe(tok_));
    auto dtype = parseDType(std::string(tok_.text));
    if (!dtype)
      fail(tok_, "unknown element type '" + std::string(tok_.text) + "'");
    advance();
    Type t{*dtype, {}};
    if (!consumePunct('['))
      return t;
    do
      t.shape.push_back(parseDim(f));
    while (consumePunct(','));
    expectPunct(']');
    return t;
  }

  /// A dimension expression whose names are parameters of `f`.
  Dim parseDim(const Function &f) {
    depth_ = 0;
    return parseDimSum(f).dim;
  }

  void checkBounds(const BoundedDim &d, std::size_t begin) {
    if (d.mag > kMaxDimMagnitude || d.den > kMaxDimDenominator)
      nabla::fail(file_, {begin, tok_.begin}, "dimension expression too large");
  }

  // dim = term (("+" | "-") term)*
  BoundedDim parseDimSum(const Function &f) {
    std::size_t begin = tok_.begin;
    BoundedDim acc = parseDimTerm(f);
    while (isPunct('+') || isPunct('-')) {
      bool plus = isPunct('+');
      advance();
      BoundedDim rhs = parseDimTerm(f);
      acc.mag = acc.mag * rhs.den + rhs.mag * acc.den;
      acc.den = acc.den * rhs.den;
      checkBounds(acc, begin);
      acc.dim = plus ? acc.dim + rhs.dim : acc.dim - rhs.dim;
    }
    return acc;
  }

  // term = unary (("*" | "/") unary)*
  BoundedDim parseDimTerm(const Function &f) {
    std::size_t begin = tok_.begin;
    BoundedDim acc = parseDimUnary(f);
    while (isPunct('*') || isPunct('/')) {
      bool times = isPunct('*');
      Token opTok = tok_;
      advance();
      BoundedDim rhs = parseDimUnary(f);
      if (times) {
        acc.mag *= rhs.mag;
        acc.den *= rhs.den;
        checkBounds(acc, begin);
        acc.dim = acc.dim * rhs.dim;
        continue;
      }
      if (!rhs.dim.isConstant() || rhs.dim.constant() == 0)
        fail(opTok, "a dimension can only be divided by a nonzero integer");
      std::int64_t k = rhs.dim.constant();
      acc.den *= static_cast<double>(k < 0 ? -k : k);
      checkBounds(acc, begin);
      auto q = Dim::divide(acc.dim, rhs.dim);
      if (!q)
        fail(opTok, "dimension " + acc.dim.str() + " is not divisible by " + rhs.dim.str());
      acc.dim = *q;
    }
    return acc;
  }

  // unary = "-" unary | INT | NAME | "(" dim ")"
  BoundedDim parseDimUnary(const Function &f) {
    if (++depth_ > kMaxDimDepth)
      fail(tok_, "dimension expression nested too deeply");
    BoundedDim d = parseDimAtom(f);
    --depth_;
    return d;
  }

  BoundedDim parseDimAtom(const Function &f) {
    if (consumePunct('-')) {
      BoundedDim d = parseDimUnary(f);
      d.dim = Dim(0) - d.dim;
      return d;
    }
    if (consumePunct('(')) {
      BoundedDim d = parseDimSum(f);
      expectPunct(')');
      return d;
    }
    if (tok_.kind == Tok::Int) {
      std::int64_t v = 0;
      auto [ptr, ec] = std::from_chars(tok_.text.data(), tok_.text.data() + tok_.text.size(), v);
      if (ec != std::errc() || static_cast<double>(v) > kMaxDimMagnitude)
        fail(tok_, "dimension too large");
      advance();
      return BoundedDim{Dim(v), static_cast<double>(v), 1};
    }
    if (tok_.kind == Tok::Ident) {
      std::string name(tok_.text);
      if (std::find(f.dimParams.begin(), f.dimParams.end(), name) == f.dimParams.end())
        fail(tok_, "dimension '" + name + "' is not a parameter of @" + f.name);
      advance();
      return BoundedDim{Dim::symbol(name), 1, 1};
    }
    fail(tok_, "expected a dimension, found " + describe(tok_));
  }

  const SourceFile &file_;
  Lexer lexer_;
  Token tok_;
  std::set<std::string> functionNames_;
  int depth_ = 0;
};

template <class T, class F> Expected<T> guard(const SourceFile &file, F &&parse) {
  // Exceptions stop at the library boundary; the parser uses them only to unwind to here.
  try {
    return parse();
  } catch (DiagnosticException &e) {
    return std::move(e.diagnostic);
  } catch (const std::exception &e) {
    return makeDiagnostic(file, {0, 0},
                          std::string("internal error while parsing IR: ") + e.what());
  } catch (...) {
    return makeDiagnostic(file, {0, 0}, "internal error while parsing IR");
  }
}

} // namespace

Expected<Module> parseIr(const SourceFile &file) {
  return guard<Module>(file, [&] { return Parser(file).parseModule(); });
}

Expected<Function> parseIrFunction(const SourceFile &file) {
  return guard<Function>(file, [&] { return Parser(file).parseSingleFunction(); });
}

} // namespace nabla
