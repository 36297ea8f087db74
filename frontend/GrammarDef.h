// The Spirit X3 grammar of .nabla files (rules, their semantic actions and the parse state);
// included only by Grammar.cpp, which is the project's single X3 translation unit.
#pragma once

#include "frontend/Ast.h"
#include "frontend/Parser.h"

#include <boost/fusion/include/at_c.hpp>
#include <boost/spirit/home/x3.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace nabla::grammar {

namespace x3 = boost::spirit::x3;
namespace fusion = boost::fusion;
using Iterator = const char *;

/// Left-associative chains (`a + b + c ...`) are parsed by iteration, not recursion, yet they still
/// build a tree as deep as the chain; whoever walks it recursively (Sema, the printer, even the
/// shared_ptr destructor) needs a bound, so trees deeper than this are rejected too.
inline constexpr int kMaxTreeHeight = 16 * kMaxNestingDepth;

/// A syntax error found by a semantic action or a custom directive (not by an expectation point).
struct ParseError {
  SourceRange range;
  std::string message;
};

/// An opening bracket not yet closed: where a "to match this '('" note points.
struct OpenBracket {
  char ch;
  std::size_t offset;
};

/// Everything the grammar keeps besides the attributes: positions, nesting, the newline mode and
/// the expectation failure that ended the parse.
struct ParseState {
  Iterator begin = nullptr;
  Iterator end = nullptr;
  int depth = 0;               // parser recursion: brackets, unary operators, `^` exponents
  bool newlineIsSpace = false; // true inside ( ) and [ ], false at top level and inside { }
  std::vector<OpenBracket> open;

  bool failed = false;
  Iterator failWhere = nullptr;
  std::string failWhich;

  std::size_t offset(Iterator it) const { return static_cast<std::size_t>(it - begin); }
  SourceRange range(Iterator b, Iterator e) const { return {offset(b), offset(e)}; }
};

struct StateTag;

template <class Context> ParseState &stateOf(const Context &ctx) { return x3::get<StateTag>(ctx); }

inline bool isIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/// The range of the token starting at `it`, for carets: a whole name or number, else one byte.
inline SourceRange tokenRangeAt(const ParseState &st, Iterator it) {
  Iterator e = it;
  if (e != st.end && (isIdentChar(*e) || *e == '.')) {
    while (e != st.end && (isIdentChar(*e) || *e == '.'))
      ++e;
  } else if (e != st.end) {
    ++e;
  }
  return st.range(it, e);
}

inline ParseError tooDeep(const ParseState &st, Iterator at) {
  return {tokenRangeAt(st, at), "expression nested too deeply (more than " +
                                    std::to_string(kMaxNestingDepth) + " levels)"};
}

// ---------------------------------------------------------------------------------------------
// The skipper. Spaces, tabs and comments are always white space; a newline only inside ( ) and
// [ ]. The mode lives in the parse state because X3's skip[] directive nests a new context type
// on every use, which a recursive grammar would instantiate without end.

struct Skipper : x3::parser<Skipper> {
  using attribute_type = x3::unused_type;
  static bool const has_attribute = false;

  ParseState *state;
  explicit Skipper(ParseState *s) : state(s) {}

  template <class It, class Ctx, class RCtx, class Attr>
  bool parse(It &first, const It &last, const Ctx &, RCtx &, Attr &) const {
    It start = first;
    while (first != last) {
      char c = *first;
      if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' ||
          (c == '\n' && state->newlineIsSpace)) {
        ++first;
      } else if (c == '#') {
        while (first != last && *first != '\n')
          ++first;
      } else {
        break;
      }
    }
    return first != start;
  }
};

// ---------------------------------------------------------------------------------------------
// Directives that bound recursion. `group<'('>[...]` wraps a bracketed construct: it counts one
// nesting level, makes newlines white space inside (braceGroup makes them significant again),
// and remembers the opening bracket for "to match this" notes. `deeper[...]` counts one level for
// the operand of a unary operator or of `^` (the operator token itself checks the limit first, so
// the caret lands on it). Nesting beyond kMaxNestingDepth is rejected before recursing, so a
// 10,000-deep input costs 256 levels of stack, not 10,000.

/// Restores the state when the construct ends normally. During an exception the state is left as
/// it was at the failure, so the error handler sees the innermost open bracket and newline mode.
class GroupGuard {
public:
  GroupGuard(ParseState &st, char open, std::size_t offset, bool brace)
      : st_(st), counted_(!brace), savedMode_(st.newlineIsSpace),
        uncaught_(std::uncaught_exceptions()) {
    if (counted_)
      ++st_.depth;
    st_.open.push_back({open, offset});
    st_.newlineIsSpace = !brace;
  }
  ~GroupGuard() {
    if (counted_)
      --st_.depth;
    if (std::uncaught_exceptions() > uncaught_)
      return;
    st_.open.pop_back();
    st_.newlineIsSpace = savedMode_;
  }
  GroupGuard(const GroupGuard &) = delete;
  GroupGuard &operator=(const GroupGuard &) = delete;

private:
  ParseState &st_;
  bool counted_;
  bool savedMode_;
  int uncaught_;
};

template <class Subject, char Open, bool Brace>
struct GroupDirective : x3::unary_parser<Subject, GroupDirective<Subject, Open, Brace>> {
  using base_type = x3::unary_parser<Subject, GroupDirective<Subject, Open, Brace>>;
  static bool const is_pass_through_unary = true;
  static bool const handles_container = Subject::handles_container;

  constexpr GroupDirective(const Subject &subject) : base_type(subject) {}

  template <class It, class Ctx, class RCtx, class Attr>
  bool parse(It &first, const It &last, const Ctx &ctx, RCtx &rctx, Attr &attr) const {
    x3::skip_over(first, last, ctx);
    if (first == last || *first != Open)
      return false;
    ParseState &st = stateOf(ctx);
    if (!Brace && st.depth >= kMaxNestingDepth)
      throw tooDeep(st, first);
    GroupGuard guard(st, Open, st.offset(first), Brace);
    return this->subject.parse(first, last, ctx, rctx, attr);
  }
};

template <char Open, bool Brace> struct GroupGen {
  template <class Subject>
  constexpr GroupDirective<typename x3::extension::as_parser<Subject>::value_type, Open, Brace>
  operator[](const Subject &subject) const {
    return {x3::as_parser(subject)};
  }
};

