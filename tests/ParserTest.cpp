// Tests of the Spirit X3 parser: the language reference's examples, precedence, source ranges,
// the exact text of syntax errors, and inputs nested deep enough to exhaust a naive parser's stack.
#include "frontend/Parser.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <variant>

namespace nabla {
namespace {

using ast::Expr;

// ---- helpers ---------------------------------------------------------------------------------

std::string numberText(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// The tree as an S-expression: `(+ a (* b c))`, `(neg x)`, `(f x axis=1)`, `(index x 0 (: _ b))`.
std::string sexpr(const ast::ExprPtr &e) {
  if (!e)
    return "_";
  switch (e->kind) {
  case Expr::Kind::Number:
    return numberText(e->number) + (e->isInteger ? "" : "f");
  case Expr::Kind::Name:
    return e->name;
  case Expr::Kind::Unary:
    return std::string("(") + (e->op == "-" ? "neg" : "pos") + " " + sexpr(e->args[0]) + ")";
  case Expr::Kind::Binary:
    return "(" + e->op + " " + sexpr(e->args[0]) + " " + sexpr(e->args[1]) + ")";
  case Expr::Kind::Call: {
    std::string s = "(" + e->name;
    for (const auto &a : e->args)
      s += " " + sexpr(a);
    for (const auto &k : e->kwargs)
      s += " " + k.name + "=" + sexpr(k.value);
    return s + ")";
  }
  case Expr::Kind::Index: {
    std::string s = "(index " + sexpr(e->args[0]);
    for (const auto &i : e->indices)
      s += i.isSlice ? " (: " + sexpr(i.lo) + " " + sexpr(i.hi) + ")" : " " + sexpr(i.index);
    return s + ")";
  }
  case Expr::Kind::Transpose:
    return "(T " + sexpr(e->args[0]) + ")";
  case Expr::Kind::Array: {
    std::string s = "[";
    for (std::size_t i = 0; i < e->args.size(); ++i)
      s += (i ? " " : "") + sexpr(e->args[i]);
    return s + "]";
  }
  }
  return "?";
}

/// Parses one expression and prints it, or the first line of the diagnostic.
std::string expr(const std::string &text) {
  SourceFile f("e.nabla", text);
  auto r = parseExpression(f);
  if (!r) {
    std::string s = r.error().render();
    return "ERROR " + s.substr(0, s.find('\n'));
  }
  return sexpr(*r);
}

/// The first line of the first diagnostic of parsing `text` as a file, or "ok".
std::string fileError(const std::string &text) {
  SourceFile f("t.nabla", text);
  auto r = parseFile(f);
  if (r)
    return "ok";
  std::string s = r.error().render();
  return s.substr(0, s.find('\n'));
}

ast::File parseOk(const std::string &text) {
  SourceFile f("t.nabla", text);
  auto r = parseFile(f);
  EXPECT_TRUE(bool(r)) << (r ? "" : r.error().render());
  return r ? *r : ast::File{};
}

std::string slice(const std::string &text, SourceRange r) {
  return text.substr(r.begin, r.end - r.begin);
}

// ---- the examples of LANGUAGE.md ---------------------------------------------------------------

const char *kSection1 =
    R"(let eps = 1e-8                                 # a `let` constant is an untyped number, like a literal

fn f(x, y, z) = (x + y) * max(y, z)            # untyped parameters are f64 scalars
fn g(x1, x2) = ln(x1) + x1*x2 - sin(x2)

fn neuron(W: f64[n, m], b: f64[n], u: f64[n], x: f64[m]) -> f64 {
  z = W @ x + b
  h = sigmoid(z)
  return u @ h                                 # vector @ vector is the dot product
}
)";

const char *kSection4 = R"(
model ner_window(d = 50, n = 8, V = 1000) {      # a window classifier, as in the NER lecture
  input  ids: i32[5]                              # the five word ids of the window
  input  y: f64                                   # 1 if the centre word is a location
  param  L: f64[V, d] ~ normal(0, 0.1)            # word vectors: trained too
  param  W: f64[n, 5*d] ~ glorot
  param  b: f64[n] ~ zeros
  param  u: f64[n] ~ normal(0, 0.1)
  x = flatten(L[ids])
  h = relu(W @ x + b)
  s = u @ h
  output p = sigmoid(s)
  loss binary_cross_entropy(p, y)
}

model mlp(B, D = 784, H = 256, C = 10) {          # B has no default: the batch size is given at call time
  input  x: f32[B, D]
  input  y: i32[B]
  layer  h = dense(x, H, relu)                    # declares params h.W: f32[H, D] and h.b: f32[H]
  layer  logits = dense(h, C)
  output pred = softmax(logits)
  loss   mean(cross_entropy(logits, y))
}
)";

TEST(ParserTest, Section1Example) {
  ast::File file = parseOk(kSection1);
  ASSERT_EQ(file.decls.size(), 4u);

  const auto &let = std::get<ast::LetDecl>(file.decls[0]);
  EXPECT_EQ(let.name, "eps");
  EXPECT_EQ(sexpr(let.value), "1e-08f");
  EXPECT_FALSE(let.value->isInteger);
  EXPECT_EQ(slice(kSection1, let.nameRange), "eps");

  const auto &f = std::get<ast::FnDecl>(file.decls[1]);
  EXPECT_EQ(f.name, "f");
  ASSERT_EQ(f.params.size(), 3u);
  EXPECT_FALSE(f.params[0].type);
  EXPECT_FALSE(f.blockBody);
  EXPECT_EQ(sexpr(f.result), "(* (+ x y) (max y z))");
  EXPECT_EQ(slice(kSection1, f.range), "fn f(x, y, z) = (x + y) * max(y, z)");

  const auto &g = std::get<ast::FnDecl>(file.decls[2]);
  EXPECT_EQ(sexpr(g.result), "(- (+ (ln x1) (* x1 x2)) (sin x2))");

  const auto &neuron = std::get<ast::FnDecl>(file.decls[3]);
  EXPECT_EQ(neuron.name, "neuron");
  ASSERT_EQ(neuron.params.size(), 4u);
  ASSERT_TRUE(neuron.params[0].type);
  EXPECT_EQ(neuron.params[0].type->dtype, "f64");
  EXPECT_TRUE(neuron.params[0].type->hasShape);
  ASSERT_EQ(neuron.params[0].type->dims.size(), 2u);
  EXPECT_EQ(sexpr(neuron.params[0].type->dims[1]), "m");
  EXPECT_EQ(slice(kSection1, neuron.params[0].type->range), "f64[n, m]");
  EXPECT_EQ(slice(kSection1, neuron.params[0].range), "W");
  ASSERT_TRUE(neuron.returnType);
  EXPECT_EQ(neuron.returnType->dtype, "f64");
  EXPECT_FALSE(neuron.returnType->hasShape);
  EXPECT_TRUE(neuron.blockBody);
  ASSERT_EQ(neuron.bindings.size(), 2u);
  EXPECT_EQ(neuron.bindings[0].name, "z");
  EXPECT_EQ(sexpr(neuron.bindings[0].value), "(+ (@ W x) b)");
  EXPECT_EQ(sexpr(neuron.bindings[1].value), "(sigmoid z)");
  EXPECT_EQ(sexpr(neuron.result), "(@ u h)");
  std::string text = slice(kSection1, neuron.range);
  EXPECT_EQ(text.substr(0, 9), "fn neuron");
  EXPECT_EQ(text.back(), '}');
}

TEST(ParserTest, Section4Models) {
  ast::File file = parseOk(kSection4);
  ASSERT_EQ(file.decls.size(), 2u);

  const auto &ner = std::get<ast::ModelDecl>(file.decls[0]);
  EXPECT_EQ(ner.name, "ner_window");
  ASSERT_EQ(ner.dims.size(), 3u);
  EXPECT_EQ(ner.dims[0].name, "d");
  EXPECT_EQ(sexpr(ner.dims[0].defaultValue), "50");
  EXPECT_EQ(slice(kSection4, ner.dims[2].range), "V = 1000");
  ASSERT_EQ(ner.stmts.size(), 11u);
  using K = ast::ModelStmt::Kind;
  EXPECT_EQ(ner.stmts[0].kind, K::Input);
  EXPECT_EQ(ner.stmts[0].name, "ids");
  EXPECT_EQ(ner.stmts[0].type->dtype, "i32");
  EXPECT_EQ(slice(kSection4, ner.stmts[0].range), "input  ids: i32[5]");
  EXPECT_EQ(ner.stmts[2].kind, K::Param);
  ASSERT_TRUE(ner.stmts[2].init);
  EXPECT_EQ(ner.stmts[2].init->kind, "normal");
  EXPECT_TRUE(ner.stmts[2].init->hasParens);
  ASSERT_EQ(ner.stmts[2].init->args.size(), 2u);
  EXPECT_EQ(sexpr(ner.stmts[2].init->args[1]), "0.1f");
  EXPECT_EQ(slice(kSection4, ner.stmts[2].range), "param  L: f64[V, d] ~ normal(0, 0.1)");
  EXPECT_EQ(sexpr(ner.stmts[3].type->dims[1]), "(* 5 d)");
  EXPECT_EQ(ner.stmts[3].init->kind, "glorot");
  EXPECT_FALSE(ner.stmts[3].init->hasParens);
  EXPECT_EQ(ner.stmts[6].kind, K::Bind);
  EXPECT_EQ(sexpr(ner.stmts[6].value), "(flatten (index L ids))");
  EXPECT_EQ(ner.stmts[9].kind, K::Output);
  EXPECT_EQ(ner.stmts[9].name, "p");
  EXPECT_EQ(ner.stmts[10].kind, K::Loss);
  EXPECT_EQ(ner.stmts[10].name, "");
  EXPECT_EQ(sexpr(ner.stmts[10].value), "(binary_cross_entropy p y)");

  const auto &mlp = std::get<ast::ModelDecl>(file.decls[1]);
  ASSERT_EQ(mlp.dims.size(), 4u);
  EXPECT_EQ(mlp.dims[0].defaultValue, nullptr);
  EXPECT_EQ(slice(kSection4, mlp.dims[0].range), "B");
  ASSERT_EQ(mlp.stmts.size(), 6u);
  EXPECT_EQ(mlp.stmts[2].kind, K::Layer);
  EXPECT_EQ(mlp.stmts[2].name, "h");
  EXPECT_EQ(sexpr(mlp.stmts[2].value), "(dense x H relu)");
  EXPECT_EQ(sexpr(mlp.stmts[5].value), "(mean (cross_entropy logits y))");
  std::string text = slice(kSection4, mlp.range);
  EXPECT_EQ(text.substr(0, 9), "model mlp");
  EXPECT_EQ(text.back(), '}');
}

TEST(ParserTest, Section8Examples) {
  EXPECT_EQ(expr("(x + y) * max(y, z)"), "(* (+ x y) (max y z))");
  EXPECT_EQ(expr("ln(x1) + x1*x2 - sin(x2)"), "(- (+ (ln x1) (* x1 x2)) (sin x2))");
  EXPECT_EQ(expr("(x1 + x2)*x3 - x4"), "(- (* (+ x1 x2) x3) x4)");
  EXPECT_EQ(expr("x^3"), "(^ x 3)");
  EXPECT_EQ(expr("3*x^2"), "(* 3 (^ x 2))");
  EXPECT_EQ(expr("sigmoid(b + w @ x)"), "(sigmoid (+ b (@ w x)))");
  EXPECT_EQ(expr("u @ f(W @ x + b)"), "(@ u (f (+ (@ W x) b)))");
  EXPECT_EQ(expr("-log(sigmoid(u_o @ v_c)) - sum(log(sigmoid(-(U_neg @ v_c))))"),
            "(- (neg (log (sigmoid (@ u_o v_c)))) (sum (log (sigmoid (neg (@ U_neg v_c))))))");
  EXPECT_EQ(expr("diag(exp(q)) + lower(l, D)"), "(+ (diag (exp q)) (lower l D))");
  EXPECT_EQ(expr("take_along(logp, reshape(y, [B, 1]), axis=1)"),
            "(take_along logp (reshape y [B 1]) axis=1)");

  ast::File file = parseOk(R"(
fn gmm_component(q: f64[D], l: f64[D*(D-1)/2], x: f64[D]) -> f64 {
  Q = diag(exp(q)) + lower(l, D)
  return logsumexp(Q @ x)
}
fn sgns(u_o: f64[d], v_c: f64[d], U_neg: f64[k, d]) = -log(sigmoid(u_o @ v_c)) - sum(log(sigmoid(-(U_neg @ v_c))))
)");
  ASSERT_EQ(file.decls.size(), 2u);
  const auto &gmm = std::get<ast::FnDecl>(file.decls[0]);
  EXPECT_EQ(sexpr(gmm.params[1].type->dims[0]), "(/ (* D (- D 1)) 2)");
}

// ---- precedence and associativity ------------------------------------------------------------

TEST(ParserTest, Precedence) {
  EXPECT_EQ(expr("-a^k"), "(neg (^ a k))");
  EXPECT_EQ(expr("x^-2"), "(^ x (neg 2))");
  EXPECT_EQ(expr("a - b - c"), "(- (- a b) c)");
  EXPECT_EQ(expr("a / b / c"), "(/ (/ a b) c)");
  EXPECT_EQ(expr("a^b^c"), "(^ a (^ b c))");
  EXPECT_EQ(expr("a + b*c @ d"), "(+ a (@ (* b c) d))");
  EXPECT_EQ(expr("x > 0"), "(> x 0)");
  EXPECT_EQ(expr("a + b > c * d"), "(> (+ a b) (* c d))");
  EXPECT_EQ(expr("(x > 0) * x"), "(* (> x 0) x)");
  EXPECT_EQ(expr("a <= b"), "(<= a b)");
  EXPECT_EQ(expr("a >= b"), "(>= a b)");
  EXPECT_EQ(expr("a == b"), "(== a b)");
  EXPECT_EQ(expr("a != b"), "(!= a b)");
  EXPECT_EQ(expr("a < -b"), "(< a (neg b))");
  EXPECT_EQ(expr("-2^2"), "(neg (^ 2 2))");
  EXPECT_EQ(expr("- -x"), "(neg (neg x))");
  EXPECT_EQ(expr("+x"), "(pos x)");
  EXPECT_EQ(expr("a * -b"), "(* a (neg b))");
  EXPECT_EQ(expr("a^-b^c"), "(^ a (neg (^ b c)))");
  EXPECT_EQ(expr("2^3*4"), "(* (^ 2 3) 4)");
  EXPECT_EQ(expr("-x.T^2"), "(neg (^ (T x) 2))");
  EXPECT_EQ(expr("a - b + c"), "(+ (- a b) c)");
  EXPECT_EQ(expr("a @ b * c"), "(* (@ a b) c)");
}

TEST(ParserTest, PostfixChains) {
  EXPECT_EQ(expr("f(x)[0].T"), "(T (index (f x) 0))");
  EXPECT_EQ(expr("x.T.T"), "(T (T x))");
  EXPECT_EQ(expr("x[i][j]"), "(index (index x i) j)");
  EXPECT_EQ(expr("W.T @ x"), "(@ (T W) x)");
  EXPECT_EQ(expr("(a + b).T"), "(T (+ a b))");
  EXPECT_EQ(expr("E[ids]"), "(index E ids)");
  EXPECT_EQ(expr("x.Tail"), "x.Tail");
  EXPECT_EQ(expr("h.W"), "h.W");
  EXPECT_EQ(expr("h.W.T"), "(T h.W)");
  EXPECT_EQ(expr("f()"), "(f)");
}

TEST(ParserTest, Slices) {
  EXPECT_EQ(expr("x[i, j]"), "(index x i j)");
  EXPECT_EQ(expr("x[a:b]"), "(index x (: a b))");
  EXPECT_EQ(expr("x[:, j]"), "(index x (: _ _) j)");
  EXPECT_EQ(expr("x[a:]"), "(index x (: a _))");
  EXPECT_EQ(expr("x[:b]"), "(index x (: _ b))");
  EXPECT_EQ(expr("x[1:n-1, 0]"), "(index x (: 1 (- n 1)) 0)");
  EXPECT_EQ(expr("x[E[i]]"), "(index x (index E i))");
}

TEST(ParserTest, KeywordArguments) {
  EXPECT_EQ(expr("sum(x, axis=1)"), "(sum x axis=1)");
  EXPECT_EQ(expr("softmax(x, axis=-1)"), "(softmax x axis=(neg 1))");
  EXPECT_EQ(expr("hardtanh(x, lo=-1, hi=1)"), "(hardtanh x lo=(neg 1) hi=1)");
  EXPECT_EQ(expr("concat(a, b, c, axis = 0)"), "(concat a b c axis=0)");
  EXPECT_EQ(expr("f(a == b)"), "(f (== a b))");
  EXPECT_EQ(expr("zeros([2, 3], f32)"), "(zeros [2 3] f32)");
}

TEST(ParserTest, ArrayLiterals) {
  EXPECT_EQ(expr("[1, 2, 3]"), "[1 2 3]");
  EXPECT_EQ(expr("[[1, 0], [0, 1]]"), "[[1 0] [0 1]]");
  EXPECT_EQ(expr("transpose(x, [0, 2, 1])"), "(transpose x [0 2 1])");
  EXPECT_EQ(expr("[a + b, -c]"), "[(+ a b) (neg c)]");
}

TEST(ParserTest, Numbers) {
  EXPECT_EQ(expr(".5"), "0.5f");
  EXPECT_EQ(expr("1e-4"), "0.0001f");
  EXPECT_EQ(expr("2.5"), "2.5f");
  EXPECT_EQ(expr("3"), "3");
  EXPECT_EQ(expr("1E3"), "1000f");
  EXPECT_EQ(expr("5."), "5f");
  EXPECT_EQ(expr("1e-400"), "0f");
  EXPECT_EQ(expr("1e400"), "ERROR e.nabla:1:1: error: number '1e400' is too large");

  SourceFile f("e.nabla", "  12345");
  auto r = parseExpression(f);
  ASSERT_TRUE(bool(r));
  EXPECT_TRUE((*r)->isInteger);
  EXPECT_EQ((*r)->number, 12345);
  EXPECT_EQ((*r)->range.begin, 2u);
  EXPECT_EQ((*r)->range.end, 7u);
}

TEST(ParserTest, Ranges) {
  std::string text = "a + (b * c) - f(x, axis=1)[0:2].T";
  SourceFile f("e.nabla", text);
  auto r = parseExpression(f);
  ASSERT_TRUE(bool(r));
  const Expr &minus = **r;
  EXPECT_EQ(slice(text, minus.range), text);
  EXPECT_EQ(slice(text, minus.opRange), "-");
  const Expr &plus = *minus.args[0];
  EXPECT_EQ(slice(text, plus.range), "a + (b * c)");
  EXPECT_EQ(slice(text, plus.args[1]->range), "(b * c)");
  EXPECT_EQ(slice(text, plus.args[1]->opRange), "*");
  const Expr &t = *minus.args[1];
  EXPECT_EQ(t.kind, Expr::Kind::Transpose);
  EXPECT_EQ(slice(text, t.opRange), ".T");
  EXPECT_EQ(slice(text, t.range), "f(x, axis=1)[0:2].T");
  const Expr &index = *t.args[0];
  EXPECT_EQ(slice(text, index.opRange), "[0:2]");
  EXPECT_EQ(slice(text, index.indices[0].range), "0:2");
  const Expr &call = *index.args[0];
  EXPECT_EQ(slice(text, call.range), "f(x, axis=1)");
  EXPECT_EQ(slice(text, call.opRange), "f");
  EXPECT_EQ(slice(text, call.kwargs[0].range), "axis=1");

  std::string neg = "-x^2";
  SourceFile g("e.nabla", neg);
  auto n = parseExpression(g);
  ASSERT_TRUE(bool(n));
  EXPECT_EQ(slice(neg, (*n)->range), "-x^2");
  EXPECT_EQ(slice(neg, (*n)->opRange), "-");
  EXPECT_EQ(slice(neg, (*n)->args[0]->opRange), "^");

  std::string arr = "[[1, 0], [0, 1]]";
  SourceFile h("e.nabla", arr);
  auto a = parseExpression(h);
  ASSERT_TRUE(bool(a));
  EXPECT_EQ(slice(arr, (*a)->range), arr);
  EXPECT_EQ(slice(arr, (*a)->args[1]->range), "[0, 1]");
}

// ---- layout: comments, newlines, separators --------------------------------------------------

TEST(ParserTest, CommentsAndBlankLines) {
  ast::File file = parseOk(R"(# a file comment

# another one
let a = 1 # trailing
fn f(x) {   # the body
  # a comment line inside the block

  y = x   # binding

  return y # result
}

)");
  ASSERT_EQ(file.decls.size(), 2u);
  EXPECT_EQ(std::get<ast::FnDecl>(file.decls[1]).bindings.size(), 1u);
  EXPECT_EQ(fileError(""), "ok");
  EXPECT_EQ(fileError("# only a comment"), "ok");
  EXPECT_EQ(fileError("\n\n  \n"), "ok");
}

TEST(ParserTest, NewlinesInsideBrackets) {
  ast::File file = parseOk(R"(
fn f(x,
     y) = max(x,
              y) + [1,
                    2] @ [x,
                          y]
let s = (1 +
  2
  + 3)
fn g(W: f64[n,
            m]) = W
)");
  ASSERT_EQ(file.decls.size(), 3u);
  EXPECT_EQ(sexpr(std::get<ast::FnDecl>(file.decls[0]).result), "(+ (max x y) (@ [1 2] [x y]))");
  EXPECT_EQ(sexpr(std::get<ast::LetDecl>(file.decls[1]).value), "(+ (+ 1 2) 3)");
  EXPECT_EQ(expr("\n  a +\n b\n"), "(+ a b)");
}

TEST(ParserTest, NewlineAfterInfixOperatorOrEquals) {
  ast::File file = parseOk("fn f(x) =\n  x +\n  1\nfn g(x)\n{\n  return x\n}\n");
  ASSERT_EQ(file.decls.size(), 2u);
  EXPECT_EQ(sexpr(std::get<ast::FnDecl>(file.decls[0]).result), "(+ x 1)");
}

TEST(ParserTest, SemicolonSeparators) {
  // The block form that `nabla diff` prints must parse back.
  ast::File file = parseOk("fn d(x, y) { t1 = sin(x); t2 = t1 * y; return t1 + t2 }\n"
                           "fn e(x) { return x; }\n"
                           "model m() { input x: f64; loss x;; }\n");
  ASSERT_EQ(file.decls.size(), 3u);
  const auto &d = std::get<ast::FnDecl>(file.decls[0]);
  ASSERT_EQ(d.bindings.size(), 2u);
  EXPECT_EQ(sexpr(d.bindings[1].value), "(* t1 y)");
  EXPECT_EQ(sexpr(d.result), "(+ t1 t2)");
  EXPECT_EQ(std::get<ast::ModelDecl>(file.decls[2]).stmts.size(), 2u);
}

TEST(ParserTest, KeywordsAreNotPrefixes) {
  ast::File file = parseOk("fn fnord(lossy, input_x, returned) = lossy + input_x * returned\n"
                           "let letter = 1\n"
                           "model modeled() { layers = 1; outputs = layers; loss outputs }\n");
  ASSERT_EQ(file.decls.size(), 3u);
  EXPECT_EQ(std::get<ast::FnDecl>(file.decls[0]).name, "fnord");
  EXPECT_EQ(std::get<ast::ModelDecl>(file.decls[2]).stmts[0].name, "layers");
}

TEST(ParserTest, TypesAndWindowsLineEndings) {
  ast::File file = parseOk("fn f(a: f32, b: i32[B], c: f64[2*n + 1, (D - 1) / 2]) -> f32[B] = a\r\n"
                           "let x = 1\r\n");
  const auto &f = std::get<ast::FnDecl>(file.decls[0]);
  EXPECT_EQ(f.params[0].type->dtype, "f32");
  EXPECT_FALSE(f.params[0].type->hasShape);
  EXPECT_EQ(sexpr(f.params[2].type->dims[0]), "(+ (* 2 n) 1)");
  EXPECT_EQ(sexpr(f.params[2].type->dims[1]), "(/ (- D 1) 2)");
  EXPECT_EQ(f.returnType->dtype, "f32");
  EXPECT_EQ(file.decls.size(), 2u);
}

// ---- syntax errors: the exact diagnostic line ------------------------------------------------

TEST(ParserTest, ErrorWrongToken) {
  EXPECT_EQ(fileError("let x = 1 2\n"), "t.nabla:1:11: error: expected newline after declaration");
  EXPECT_EQ(fileError("x = 1\n"), "t.nabla:1:1: error: expected 'fn', 'let' or 'model'");
  EXPECT_EQ(fileError("let x = 1\nfun f(x) = x\n"),
            "t.nabla:2:1: error: expected 'fn', 'let' or 'model'");
}

TEST(ParserTest, ErrorMissingCloseParen) {
  EXPECT_EQ(fileError("fn f(x) = (x + 1\n"), "t.nabla:1:17: error: expected ')'");
  EXPECT_EQ(fileError("fn f(x) = max(x, 1 2)\n"), "t.nabla:1:20: error: expected ')'");
  // The note points at the '(' that is left open.
  SourceFile f("t.nabla", "fn f(x) = max(x,\n  1\n");
  auto r = parseFile(f);
  ASSERT_FALSE(r);
  ASSERT_EQ(r.error().list.size(), 2u);
  EXPECT_EQ(r.error().render(), "t.nabla:2:4: error: expected ')'\n"
                                "  1\n"
                                "   ^\n"
                                "t.nabla:1:14: note: to match this '('\n"
                                "fn f(x) = max(x,\n"
                                "             ^\n");
}

TEST(ParserTest, ErrorMissingReturn) {
  EXPECT_EQ(fileError("fn f(x) {\n  y = x\n}\n"),
            "t.nabla:3:1: error: expected 'return' at the end of block");
  EXPECT_EQ(fileError("fn f(x) {\n  y = x\n  y * 2\n}\n"),
            "t.nabla:3:3: error: expected 'return' at the end of block");
}

TEST(ParserTest, ErrorUnterminatedBlock) {
  EXPECT_EQ(fileError("fn f(x) {\n  y = x\n  return y\n"),
            "t.nabla:1:9: error: unterminated block: expected '}'");
  EXPECT_EQ(fileError("model m(B) {\n  input x: f64[B]\n  loss sum(x)\n\n"),
            "t.nabla:1:12: error: unterminated block: expected '}'");
  EXPECT_EQ(fileError("fn f(x) {"), "t.nabla:1:9: error: unterminated block: expected '}'");
  // Not at the end of the file: the caret goes where the '}' was expected, with a note.
  SourceFile f("t.nabla", "fn f(x) {\n  return x\nfn g(x) = x\n");
  auto r = parseFile(f);
  ASSERT_FALSE(r);
  ASSERT_EQ(r.error().list.size(), 2u);
  EXPECT_EQ(r.error().list[0].render().substr(0, 60),
            "t.nabla:3:1: error: expected '}' after the return statement\n");
  EXPECT_EQ(r.error().list[1].severity, Severity::Note);
  EXPECT_EQ(r.error().list[1].line, 1);
  EXPECT_EQ(r.error().list[1].col, 9);
}

TEST(ParserTest, ErrorStatementAfterReturn) {
  EXPECT_EQ(fileError("fn f(x) {\n  return x\n  y = 1\n}\n"),
            "t.nabla:3:3: error: expected '}' after the return statement");
  EXPECT_EQ(fileError("fn f(x) { return x y }\n"),
            "t.nabla:1:20: error: expected '}' after the return statement");
}

TEST(ParserTest, ErrorBadType) {
  EXPECT_EQ(fileError("fn f(x: f16) = x\n"), "t.nabla:1:9: error: expected type (f32, f64 or i32)");
  EXPECT_EQ(fileError("fn f(x) -> float = x\n"),
            "t.nabla:1:12: error: expected type (f32, f64 or i32)");
  EXPECT_EQ(fileError("fn f(x: f64[n,]) = x\n"), "t.nabla:1:15: error: expected dimension");
  EXPECT_EQ(fileError("fn f(x: f64[2.5]) = x\n"),
            "t.nabla:1:13: error: dimension must be an integer");
  EXPECT_EQ(fileError("fn f(x: f64[n) = x\n"), "t.nabla:1:14: error: expected ']'");
}

TEST(ParserTest, ErrorMissingParamTypeAfterColon) {
  EXPECT_EQ(fileError("fn f(x: ) = x\n"), "t.nabla:1:9: error: expected type (f32, f64 or i32)");
  EXPECT_EQ(fileError("model m() {\n  input x:\n  loss x\n}\n"),
            "t.nabla:2:11: error: expected type (f32, f64 or i32)");
}

TEST(ParserTest, ErrorMissingEquals) {
  EXPECT_EQ(fileError("let x 1\n"), "t.nabla:1:7: error: expected '='");
  EXPECT_EQ(fileError("fn f(x) x\n"),
            "t.nabla:1:9: error: expected '=' or '{' after function signature");
  EXPECT_EQ(fileError("fn f(x)\nlet y = 1\n"),
            "t.nabla:1:8: error: expected '=' or '{' after function signature");
  EXPECT_EQ(fileError("model m() {\n  h dense(x)\n}\n"), "t.nabla:2:5: error: expected '='");
}

TEST(ParserTest, ErrorGarbageAfterExpression) {
  EXPECT_EQ(fileError("fn f(x) = x + 1 )\n"),
            "t.nabla:1:17: error: expected newline after declaration");
  EXPECT_EQ(expr("x + y )"), "ERROR e.nabla:1:7: error: expected end of input");
  EXPECT_EQ(fileError("fn f(x) {\n  y = x z\n  return y\n}\n"),
            "t.nabla:2:9: error: expected newline or ';'");
  EXPECT_EQ(fileError("model m() {\n  loss x y\n}\n"),
            "t.nabla:2:10: error: expected newline or ';'");
}

TEST(ParserTest, ErrorMissingExpression) {
  EXPECT_EQ(fileError("let x = \n"), "t.nabla:1:8: error: expected expression");
  EXPECT_EQ(fileError("let x = 1 +\n"), "t.nabla:1:12: error: expected expression");
  EXPECT_EQ(fileError("let x = 1 * )\n"), "t.nabla:1:13: error: expected expression");
  EXPECT_EQ(fileError("let x = f(1, )\n"), "t.nabla:1:14: error: expected expression");
  EXPECT_EQ(expr(""), "ERROR e.nabla:1:1: error: expected expression");
  EXPECT_EQ(expr("   "), "ERROR e.nabla:1:1: error: expected expression");
}

TEST(ParserTest, ErrorUnterminatedArrayLiteral) {
  EXPECT_EQ(fileError("let a = [1, 2\n"), "t.nabla:1:14: error: expected ']'");
  EXPECT_EQ(fileError("let a = [1, 2\nlet b = 3\n"), "t.nabla:2:1: error: expected ']'");
  EXPECT_EQ(fileError("let a = [1, 2,]\n"), "t.nabla:1:15: error: expected expression");
  EXPECT_EQ(fileError("let a = []\n"), "t.nabla:1:10: error: expected expression");
}

TEST(ParserTest, ErrorKeywordAsName) {
  // Model statement words name values elsewhere (LANGUAGE.md §3b's rnn_loss binds `loss`).
  EXPECT_EQ(fileError("let for = 1\n"), "t.nabla:1:5: error: expected name, found keyword 'for'");
  EXPECT_EQ(fileError("fn f(for) = for\n"),
            "t.nabla:1:6: error: expected parameter name, found keyword 'for'");
  EXPECT_EQ(fileError("fn return(x) = x\n"),
            "t.nabla:1:4: error: expected name, found keyword 'return'");
}

TEST(ParserTest, ErrorParameters) {
  EXPECT_EQ(fileError("fn f(x,) = x\n"), "t.nabla:1:8: error: expected parameter name");
  EXPECT_EQ(fileError("fn f(x y) = x\n"), "t.nabla:1:8: error: expected ')'");
  EXPECT_EQ(fileError("fn f = x\n"), "t.nabla:1:6: error: expected '('");
  EXPECT_EQ(fileError("model m { }\n"), "t.nabla:1:9: error: expected '('");
  EXPECT_EQ(fileError("model m(d = ) { }\n"), "t.nabla:1:13: error: expected dimension");
}

TEST(ParserTest, ErrorIndexAndCalls) {
  EXPECT_EQ(expr("x[]"), "ERROR e.nabla:1:3: error: expected index");
  EXPECT_EQ(expr("x[1,]"), "ERROR e.nabla:1:5: error: expected index");
  EXPECT_EQ(expr("f(axis=1, x)"),
            "ERROR e.nabla:1:11: error: positional argument after keyword argument");
  EXPECT_EQ(expr("f(x)(y)"),
            "ERROR e.nabla:1:5: error: unexpected '(' (only a function name can be called)");
  EXPECT_EQ(expr("x."), "ERROR e.nabla:1:2: error: expected end of input");
}

TEST(ParserTest, ErrorOperators) {
  EXPECT_EQ(expr("a < b < c"),
            "ERROR e.nabla:1:7: error: comparison operators cannot be chained; add parentheses");
  EXPECT_EQ(expr("x ** 2"),
            "ERROR e.nabla:1:3: error: '**' is not an operator; use '^' for powers");
  EXPECT_EQ(expr("a = b"), "ERROR e.nabla:1:3: error: expected end of input");
  EXPECT_EQ(expr("- "), "ERROR e.nabla:1:2: error: expected expression");
}

TEST(ParserTest, ErrorModelStatements) {
  EXPECT_EQ(fileError("model m() {\n  layer h = x + 1\n}\n"),
            "t.nabla:2:13: error: expected a layer call such as 'dense(x, 10)'");
  EXPECT_EQ(fileError("model m() {\n  param W: f64 ~\n}\n"),
            "t.nabla:2:17: error: expected initializer");
  EXPECT_EQ(fileError("model m() {\n  param W: f64 ~ normal(0, 1\n}\n"),
            "t.nabla:3:1: error: expected ')'");
  EXPECT_EQ(fileError("model m() {\n  3 = x\n}\n"), "t.nabla:2:3: error: expected '}'");
  EXPECT_EQ(fileError("model m() {\n  output = x\n}\n"), "t.nabla:2:10: error: expected name");
}

TEST(ParserTest, ErrorRenderedWithCaret) {
  SourceFile f("mlp.nabla", "fn f(x) = (x + 1) * \n");
  auto r = parseFile(f);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().render(), "mlp.nabla:1:20: error: expected expression\n"
                                "fn f(x) = (x + 1) * \n"
                                "                   ^\n");
}

