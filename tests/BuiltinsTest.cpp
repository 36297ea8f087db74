// Tests driven by the table of built-ins (frontend/Builtins.h): every row is reachable from the
// language with the arguments it declares, misspelled names get a suggestion, and the infix
// printer's names are the table's (printing an op and parsing it back gives the op again).
#include "frontend/Builtins.h"
#include "frontend/InfixPrinter.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"
#include "ir/Printer.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace nabla {
namespace {

/// The parameters that the rows' examples are written over (Builtin::example).
constexpr const char *kProbeParams = "x: f64, y: f64, v: f64[3], m: f64[2, 3], labels: i32[2]";

Expected<Module> compileProbe(const std::string &body) {
  SourceFile file("probe.nabla", fmt::format("fn probe({}) = {}\n", kProbeParams, body));
  return compileSource(file);
}

std::size_t requiredCount(const Builtin &b) {
  std::size_t n = 0;
  while (n < b.args.size() && b.args[n].required)
    ++n;
  return n;
}

std::string render(const Expected<Module> &m) { return m ? "" : m.error().render(); }

// The names that were built-ins before the table (Sema's two lists): a name added or lost here
// changes which definitions a file may make.
TEST(Builtins, TheNamesAreTheLanguagesNames) {
  const std::set<std::string> expected = {"exp",
                                          "log",
                                          "ln",
                                          "sqrt",
                                          "sin",
                                          "cos",
                                          "tan",
                                          "tanh",
                                          "abs",
                                          "sign",
                                          "log1p",
                                          "expm1",
                                          "erf",
                                          "lgamma",
                                          "digamma",
                                          "trigamma",
                                          "sigmoid",
                                          "logistic",
                                          "relu",
                                          "softplus",
                                          "polygamma",
                                          "pow",
                                          "max",
                                          "min",
                                          "where",
                                          "leaky_relu",
                                          "hardtanh",
                                          "swish",
                                          "gelu",
                                          "sum",
                                          "mean",
                                          "logsumexp",
                                          "norm",
                                          "dot",
                                          "outer",
                                          "transpose",
                                          "reshape",
                                          "flatten",
                                          "concat",
                                          "stack",
                                          "zeros",
                                          "ones",
                                          "eye",
                                          "arange",
                                          "diag",
                                          "lower",
                                          "softmax",
                                          "log_softmax",
                                          "cross_entropy",
                                          "binary_cross_entropy",
                                          "bce_with_logits",
                                          "mse",
                                          "mae",
                                          "diff",
                                          "f32",
                                          "f64",
                                          "pi",
                                          "take",
                                          "take_along"};
  std::set<std::string> names;
  for (const Builtin &b : builtinTable())
    names.emplace(b.name);
  EXPECT_EQ(names, expected);
  for (const std::string &n : expected)
    EXPECT_TRUE(isBuiltinName(n)) << n;
  for (const char *n : {"dense", "embedding", "identity", "linear", "glorot", "normal", "sine"})
    EXPECT_FALSE(isBuiltinName(n)) << n;
}

// A layer may name any elementwise function of one tensor: exactly these (LANGUAGE.md §4).
TEST(Builtins, TheActivationsAreTheElementwiseFunctionsOfOneTensor) {
  const std::set<std::string> expected = {
      "exp",     "log",      "ln",    "sqrt",     "sin",        "cos",      "tan",     "tanh",
      "abs",     "sign",     "log1p", "expm1",    "erf",        "lgamma",   "digamma", "trigamma",
      "sigmoid", "logistic", "relu",  "softplus", "leaky_relu", "hardtanh", "gelu",    "swish"};
  std::set<std::string> activations;
  for (const Builtin &b : builtinTable())
    if (usableAsActivation(b))
      activations.emplace(b.name);
  EXPECT_EQ(activations, expected);
  for (const std::string &a : expected) {
    SourceFile file("m.nabla", fmt::format("model m() {{\n  input x: f64[4]\n"
                                           "  layer h = dense(x, 3, {})\n  loss sum(h)\n}}\n",
                                           a));
    Expected<Module> module = compileSource(file);
    EXPECT_TRUE(bool(module)) << a << ": " << render(module);
  }
}

// Every row's example compiles, calls that row (the row's op is in the IR: an overloaded name
// reaches the form it means) and is documented.
TEST(Builtins, EveryRowIsReachableThroughItsExample) {
  for (const Builtin &b : builtinTable()) {
    SCOPED_TRACE(std::string(b.name));
    EXPECT_FALSE(b.summary.empty());
    ASSERT_FALSE(b.example.empty());
    if (b.group != BuiltinGroup::Constant)
      EXPECT_EQ(b.example.rfind(std::string(b.name) + "(", 0), 0u) << b.example;
    Expected<Module> module = compileProbe(b.example);
    ASSERT_TRUE(bool(module)) << b.example << ":\n" << render(module);
    if (!b.op)
      continue;
    const Function &f = module->functions.at(0);
    bool found =
        std::any_of(f.insts.begin(), f.insts.end(), [&](const Inst &i) { return i.op == *b.op; });
    EXPECT_TRUE(found) << b.example << " has no '" << mnemonic(*b.op) << "':\n" << print(f);
  }
}

// The slot names are the keywords the language accepts: the example with every argument given
// as `slot=value` lowers to the same IR as with positions.
TEST(Builtins, EverySlotIsItsKeyword) {
  for (const Builtin &b : builtinTable()) {
    if (b.group == BuiltinGroup::Constant || b.variadic || b.exactArity)
      continue; // constants take no arguments; variadic and exact forms take positions only
    SCOPED_TRACE(std::string(b.name));
    SourceFile exampleFile("example", b.example);
    Expected<ast::ExprPtr> call = parseExpression(exampleFile);
    ASSERT_TRUE(bool(call)) << call.error().render();
    ASSERT_EQ((*call)->kind, ast::Expr::Kind::Call);
    std::string keywords = std::string(b.name) + "(";
    std::size_t slot = 0;
    for (const ast::ExprPtr &a : (*call)->args) {
      std::string text = b.example.substr(a->range.begin, a->range.end - a->range.begin);
      keywords += fmt::format("{}{}={}", slot ? ", " : "", b.args.at(slot).name, text);
      ++slot;
    }
    for (const ast::KeywordArg &kw : (*call)->kwargs)
      keywords +=
          (slot++ ? ", " : "") + b.example.substr(kw.range.begin, kw.range.end - kw.range.begin);
    keywords += ")";
    Expected<Module> positional = compileProbe(b.example), named = compileProbe(keywords);
    ASSERT_TRUE(bool(named)) << keywords << ":\n" << render(named);
    ASSERT_TRUE(bool(positional));
    EXPECT_EQ(print(*named), print(*positional)) << keywords;
  }
}

// Too few and too many arguments are counted against the table's slots.
TEST(Builtins, ArgumentCountsComeFromTheSlots) {
  for (const Builtin &b : builtinTable()) {
    if (b.group == BuiltinGroup::Constant || b.variadic || b.exactArity)
      continue;
    SCOPED_TRACE(std::string(b.name));
    std::size_t required = requiredCount(b);
    if (required > 0) {
      Expected<Module> none = compileProbe(std::string(b.name) + "()");
      ASSERT_FALSE(bool(none));
      EXPECT_EQ(none.error().list.front().message,
                fmt::format("'{}' needs {} argument{}, got 0", b.name, required,
                            required == 1 ? "" : "s"));
    }
    std::string many = std::string(b.name) + "(x";
    for (std::size_t i = 0; i < b.args.size(); ++i)
      many += ", x";
    Expected<Module> tooMany = compileProbe(many + ")");
    ASSERT_FALSE(bool(tooMany));
    EXPECT_EQ(tooMany.error().list.front().message,
              fmt::format("'{}' takes {} {} argument{}, got {}", b.name,
                          required == b.args.size() ? "exactly" : "at most", b.args.size(),
                          b.args.size() == 1 ? "" : "s", b.args.size() + 1));
    Expected<Module> unknownKeyword = compileProbe(std::string(b.name) + "(x, nonsense=1)");
    ASSERT_FALSE(bool(unknownKeyword));
  }
}

// ----- suggestions -----------------------------------------------------------------------------

/// The diagnostics of a file that fails to compile.
Diagnostics errorsOf(const std::string &source) {
  SourceFile file("t.nabla", source);
  Expected<Module> module = compileSource(file);
  EXPECT_FALSE(bool(module)) << source;
  return module ? Diagnostics{} : module.error();
}

TEST(Builtins, AMisspelledFunctionGetsASuggestion) {
  Diagnostics d = errorsOf("fn f(x) = sine(x)\n");
  ASSERT_EQ(d.list.size(), 2u);
  EXPECT_EQ(d.list[0].message, "unknown function 'sine'"); // the error itself is as before
  EXPECT_EQ(d.list[1].severity, Severity::Note);
  EXPECT_EQ(d.list[1].message, "did you mean 'sin'?");
  EXPECT_EQ(d.list[1].line, 1);
  EXPECT_EQ(d.list[1].col, 11);
  EXPECT_EQ(d.render(), "t.nabla:1:11: error: unknown function 'sine'\n"
                        "fn f(x) = sine(x)\n"
                        "          ^~~~\n"
                        "t.nabla:1:11: note: did you mean 'sin'?\n"
                        "fn f(x) = sine(x)\n"
                        "          ^~~~\n");
}

TEST(Builtins, SuggestionsCoverTypicalSlips) {
  const std::vector<std::pair<std::string, std::string>> slips = {
      {"softpluss", "softplus"},     {"sigmod", "sigmoid"},
      {"logsoftmax", "log_softmax"}, {"crossentropy", "cross_entropy"},
      {"tranpsose", "transpose"},    {"lgama", "lgamma"},
      {"arrange", "arange"}};
  for (const auto &[typo, meant] : slips) {
    Diagnostics d = errorsOf(fmt::format("fn f(x) = {}(x)\n", typo));
    ASSERT_EQ(d.list.size(), 2u) << typo;
    EXPECT_EQ(d.list[1].message, fmt::format("did you mean '{}'?", meant)) << typo;
  }
}

TEST(Builtins, SuggestionsIncludeTheFilesFunctions) {
  Diagnostics d = errorsOf("fn square(x) = x * x\nfn f(x) = sqaure(x)\n");
  ASSERT_EQ(d.list.size(), 2u);
  EXPECT_EQ(d.list[1].message, "did you mean 'square'?");
}

TEST(Builtins, NoSuggestionWithoutANearName) {
  EXPECT_EQ(errorsOf("fn f(x) = undefined(x)\n").list.size(), 1u);
  EXPECT_EQ(errorsOf("fn f(x) = pi(x)\n").list.size(), 1u); // a constant, not a misspelling
  EXPECT_EQ(errorsOf("fn g(x) = x\nfn f(x) = h(x)\n").list.size(), 1u); // too short to guess
}

TEST(Builtins, AMisspelledActivationGetsASuggestion) {
  Diagnostics d = errorsOf("model m() {\n  input x: f64[4]\n  layer h = dense(x, 3, tanhh)\n"
                           "  loss sum(h)\n}\n");
  ASSERT_EQ(d.list.size(), 2u);
  EXPECT_EQ(d.list[0].message, "unknown activation 'tanhh'");
  EXPECT_EQ(d.list[1].message, "did you mean 'tanh'?");
  EXPECT_EQ(d.list[1].col, 25);
}

TEST(Builtins, NearestNameIsTheClosestInTableOrder) {
  EXPECT_EQ(nearestName("sine", builtinFunctionNames()), "sin");
  EXPECT_EQ(nearestName("mxa", {"max", "mean"}), "max"); // a swap of neighbours is one edit
  EXPECT_EQ(nearestName("ab", {"abs"}), std::nullopt);
  EXPECT_EQ(nearestName("sum", {"sum"}), std::nullopt);
}

// ----- the infix printer and the table ---------------------------------------------------------

/// A call of an elementwise row over the scalar variables x, y, z, with constants in its constant
/// slots: `hardtanh(x, -0.5, 0.75)`.
std::string scalarCall(const Builtin &b) {
  const char *vars[] = {"x", "y", "z"};
  std::string text = std::string(b.name) + "(";
  std::size_t nextVar = 0, i = 0;
  for (const ArgSpec &a : b.args) {
    std::string arg;
    if (a.kind == ArgKind::Integer)
      arg = "2";
    else if (a.kind == ArgKind::Number)
      arg = i == 1 ? "-0.5" : "0.75";
    else
      arg = vars[nextVar++];
    text += (i++ ? ", " : "") + arg;
  }
  return text + ")";
}

Function lowerExpression(const std::string &text) {
  SourceFile file("expr", text);
  Expected<ast::ExprPtr> expr = parseExpression(file);
  EXPECT_TRUE(bool(expr)) << text << ": " << (expr ? "" : expr.error().render());
  if (!expr)
    return {};
  Expected<Function> f = analyzeExpression(*expr, file, {"x", "y", "z"});
  EXPECT_TRUE(bool(f)) << text << ": " << (f ? "" : f.error().render());
  return f ? *f : Function{};
}

// Every op that prints as a call prints under its row's name, with the row's argument order, and
// reads back as the same IR.
TEST(Builtins, PrintedCallsParseBackToTheSameOp) {
  int printable = 0;
  for (const Builtin &b : builtinTable()) {
    if (!b.op || builtinForOp(*b.op) == nullptr)
      continue;
    SCOPED_TRACE(std::string(b.name));
    const Builtin &canonical = *builtinForOp(*b.op);
    std::string text = scalarCall(b);
    Function f = lowerExpression(text);
    Expected<std::string> printed = printInfix(f);
    if (*b.op == Op::Pow) { // pow is the operator ^
      ASSERT_TRUE(bool(printed));
      EXPECT_EQ(*printed, "x^y");
      continue;
    }
    ASSERT_TRUE(bool(printed)) << text << ": " << printed.error().render();
    EXPECT_NE(printed->find(std::string(canonical.name) + "("), std::string::npos) << *printed;
    if (&canonical == &b && b.op != Op::Select) // where's mask prints as the comparison it is
      EXPECT_EQ(*printed, text);
    EXPECT_EQ(print(lowerExpression(*printed)), print(f)) << text << " printed as " << *printed;
    ++printable;
  }
  EXPECT_GE(printable, 25);
}

// Aliases lower to the op of the name they alias, which is the name printed.
TEST(Builtins, AliasesPrintAsTheirCanonicalName) {
  EXPECT_EQ(*printInfix(lowerExpression("ln(x)")), "log(x)");
  EXPECT_EQ(*printInfix(lowerExpression("logistic(x)")), "sigmoid(x)");
  EXPECT_EQ(*printInfix(lowerExpression("f64(f32(x))")), "f64(f32(x))");
}

} // namespace
} // namespace nabla