template <char Open> inline constexpr GroupGen<Open, false> group{};
inline constexpr GroupGen<'{', true> braceGroup{};

template <class Subject>
struct DeeperDirective : x3::unary_parser<Subject, DeeperDirective<Subject>> {
  using base_type = x3::unary_parser<Subject, DeeperDirective<Subject>>;
  static bool const is_pass_through_unary = true;
  static bool const handles_container = Subject::handles_container;

  constexpr DeeperDirective(const Subject &subject) : base_type(subject) {}

  template <class It, class Ctx, class RCtx, class Attr>
  bool parse(It &first, const It &last, const Ctx &ctx, RCtx &rctx, Attr &attr) const {
    x3::skip_over(first, last, ctx);
    ParseState &st = stateOf(ctx);
    if (st.depth >= kMaxNestingDepth)
      throw tooDeep(st, first);
    ++st.depth;
    struct Restore {
      ParseState &st;
      ~Restore() { --st.depth; }
    } restore{st};
    return this->subject.parse(first, last, ctx, rctx, attr);
  }
};

struct DeeperGen {
  template <class Subject>
  constexpr DeeperDirective<typename x3::extension::as_parser<Subject>::value_type>
  operator[](const Subject &subject) const {
    return {x3::as_parser(subject)};
  }
};
inline constexpr DeeperGen deeper{};

} // namespace nabla::grammar

// Expectation failures name what was expected; a directive is as good as what it wraps.
namespace boost::spirit::x3 {
template <class Subject, char Open, bool Brace>
struct get_info<nabla::grammar::GroupDirective<Subject, Open, Brace>> {
  using result_type = std::string;
  std::string operator()(const nabla::grammar::GroupDirective<Subject, Open, Brace> &p) const {
    return what(p.subject);
  }
};
template <class Subject> struct get_info<nabla::grammar::DeeperDirective<Subject>> {
  using result_type = std::string;
  std::string operator()(const nabla::grammar::DeeperDirective<Subject> &p) const {
    return what(p.subject);
  }
};
// A rule with a semantic action, or a sequence, is expected as what it (first) consists of: the
// rule's name, e.g. `expected ']'` rather than a mangled type name.
template <class Subject, class Action> struct get_info<action<Subject, Action>> {
  using result_type = std::string;
  std::string operator()(const action<Subject, Action> &p) const { return what(p.subject); }
};
template <class Left, class Right> struct get_info<sequence<Left, Right>> {
  using result_type = std::string;
  std::string operator()(const sequence<Left, Right> &p) const { return what(p.left); }
};
} // namespace boost::spirit::x3