// ---- deep nesting: a diagnostic, not a stack overflow ----------------------------------------

std::string repeat(const std::string &s, int n) {
  std::string out;
  out.reserve(s.size() * static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    out += s;
  return out;
}

std::string tooDeep(int col) {
  return "t.nabla:1:" + std::to_string(col) +
         ": error: expression nested too deeply (more than 256 levels)";
}

TEST(ParserTest, DeepParentheses) {
  std::string text = "let x = " + repeat("(", 10000) + "x" + repeat(")", 10000) + "\n";
  // The 257th '(' crosses the limit.
  EXPECT_EQ(fileError(text), tooDeep(8 + 257));
  // 256 levels are fine.
  EXPECT_EQ(fileError("let x = " + repeat("(", 255) + "x" + repeat(")", 255) + "\n"), "ok");
}

TEST(ParserTest, DeepBrackets) {
  EXPECT_EQ(fileError("let x = " + repeat("[", 10000) + "1" + repeat("]", 10000) + "\n"),
            tooDeep(8 + 257));
  EXPECT_EQ(fileError("let x = " + repeat("f(", 10000) + "1" + repeat(")", 10000) + "\n"),
            tooDeep(8 + 2 * 256 + 2));
  EXPECT_EQ(fileError("let x = y" + repeat("[y", 10000) + repeat("]", 10000) + "\n"),
            tooDeep(8 + 1 + 2 * 256 + 1));
  EXPECT_EQ(fileError("fn f(x: f64[" + repeat("(", 10000) + "n" + repeat(")", 10000) + "]) = x\n"),
            tooDeep(12 + 255)); // the parameter list and the shape are two levels
}

TEST(ParserTest, DeepUnaryMinus) {
  std::string text = "let x = " + repeat("- ", 10000) + "x\n";
  EXPECT_EQ(fileError(text), tooDeep(8 + 2 * 256 + 1));
  EXPECT_EQ(fileError("let x = " + repeat("-", 10000) + "x\n"), tooDeep(8 + 256 + 1));
  EXPECT_EQ(fileError("let x = " + repeat("- ", 256) + "x\n"), "ok");
}

TEST(ParserTest, DeepPower) {
  std::string text = "let x = x" + repeat("^x", 10000) + "\n";
  EXPECT_EQ(fileError(text), tooDeep(8 + 1 + 2 * 256 + 1));
  EXPECT_EQ(fileError("let x = x" + repeat("^-x", 10000) + "\n"), tooDeep(8 + 1 + 3 * 128 + 1));
}

TEST(ParserTest, DeepPostfixChains) {
  EXPECT_EQ(fileError("let x = x" + repeat(".T", 10000) + "\n"), tooDeep(8 + 1 + 2 * 256 + 1));
  EXPECT_EQ(fileError("let x = x" + repeat("[0]", 10000) + "\n"), tooDeep(8 + 1 + 3 * 256 + 1));
}

TEST(ParserTest, LongOperatorChains) {
  // Left-associative chains are parsed iteratively; only the height of the tree they would build
  // is bounded (at 4096), so a long but reasonable sum is fine.
  EXPECT_EQ(fileError("let x = x" + repeat(" + x", 2000) + "\n"), "ok");
  std::string text = "let x = x" + repeat("+x", 10000) + "\n";
  EXPECT_EQ(fileError(text), "t.nabla:1:" + std::to_string(8 + 1 + 2 * 4095 + 1) +
                                 ": error: expression nested too deeply (more than 4096 levels; "
                                 "split it with intermediate bindings)");
}

TEST(ParserTest, DeepNestingInParseExpression) {
  EXPECT_EQ(expr(repeat("(", 10000) + "x" + repeat(")", 10000)),
            "ERROR e.nabla:1:257: error: expression nested too deeply (more than 256 levels)");
  EXPECT_EQ(expr(repeat("-", 10000) + "x"),
            "ERROR e.nabla:1:257: error: expression nested too deeply (more than 256 levels)");
}

TEST(ParserTest, NeverThrowsOnJunk) {
  const char *junk[] = {"\x01\x02", "fn",  "fn f(", "model",      "let = =",   "}}}}",
                        "((((",     "[:]", "x[",    "f(x",        "fn f(x) {", "\xff\xfe",
                        "1e",       "..",  "#",     "let x = 1e+"};
  for (const char *text : junk) {
    SourceFile f("j.nabla", text);
    EXPECT_NO_THROW({ (void)parseFile(f); }) << text;
    EXPECT_NO_THROW({ (void)parseExpression(f); }) << text;
  }
}

} // namespace
} // namespace nabla