namespace nabla::grammar {

// ---------------------------------------------------------------------------------------------
// Attributes. Expressions are built bottom-up by semantic actions as mutable nodes (a
// parenthesized expression widens its node's range in place) that become ast::ExprPtr when stored
// in a parent.

/// A token's text and where it is.
struct Tok {
  std::string text;
  SourceRange range;
};

/// An expression under construction and the height of its tree.
struct Node {
  std::shared_ptr<ast::Expr> expr;
  int height = 0;
  int suffixes = 0; // postfix operators applied in a row (`f(x)[0].T` has 2)
};

struct ArgNode {
  bool isKeyword = false;
  Tok keyword;
  Node value;
};

struct CallArgs {
  std::vector<Node> positional;
  std::vector<ast::KeywordArg> keyword;
  int height = 0;
  SourceRange parens;
};

struct IndexItemNode {
  bool isSlice = false;
  Node index, lo, hi;
  SourceRange range;
};

struct IndexSuffix {
  std::vector<IndexItemNode> items;
  SourceRange brackets;
};

struct FnBody {
  std::vector<ast::Binding> bindings;
  ast::ExprPtr result;
  bool block = false;
  std::size_t end = 0;
};

struct LoopBody {
  std::vector<ast::Binding> stmts;
  std::size_t end = 0;
};

struct ModelBody {
  std::vector<ast::ModelStmt> stmts;
  std::size_t end = 0;
};

// ---------------------------------------------------------------------------------------------
// Node builders.

inline void checkHeight(int height, SourceRange at) {
  if (height > kMaxTreeHeight)
    throw ParseError{at, "expression nested too deeply (more than " +
                             std::to_string(kMaxTreeHeight) +
                             " levels; split it with intermediate bindings)"};
}

inline Node newNode(ast::Expr::Kind kind, SourceRange range) {
  auto e = std::make_shared<ast::Expr>();
  e->kind = kind;
  e->range = range;
  return {std::move(e), 1, 0};
}

inline Node makeNumber(const ParseState &st, Iterator b, Iterator e) {
  Node n = newNode(ast::Expr::Kind::Number, st.range(b, e));
  n.expr->isInteger = std::none_of(b, e, [](char c) { return c == '.' || c == 'e' || c == 'E'; });
  double value = 0;
  auto [ptr, ec] = std::from_chars(b, e, value);
  if (ec == std::errc::result_out_of_range) {
    // An exponent written with '-' underflows towards zero, as numpy's float() does; otherwise it
    // is too large for f64.
    std::string_view text(b, static_cast<std::size_t>(e - b));
    if (text.find("e-") == std::string_view::npos && text.find("E-") == std::string_view::npos)
      throw ParseError{st.range(b, e), "number '" + std::string(text) + "' is too large"};
    value = 0;
  } else if (ec != std::errc() || ptr != e) {
    throw ParseError{st.range(b, e), "invalid number '" + std::string(b, e) + "'"};
  }
  n.expr->number = value;
  return n;
}

inline Node makeName(const Tok &name) {
  Node n = newNode(ast::Expr::Kind::Name, name.range);
  n.expr->name = name.text;
  return n;
}

inline Node makeBinary(Node lhs, const Tok &op, Node rhs) {
  int height = 1 + std::max(lhs.height, rhs.height);
  checkHeight(height, op.range);
  Node n = newNode(ast::Expr::Kind::Binary, {lhs.expr->range.begin, rhs.expr->range.end});
  n.height = height;
  n.expr->op = op.text;
  n.expr->opRange = op.range;
  n.expr->args = {std::move(lhs.expr), std::move(rhs.expr)};
  return n;
}

inline Node makeUnary(const Tok &op, Node operand) {
  int height = 1 + operand.height;
  checkHeight(height, op.range);
  Node n = newNode(ast::Expr::Kind::Unary, {op.range.begin, operand.expr->range.end});
  n.height = height;
  n.expr->op = op.text;
  n.expr->opRange = op.range;
  n.expr->args = {std::move(operand.expr)};
  return n;
}

/// Counts one more postfix operator on `base`; a chain is as deep as the nesting it sits in.
inline void checkSuffix(const ParseState &st, const Node &base, SourceRange at) {
  if (st.depth + base.suffixes + 1 > kMaxNestingDepth)
    throw ParseError{at, "expression nested too deeply (more than " +
                             std::to_string(kMaxNestingDepth) + " levels)"};
}

// ---------------------------------------------------------------------------------------------
// Semantic actions shared by many rules.

auto const assign = [](auto &ctx) { x3::_val(ctx) = std::move(x3::_attr(ctx)); };

auto const makeTok = [](auto &ctx) {
  auto &r = x3::_attr(ctx);
  x3::_val(ctx) = Tok{std::string(r.begin(), r.end()), stateOf(ctx).range(r.begin(), r.end())};
};

auto const makeRange = [](auto &ctx) {
  auto &r = x3::_attr(ctx);
  x3::_val(ctx) = stateOf(ctx).range(r.begin(), r.end());
};

/// `lhs op rhs` where the attribute is (op, rhs) and `_val` holds lhs.
auto const combine = [](auto &ctx) {
  auto &attr = x3::_attr(ctx);
  x3::_val(ctx) =
      makeBinary(std::move(x3::_val(ctx)), fusion::at_c<0>(attr), std::move(fusion::at_c<1>(attr)));
};

auto const makeNameNode = [](auto &ctx) { x3::_val(ctx) = makeName(x3::_attr(ctx)); };

/// A parenthesized expression's range covers the parentheses, so carets and the ranges of
/// enclosing operators include them.
auto const widenToGroup = [](auto &ctx) {
  ParseState &st = stateOf(ctx);
  x3::_val(ctx).expr->range = {st.open.back().offset, x3::_attr(ctx).end};
};

// ---------------------------------------------------------------------------------------------
// Rule declarations. A rule's name is what an expectation failure says was expected.

// clang-format off
x3::rule<class NameId, Tok> const name = "name";
x3::rule<class RefNameId, Tok> const refName = "name";
x3::rule<class NumberId, Node> const number = "number";
x3::rule<class CmpOpId, Tok> const cmpOp = "operator";
x3::rule<class AddOpId, Tok> const addOp = "operator";
x3::rule<class MulOpId, Tok> const mulOp = "operator";
x3::rule<class DimMulOpId, Tok> const dimMulOp = "operator";
x3::rule<class PowOpId, Tok> const powOp = "operator";
x3::rule<class UnaryOpId, Tok> const unaryOp = "operator";
x3::rule<class LParenId, SourceRange> const lparen = "'('";
x3::rule<class RParenId, SourceRange> const rparen = "')'";
x3::rule<class LBracketId, SourceRange> const lbracket = "'['";
x3::rule<class RBracketId, SourceRange> const rbracket = "']'";
x3::rule<class LBraceId, SourceRange> const lbrace = "'{'";
x3::rule<class RBraceId, SourceRange> const rbrace = "'}'";
x3::rule<class BlockEndId, SourceRange> const blockEnd = "'}' after the return statement";
x3::rule<class ColonId, SourceRange> const colon = "':'";
x3::rule<class EqSignId> const eqSign = "'='";
x3::rule<class TransposeId, SourceRange> const transposeSuffix = "'.T'";

x3::rule<class ExpressionId, Node> const expression = "expression";
x3::rule<class AdditiveId, Node> const additive = "expression";
x3::rule<class TermId, Node> const term = "expression";
x3::rule<class UnaryId, Node> const unary = "expression";
x3::rule<class PowerId, Node> const power = "expression";
x3::rule<class PostfixId, Node> const postfix = "expression";
x3::rule<class PrimaryId, Node> const primary = "expression";
x3::rule<class ParenExprId, Node> const parenExpr = "expression";
x3::rule<class ArrayLitId, Node> const arrayLit = "expression";
x3::rule<class NameOrCallId, Node> const nameOrCall = "expression";
x3::rule<class CallArgsId, CallArgs> const callArgs = "'('";
x3::rule<class KwHeadId, Tok> const kwHead = "keyword argument";
x3::rule<class ArgId, ArgNode> const arg = "expression";
x3::rule<class IndexSuffixId, IndexSuffix> const indexSuffix = "'['";
x3::rule<class IndexItemId, IndexItemNode> const indexItem = "index";

x3::rule<class DtypeId, Tok> const dtype = "type (f32, f64 or i32)";
x3::rule<class TypeExprId, ast::TypeExpr> const typeExpr = "type (f32, f64 or i32)";
x3::rule<class DimExprId, Node> const dimExpr = "dimension";
x3::rule<class DimTermId, Node> const dimTerm = "dimension";
x3::rule<class DimAtomId, Node> const dimAtom = "dimension";

x3::rule<class LetDeclId, ast::LetDecl> const letDecl = "'let'";
x3::rule<class FnDeclId, ast::FnDecl> const fnDecl = "'fn'";
x3::rule<class ParamListId, std::vector<ast::Param>> const paramList = "'('";
x3::rule<class ParamId, ast::Param> const param = "parameter name";
x3::rule<class FnBodyId, FnBody> const fnBody = "'=' or '{' after function signature";
x3::rule<class BindingId, ast::Binding> const binding = "binding";
x3::rule<class UpdateTargetId, Node> const updateTarget = "name";
x3::rule<class UpdateStmtId, ast::Binding> const updateStmt = "update";
x3::rule<class ForStmtId, ast::Binding> const forStmt = "'for'";
x3::rule<class BlockStmtId, ast::Binding> const blockStmt = "statement";
x3::rule<class LoopBodyId, LoopBody> const loopBody = "'{' after the loop range";
x3::rule<class RangeDotsId> const rangeDots = "'..'";
x3::rule<class InId> const inKw = "'in'";
x3::rule<class ReturnStmtId, Node> const returnStmt = "'return' at the end of block";
x3::rule<class ModelDeclId, ast::ModelDecl> const modelDecl = "'model'";
x3::rule<class HeaderDimsId, std::vector<ast::HeaderDim>> const headerDims = "'('";
x3::rule<class HeaderDimId, ast::HeaderDim> const headerDim = "dimension name";
x3::rule<class ModelBodyId, ModelBody> const modelBody = "'{'";
x3::rule<class ModelStmtId, ast::ModelStmt> const modelStmt = "statement";
x3::rule<class InitializerId, ast::Initializer> const initializer = "initializer";
x3::rule<class StmtEndId> const stmtEnd = "newline or ';'";
x3::rule<class DeclEndId> const declEnd = "newline after declaration";
x3::rule<class FileEndId> const fileEnd = "'fn', 'let' or 'model'";
x3::rule<class ExprEndId> const exprEnd = "end of input";
// clang-format on

// ---------------------------------------------------------------------------------------------
// Tokens.

auto const identStart = x3::char_("A-Za-z_");
auto const identChar = x3::char_("A-Za-z0-9_");
auto const digit = x3::char_('0', '9');

/// A keyword never matches the start of a longer name: `lossy` is a name.
inline auto kw(const char *word) { return x3::lexeme[x3::lit(word) >> !identChar]; }

// The model statements' words (input, param, layer, output, loss) are keywords only where a model
// statement starts, so a function may name a value `loss` (LANGUAGE.md's rnn_loss does).
auto const keyword = x3::lexeme[(x3::lit("fn") | "let" | "model" | "return" | "for") >>
                                !identChar];

/// Newlines are allowed after a token that cannot end an expression or statement (an infix
/// operator, `=`), so a long line may break there even outside parentheses.
auto const nlOpt = *x3::lit('\n');

/// Separates statements inside { }.
auto const sep = x3::lit('\n') | ';';

/// `item ("," item)*`, committing after each comma so `f(a, )` says what is missing after it.
template <class P> auto listOf(const P &item) { return item >> *(',' > item); }

// name = [A-Za-z_][A-Za-z0-9_]*     (not a keyword)
auto const name_def = !keyword >> x3::raw[x3::lexeme[identStart >> *identChar]][makeTok];

// refName = name ("." name)*        (a layer's param `h.W`; `x.T` stays a transpose)
auto const refName_def =
    !keyword >>
    x3::raw[x3::lexeme[identStart >> *identChar >> *('.' >> !(x3::lit('T') >> !identChar) >>
                                                     identStart >> *identChar)]][makeTok];

// number = (digit+ ("." digit*)? | "." digit+) ([eE] [+-]? digit+)?
// A '.' followed by another '.' is not part of a number: `0..T` is a loop range.
auto const number_def =
    x3::raw[x3::lexeme[((+digit >> -('.' >> !x3::lit('.') >> *digit)) | ('.' >> +digit)) >>
                       -(x3::char_("eE") >> -x3::char_("+-") >> +digit)]][([](auto &ctx) {
      auto &r = x3::_attr(ctx);
      x3::_val(ctx) = makeNumber(stateOf(ctx), r.begin(), r.end());
    })];

// cmpOp = "<=" | ">=" | "==" | "!=" | "<" | ">"
auto const cmpOp_def = x3::raw[x3::lit("<=") | ">=" | "==" | "!=" | '<' | '>'][makeTok] >> nlOpt;
// addOp = "+" | "-"
auto const addOp_def = x3::raw[x3::char_("+-")][makeTok] >> nlOpt;
// mulOp = "*" | "/" | "@"
auto const mulOp_def = x3::raw[x3::char_("*/@")][makeTok] >> nlOpt;
// dimMulOp = "*" | "/"
auto const dimMulOp_def = x3::raw[x3::char_("*/")][makeTok] >> nlOpt;
// powOp = "^"                        ("**" is diagnosed: numpy users will type it)
auto const powOp_def = x3::raw[x3::lit('^') | "**"][([](auto &ctx) {
                         auto &r = x3::_attr(ctx);
                         ParseState &st = stateOf(ctx);
                         if (r.end() - r.begin() == 2)
                           throw ParseError{st.range(r.begin(), r.end()),
                                            "'**' is not an operator; use '^' for powers"};
                         if (st.depth >= kMaxNestingDepth)
                           throw tooDeep(st, r.begin());
                         x3::_val(ctx) = Tok{"^", st.range(r.begin(), r.end())};
                       })] >>
                       nlOpt;
/// An operator whose operand is one nesting level deeper; the check is made here so that the
/// caret of a too-deep chain goes under the operator that crosses the limit.
auto const makeNestingTok = [](auto &ctx) {
  auto &r = x3::_attr(ctx);
  ParseState &st = stateOf(ctx);
  if (st.depth >= kMaxNestingDepth)
    throw tooDeep(st, r.begin());
  x3::_val(ctx) = Tok{std::string(r.begin(), r.end()), st.range(r.begin(), r.end())};
};

// unaryOp = "-" | "+"
auto const unaryOp_def = x3::raw[x3::char_("+-")][makeNestingTok];

auto const lparen_def = x3::raw[x3::lit('(')][makeRange];
auto const rparen_def = x3::raw[x3::lit(')')][makeRange];
auto const lbracket_def = x3::raw[x3::lit('[')][makeRange];
auto const rbracket_def = x3::raw[x3::lit(']')][makeRange];
auto const lbrace_def = x3::raw[x3::lit('{')][makeRange];
auto const rbrace_def = x3::raw[x3::lit('}')][makeRange];
auto const blockEnd_def = x3::raw[x3::lit('}')][makeRange];
auto const colon_def = x3::raw[x3::lit(':')][makeRange];
// "=" but not the start of "=="
auto const eqSign_def = x3::lit('=') >> !x3::lit('=');
// transposeSuffix = ".T"
auto const transposeSuffix_def = x3::raw[x3::lexeme['.' >> x3::lit('T') >> !identChar]][makeRange];

// ---------------------------------------------------------------------------------------------
// Expressions, lowest precedence first.

auto const chainedComparison = [](auto &ctx) {
  throw ParseError{x3::_attr(ctx).range, "comparison operators cannot be chained; add parentheses"};
};

// expression = additive (cmpOp additive)?
// Comparisons are non-associative: `a < b < c` means different things in numpy and Python, so
// it is an error rather than a guess.
auto const expression_def = additive[assign] >>
                            -((cmpOp > additive)[combine] >> -cmpOp[chainedComparison]);

// additive = term (("+" | "-") term)*
auto const additive_def = term[assign] >> *((addOp > term)[combine]);

// term = unary (("*" | "/" | "@") unary)*
auto const term_def = unary[assign] >> *((mulOp > unary)[combine]);

// unary = ("-" | "+") unary | power
// Unary minus binds looser than `^`, so `-a^k` is -(a^k).
auto const unary_def = (unaryOp > deeper[unary])[([](auto &ctx) {
                         auto &attr = x3::_attr(ctx);
                         x3::_val(ctx) =
                             makeUnary(fusion::at_c<0>(attr), std::move(fusion::at_c<1>(attr)));
                       })] |
                       power[assign];

// power = postfix ("^" unary)?
// The exponent is a unary, which makes `^` right-associative (`a^b^c` = a^(b^c)) and lets it
// carry a sign (`x^-2` = x^(-2)).
auto const power_def = postfix[assign] >> -((powOp > deeper[unary])[combine]);

auto const applyIndex = [](auto &ctx) {
  ParseState &st = stateOf(ctx);
  Node &base = x3::_val(ctx);
  IndexSuffix &suffix = x3::_attr(ctx);
  checkSuffix(st, base, {suffix.brackets.begin, suffix.brackets.begin + 1});
  int height = base.height;
  Node n = newNode(ast::Expr::Kind::Index, {base.expr->range.begin, suffix.brackets.end});
  n.expr->opRange = suffix.brackets;
  for (IndexItemNode &item : suffix.items) {
    ast::IndexItem out;
    out.isSlice = item.isSlice;
    out.range = item.range;
    for (Node *part : {&item.index, &item.lo, &item.hi})
      height = std::max(height, part->height);
    out.index = std::move(item.index.expr);
    out.lo = std::move(item.lo.expr);
    out.hi = std::move(item.hi.expr);
    n.expr->indices.push_back(std::move(out));
  }
  n.height = height + 1;
  checkHeight(n.height, suffix.brackets);
  n.suffixes = base.suffixes + 1;
  n.expr->args = {std::move(base.expr)};
  base = std::move(n);
};

auto const applyTranspose = [](auto &ctx) {
  ParseState &st = stateOf(ctx);
  Node &base = x3::_val(ctx);
  SourceRange op = x3::_attr(ctx);
  checkSuffix(st, base, op);
  Node n = newNode(ast::Expr::Kind::Transpose, {base.expr->range.begin, op.end});
  n.expr->opRange = op;
  n.height = base.height + 1;
  checkHeight(n.height, op);
  n.suffixes = base.suffixes + 1;
  n.expr->args = {std::move(base.expr)};
  base = std::move(n);
};

auto const notCallable = [](auto &ctx) {
  auto &r = x3::_attr(ctx);
  throw ParseError{stateOf(ctx).range(r.begin(), r.end()),
                   "unexpected '(' (only a function name can be called)"};
};

// postfix = primary (index | ".T")*
// A call is part of the primary (the callee is a name), so '(' after anything else is an error.
auto const postfix_def = primary[assign] >>
                         *(indexSuffix[applyIndex] | transposeSuffix[applyTranspose]) >>
                         -x3::raw[x3::lit('(')][notCallable];

// primary = number | nameOrCall | parenExpr | arrayLit
auto const primary_def = number[assign] | nameOrCall[assign] | parenExpr[assign] | arrayLit[assign];

// nameOrCall = refName callArgs?
auto const nameOrCall_def =
    refName[makeNameNode] >> -callArgs[([](auto &ctx) {
      Node &callee = x3::_val(ctx);
      CallArgs &args = x3::_attr(ctx);
      Node n = newNode(ast::Expr::Kind::Call, {callee.expr->range.begin, args.parens.end});
      n.expr->name = std::move(callee.expr->name);
      n.expr->opRange = callee.expr->range;
      for (Node &a : args.positional)
        n.expr->args.push_back(std::move(a.expr));
      n.expr->kwargs = std::move(args.keyword);
      n.height = args.height + 1;
      checkHeight(n.height, n.expr->opRange);
      callee = std::move(n);
    })];

// callArgs = "(" (arg ("," arg)*)? ")"
auto const pushArg = [](auto &ctx) {
  CallArgs &args = x3::_val(ctx);
  ArgNode &a = x3::_attr(ctx);
  args.height = std::max(args.height, a.value.height);
  if (a.isKeyword) {
    ast::KeywordArg k;
    k.name = std::move(a.keyword.text);
    k.range = {a.keyword.range.begin, a.value.expr->range.end};
    k.value = std::move(a.value.expr);
    args.keyword.push_back(std::move(k));
    return;
  }
  if (!args.keyword.empty())
    throw ParseError{a.value.expr->range, "positional argument after keyword argument"};
  args.positional.push_back(std::move(a.value));
};
auto const callArgs_def =
    group<'('>[lparen > -((!x3::lit(')')) > listOf(arg[pushArg])) > rparen[([](auto &ctx) {
                 x3::_val(ctx).parens = {stateOf(ctx).open.back().offset, x3::_attr(ctx).end};
               })]];

// kwHead = name "="
auto const kwHead_def = name[assign] >> eqSign;

// arg = kwHead expression | expression
auto const setArgValue = [](auto &ctx) { x3::_val(ctx).value = std::move(x3::_attr(ctx)); };
auto const arg_def = (kwHead[([](auto &ctx) {
                        x3::_val(ctx).isKeyword = true;
                        x3::_val(ctx).keyword = std::move(x3::_attr(ctx));
                      })] > nlOpt > expression[setArgValue]) |
                     expression[setArgValue];

// indexSuffix = "[" indexItem ("," indexItem)* "]"
auto const indexSuffix_def =
    group<'['>[lbracket > listOf(indexItem[([](auto &ctx) {
                 x3::_val(ctx).items.push_back(std::move(x3::_attr(ctx)));
               })]) > rbracket[([](auto &ctx) {
                 x3::_val(ctx).brackets = {stateOf(ctx).open.back().offset, x3::_attr(ctx).end};
               })]];

// indexItem = expression (":" expression?)? | ":" expression?
// The first branch decides between index and slice after the first expression, so nothing is
// parsed twice.
auto const setHi = [](auto &ctx) {
  IndexItemNode &item = x3::_val(ctx);
  item.hi = std::move(x3::_attr(ctx));
  item.range.end = item.hi.expr->range.end;
};
auto const indexItem_def = (expression[([](auto &ctx) {
                              IndexItemNode &item = x3::_val(ctx);
                              item.index = std::move(x3::_attr(ctx));
                              item.range = item.index.expr->range;
                            })] >>
                            -(colon[([](auto &ctx) {
                                IndexItemNode &item = x3::_val(ctx);
                                item.isSlice = true;
                                item.lo = std::move(item.index);
                                item.index = Node{};
                                item.range.end = x3::_attr(ctx).end;
                              })] >>
                              -expression[setHi])) |
                           (colon[([](auto &ctx) {
                              IndexItemNode &item = x3::_val(ctx);
                              item.isSlice = true;
                              item.range = x3::_attr(ctx);
                            })] >>
                            -expression[setHi]);

// parenExpr = "(" expression ")"
auto const parenExpr_def = group<'('>[lparen > expression[assign] > rparen[widenToGroup]];

// arrayLit = "[" expression ("," expression)* "]"
auto const arrayLit_def =
    group<'['>[lbracket[([](auto &ctx) {
                 x3::_val(ctx) = newNode(ast::Expr::Kind::Array, x3::_attr(ctx));
               })] > listOf(expression[([](auto &ctx) {
                 Node &array = x3::_val(ctx);
                 Node &element = x3::_attr(ctx);
                 array.height = std::max(array.height, element.height + 1);
                 array.expr->args.push_back(std::move(element.expr));
               })]) > rbracket[([](auto &ctx) {
                 Node &array = x3::_val(ctx);
                 array.expr->range.end = x3::_attr(ctx).end;
                 array.expr->opRange = array.expr->range;
                 checkHeight(array.height, {array.expr->range.begin, array.expr->range.begin + 1});
               })]];

// ---------------------------------------------------------------------------------------------
// Types: `f64`, `i32[B]`, `f32[n, 5*d]`. Dimensions are integer arithmetic of literals and names.

// dtype = "f32" | "f64" | "i32"
auto const dtype_def = x3::raw[x3::lexeme[(x3::lit("f32") | "f64" | "i32") >> !identChar]][makeTok];

// typeExpr = dtype ("[" dimExpr ("," dimExpr)* "]")?
auto const typeExpr_def =
    dtype[([](auto &ctx) {
      ast::TypeExpr &t = x3::_val(ctx);
      t.dtype = x3::_attr(ctx).text;
      t.range = x3::_attr(ctx).range;
    })] >>
    -group<'['>[lbracket[([](auto &ctx) { x3::_val(ctx).hasShape = true; })] >
                listOf(dimExpr[([](auto &ctx) {
                  x3::_val(ctx).dims.push_back(std::move(x3::_attr(ctx).expr));
                })]) > rbracket[([](auto &ctx) { x3::_val(ctx).range.end = x3::_attr(ctx).end; })]];

// dimExpr = dimTerm (("+" | "-") dimTerm)*
auto const dimExpr_def = dimTerm[assign] >> *((addOp > dimTerm)[combine]);

// dimTerm = dimAtom (("*" | "/") dimAtom)*
auto const dimTerm_def = dimAtom[assign] >> *((dimMulOp > dimAtom)[combine]);

// dimAtom = integer | name | "(" dimExpr ")"
auto const dimAtom_def = number[([](auto &ctx) {
                           Node &n = x3::_attr(ctx);
                           if (!n.expr->isInteger)
                             throw ParseError{n.expr->range, "dimension must be an integer"};
                           x3::_val(ctx) = std::move(n);
                         })] |
                         name[makeNameNode] |
                         group<'('>[lparen > dimExpr[assign] > rparen[widenToGroup]];

// ---------------------------------------------------------------------------------------------
// Declarations.

auto const exprPtr = [](Node &n) { return ast::ExprPtr(std::move(n.expr)); };

// letDecl = "let" name "=" expression
auto const letDecl_def =
    kw("let") > name[([](auto &ctx) {
      x3::_val(ctx).name = x3::_attr(ctx).text;
      x3::_val(ctx).nameRange = x3::_attr(ctx).range;
    })] > eqSign > nlOpt >
    expression[([](auto &ctx) { x3::_val(ctx).value = exprPtr(x3::_attr(ctx)); })];

// param = name (":" typeExpr)?
auto const param_def =
    name[([](auto &ctx) {
      x3::_val(ctx).name = x3::_attr(ctx).text;
      x3::_val(ctx).range = x3::_attr(ctx).range;
    })] >>
    -(colon > typeExpr[([](auto &ctx) { x3::_val(ctx).type = std::move(x3::_attr(ctx)); })]);

auto const pushBack = [](auto &ctx) { x3::_val(ctx).push_back(std::move(x3::_attr(ctx))); };

// paramList = "(" (param ("," param)*)? ")"
auto const paramList_def =
    group<'('>[lparen > -((!x3::lit(')')) > listOf(param[pushBack])) > rparen];

// binding = name "=" expression
auto const binding_def =
    (name[([](auto &ctx) {
       x3::_val(ctx).name = x3::_attr(ctx).text;
       x3::_val(ctx).nameRange = x3::_attr(ctx).range;
     })] >>
     eqSign) > nlOpt >
    expression[([](auto &ctx) {
      ast::Binding &b = x3::_val(ctx);
      b.range = {b.nameRange.begin, x3::_attr(ctx).expr->range.end};
      b.value = exprPtr(x3::_attr(ctx));
    })];

// updateTarget = name indexSuffix
auto const updateTarget_def = name[makeNameNode] >> &x3::lit('[') >> indexSuffix[applyIndex];

// updateStmt = updateTarget "=" expression        (`hs[t] = h`, in a loop body)
auto const updateStmt_def =
    (updateTarget[([](auto &ctx) {
       ast::Binding &b = x3::_val(ctx);
       ast::Expr &target = *x3::_attr(ctx).expr;
       b.kind = ast::Binding::Kind::Update;
       b.name = target.args[0]->name;
       b.nameRange = target.args[0]->range;
       b.indices = std::move(target.indices);
       b.indexRange = target.opRange;
       b.range = target.range;
     })] >>
     eqSign) > nlOpt >
    expression[([](auto &ctx) {
      ast::Binding &b = x3::_val(ctx);
      b.range.end = x3::_attr(ctx).expr->range.end;
      b.value = exprPtr(x3::_attr(ctx));
    })];

auto const rangeDots_def = x3::lit("..");
auto const inKw_def = kw("in");

// forStmt = "for" name "in" expression ".." expression loopBody
auto const forStmt_def =
    x3::raw[kw("for")][([](auto &ctx) {
      ast::Binding &b = x3::_val(ctx);
      b.kind = ast::Binding::Kind::For;
      b.range.begin = stateOf(ctx).offset(x3::_attr(ctx).begin());
    })] > name[([](auto &ctx) {
      x3::_val(ctx).name = x3::_attr(ctx).text;
      x3::_val(ctx).nameRange = x3::_attr(ctx).range;
    })] > inKw > expression[([](auto &ctx) { x3::_val(ctx).lo = exprPtr(x3::_attr(ctx)); })] >
    rangeDots > expression[([](auto &ctx) { x3::_val(ctx).hi = exprPtr(x3::_attr(ctx)); })] >
    loopBody[([](auto &ctx) {
      x3::_val(ctx).body = std::move(x3::_attr(ctx).stmts);
      x3::_val(ctx).range.end = x3::_attr(ctx).end;
    })];

// blockStmt = forStmt | updateStmt | binding
auto const blockStmt_def = forStmt[assign] | updateStmt[assign] | binding[assign];

// loopBody = "{" sep* (blockStmt stmtEnd)* "}"
auto const loopBody_def =
    nlOpt >> braceGroup[lbrace > *sep > *(blockStmt[([](auto &ctx) {
                                           x3::_val(ctx).stmts.push_back(std::move(x3::_attr(ctx)));
                                         })] > stmtEnd) >
                        rbrace[([](auto &ctx) { x3::_val(ctx).end = x3::_attr(ctx).end; })]];

// returnStmt = "return" expression
auto const returnStmt_def = kw("return") > expression[assign];

// stmtEnd = sep+ | &"}"
auto const stmtEnd_def = +sep | &x3::lit('}');

// fnBody = "=" expression | "{" sep* (blockStmt stmtEnd)* returnStmt sep* "}"
auto const fnBody_def =
    (eqSign > nlOpt > expression[([](auto &ctx) {
       FnBody &body = x3::_val(ctx);
       body.end = x3::_attr(ctx).expr->range.end;
       body.result = exprPtr(x3::_attr(ctx));
     })]) |
    (nlOpt >>
     braceGroup[lbrace[([](auto &ctx) { x3::_val(ctx).block = true; })] > *sep >
                *(blockStmt[([](auto &ctx) {
                    x3::_val(ctx).bindings.push_back(std::move(x3::_attr(ctx)));
                  })] > stmtEnd) >
                returnStmt[([](auto &ctx) { x3::_val(ctx).result = exprPtr(x3::_attr(ctx)); })] >
                *sep > blockEnd[([](auto &ctx) { x3::_val(ctx).end = x3::_attr(ctx).end; })]]);

// fnDecl = "fn" name paramList ("->" typeExpr)? fnBody
auto const fnDecl_def =
    x3::raw[kw("fn")][([](auto &ctx) {
      x3::_val(ctx).range.begin = stateOf(ctx).offset(x3::_attr(ctx).begin());
    })] > name[([](auto &ctx) {
      x3::_val(ctx).name = x3::_attr(ctx).text;
      x3::_val(ctx).nameRange = x3::_attr(ctx).range;
    })] > paramList[([](auto &ctx) { x3::_val(ctx).params = std::move(x3::_attr(ctx)); })] >
    -(x3::lit("->") >
      typeExpr[([](auto &ctx) { x3::_val(ctx).returnType = std::move(x3::_attr(ctx)); })]) >
    fnBody[([](auto &ctx) {
      ast::FnDecl &fn = x3::_val(ctx);
      FnBody &body = x3::_attr(ctx);
      fn.bindings = std::move(body.bindings);
      fn.result = std::move(body.result);
      fn.blockBody = body.block;
      fn.range.end = body.end;
    })];

// headerDim = name ("=" dimExpr)?
auto const headerDim_def = name[([](auto &ctx) {
                             x3::_val(ctx).name = x3::_attr(ctx).text;
                             x3::_val(ctx).range = x3::_attr(ctx).range;
                           })] >>
                           -(eqSign > dimExpr[([](auto &ctx) {
                               x3::_val(ctx).range.end = x3::_attr(ctx).expr->range.end;
                               x3::_val(ctx).defaultValue = exprPtr(x3::_attr(ctx));
                             })]);

// headerDims = "(" (headerDim ("," headerDim)*)? ")"
auto const headerDims_def =
    group<'('>[lparen > -((!x3::lit(')')) > listOf(headerDim[pushBack])) > rparen];

// initializer = name ("(" (expression ("," expression)*)? ")")?
auto const initializer_def =
    name[([](auto &ctx) {
      x3::_val(ctx).kind = x3::_attr(ctx).text;
      x3::_val(ctx).range = x3::_attr(ctx).range;
    })] >>
    -group<'('>[lparen[([](auto &ctx) { x3::_val(ctx).hasParens = true; })] >
                -((!x3::lit(')')) > listOf(expression[([](auto &ctx) {
                    x3::_val(ctx).args.push_back(exprPtr(x3::_attr(ctx)));
                  })])) >
                rparen[([](auto &ctx) { x3::_val(ctx).range.end = x3::_attr(ctx).end; })]];

template <ast::ModelStmt::Kind K>
auto const startStmt = [](auto &ctx) {
  ast::ModelStmt &s = x3::_val(ctx);
  auto &r = x3::_attr(ctx);
  s.kind = K;
  s.range = stateOf(ctx).range(r.begin(), r.end());
};
auto const setStmtName = [](auto &ctx) {
  ast::ModelStmt &s = x3::_val(ctx);
  s.name = x3::_attr(ctx).text;
  s.nameRange = x3::_attr(ctx).range;
  s.range.end = s.nameRange.end;
};
auto const setStmtType = [](auto &ctx) {
  ast::ModelStmt &s = x3::_val(ctx);
  s.range.end = x3::_attr(ctx).range.end;
  s.type = std::move(x3::_attr(ctx));
};
auto const setStmtValue = [](auto &ctx) {
  ast::ModelStmt &s = x3::_val(ctx);
  s.range.end = x3::_attr(ctx).expr->range.end;
  s.value = exprPtr(x3::_attr(ctx));
};

using SK = ast::ModelStmt::Kind;

// modelStmt = "input" name ":" typeExpr
//           | "param" name ":" typeExpr ("~" initializer)?
//           | "layer" name "=" expression          (a call, e.g. dense(x, 10))
//           | "output" name "=" expression
//           | "loss" expression
//           | forStmt
//           | name "=" expression
auto const modelStmt_def =
    (x3::raw[kw("input")][startStmt<SK::Input>] > name[setStmtName] > colon >
     typeExpr[setStmtType]) |
    (x3::raw[kw("param")][startStmt<SK::Param>] > name[setStmtName] > colon >
     typeExpr[setStmtType] > -(x3::lit('~') > initializer[([](auto &ctx) {
                                 ast::ModelStmt &s = x3::_val(ctx);
                                 s.range.end = x3::_attr(ctx).range.end;
                                 s.init = std::move(x3::_attr(ctx));
                               })])) |
    (x3::raw[kw("layer")][startStmt<SK::Layer>] > name[setStmtName] > eqSign > nlOpt >
     expression[([](auto &ctx) {
       Node &n = x3::_attr(ctx);
       if (n.expr->kind != ast::Expr::Kind::Call)
         throw ParseError{n.expr->range, "expected a layer call such as 'dense(x, 10)'"};
       ast::ModelStmt &s = x3::_val(ctx);
       s.range.end = n.expr->range.end;
       s.value = exprPtr(n);
     })]) |
    (x3::raw[kw("output")][startStmt<SK::Output>] > name[setStmtName] > eqSign > nlOpt >
     expression[setStmtValue]) |
    (x3::raw[kw("loss")][startStmt<SK::Loss>] > expression[setStmtValue]) |
    forStmt[([](auto &ctx) {
      ast::ModelStmt &s = x3::_val(ctx);
      s.kind = SK::For;
      s.name = x3::_attr(ctx).name;
      s.nameRange = x3::_attr(ctx).nameRange;
      s.range = x3::_attr(ctx).range;
      s.loop = std::make_shared<const ast::Binding>(std::move(x3::_attr(ctx)));
    })] |
    (name[([](auto &ctx) {
       ast::ModelStmt &s = x3::_val(ctx);
       s.kind = SK::Bind;
       s.name = x3::_attr(ctx).text;
       s.nameRange = x3::_attr(ctx).range;
       s.range = s.nameRange;
     })] > eqSign > nlOpt > expression[setStmtValue]);

// modelBody = "{" sep* (modelStmt stmtEnd)* "}"
auto const modelBody_def =
    nlOpt >>
    braceGroup[lbrace > *sep > *(modelStmt[([](auto &ctx) {
                                   x3::_val(ctx).stmts.push_back(std::move(x3::_attr(ctx)));
                                 })] > stmtEnd) >
               rbrace[([](auto &ctx) { x3::_val(ctx).end = x3::_attr(ctx).end; })]];

// modelDecl = "model" name headerDims modelBody
auto const modelDecl_def =
    x3::raw[kw("model")][([](auto &ctx) {
      x3::_val(ctx).range.begin = stateOf(ctx).offset(x3::_attr(ctx).begin());
    })] > name[([](auto &ctx) {
      x3::_val(ctx).name = x3::_attr(ctx).text;
      x3::_val(ctx).nameRange = x3::_attr(ctx).range;
    })] > headerDims[([](auto &ctx) { x3::_val(ctx).dims = std::move(x3::_attr(ctx)); })] >
    modelBody[([](auto &ctx) {
      x3::_val(ctx).stmts = std::move(x3::_attr(ctx).stmts);
      x3::_val(ctx).range.end = x3::_attr(ctx).end;
    })];

// declEnd = "\n"+ | end of input
auto const declEnd_def = +x3::lit('\n') | &x3::eoi;
auto const fileEnd_def = x3::eoi;
auto const exprEnd_def = x3::eoi;

BOOST_SPIRIT_DEFINE(name, refName, number, cmpOp, addOp, mulOp, dimMulOp, powOp, unaryOp, lparen,
                    rparen, lbracket, rbracket, lbrace, rbrace, blockEnd, colon, eqSign,
                    transposeSuffix)
BOOST_SPIRIT_DEFINE(expression, additive, term, unary, power, postfix, primary, parenExpr, arrayLit,
                    nameOrCall, callArgs, kwHead, arg, indexSuffix, indexItem)
BOOST_SPIRIT_DEFINE(dtype, typeExpr, dimExpr, dimTerm, dimAtom)
BOOST_SPIRIT_DEFINE(updateTarget, updateStmt, rangeDots, inKw, forStmt, blockStmt, loopBody)
BOOST_SPIRIT_DEFINE(letDecl, fnDecl, paramList, param, fnBody, binding, returnStmt, modelDecl,
                    headerDims, headerDim, modelBody, modelStmt, initializer, stmtEnd, declEnd,
                    fileEnd, exprEnd)

// ---------------------------------------------------------------------------------------------
// Entry rules. Their error handler records an expectation failure in the parse state, where
// Grammar.cpp turns it into a diagnostic.

struct RecordExpectationFailure {
  template <class It, class Exception, class Context>
  x3::error_handler_result on_error(It &, const It &, const Exception &x,
                                    const Context &ctx) const {
    ParseState &st = stateOf(ctx);
    st.failed = true;
    st.failWhere = x.where();
    st.failWhich = x.which();
    return x3::error_handler_result::fail;
  }
};

struct FileId : RecordExpectationFailure {};
struct ExprEntryId : RecordExpectationFailure {};

x3::rule<FileId, ast::File> const file = "file";
x3::rule<ExprEntryId, Node> const exprEntry = "expression";

// file = "\n"* ((letDecl | fnDecl | modelDecl) declEnd)* end
auto const pushDecl = [](auto &ctx) {
  x3::_val(ctx).decls.emplace_back(std::move(x3::_attr(ctx)));
};
auto const file_def =
    (*x3::lit('\n') >> *((letDecl[pushDecl] | fnDecl[pushDecl] | modelDecl[pushDecl]) > declEnd)) >
    fileEnd;

// exprEntry = expression end
auto const exprEntry_def = x3::eps > expression[assign] > exprEnd;

BOOST_SPIRIT_DEFINE(file, exprEntry)

} // namespace nabla::grammar
