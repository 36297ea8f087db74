// `nabla repl`: define functions, evaluate them, and ask derivative questions (LANGUAGE.md §7).
#include "tools/Repl.h"

#include "driver/Check.h"
#include "driver/Derivatives.h"
#include "driver/DerivedFunction.h"
#include "driver/Emit.h"
#include "driver/Json.h"
#include "driver/Source.h"
#include "tools/Cli.h"

#include <editline/readline.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

namespace nabla::tools {

namespace {

const char *kHelp = R"(definitions:   f(x, y) = x^2 * y      fn ... / let ... / model ... { ... } as in a file
evaluate:      f(3, 4)                any expression over defined names and numbers
derivatives:   d/dx sin(x)^2          the simplified symbolic derivative
               grad f                 the symbolic gradient; grad f at x=1, y=2 for numbers
               hessian f              the symbolic Hessian; hessian f at x=1, y=2 for numbers
               check f at x=1, y=2    every mode against central differences at that point
               trace f at x=1, y=2    forward values and reverse adjoints, one row per node
commands:      :load FILE  :ir f  :plan f  :llvm f  :asm f  :dot f  :help  :quit
)";

std::string trim(const std::string &s) {
  auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos)
    return "";
  auto end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

/// Counts unclosed braces, so that a model or block body can span several lines.
int braceBalance(const std::string &s) {
  int depth = 0;
  bool comment = false;
  for (char c : s) {
    if (c == '#')
      comment = true;
    if (c == '\n')
      comment = false;
    if (comment)
      continue;
    depth += c == '{' ? 1 : c == '}' ? -1 : 0;
  }
  return depth;
}

class Repl {
public:
  explicit Repl(std::ostream &out) : out_(out) {}

  /// Handles one (possibly multi-line) input; false to quit.
  bool handle(const std::string &input) {
    std::string line = trim(input);
    if (line.empty() || line[0] == '#')
      return true;
    try {
      if (line[0] == ':')
        return command(line);
      static const std::regex derivative(R"(^d/d([A-Za-z_][A-Za-z0-9_]*)\s+(.+)$)");
      static const std::regex question(
          R"(^(grad|hessian|check|trace)\s+([A-Za-z_][A-Za-z0-9_]*)(\s+at\s+(.*))?$)");
      static const std::regex shortDef(R"(^([A-Za-z_][A-Za-z0-9_]*)\s*\(([^()]*)\)\s*=[^=].*$)");
      std::smatch m;
      if (std::regex_match(line, m, derivative))
        return symbolicDiff(m[2], m[1]);
      if (std::regex_match(line, m, question))
        return ask(m[1], m[2], m[3].matched ? std::optional<std::string>(m[4]) : std::nullopt);
      if (line.rfind("fn ", 0) == 0 || line.rfind("let ", 0) == 0 || line.rfind("model ", 0) == 0)
        return define(line);
      if (std::regex_match(line, m, shortDef))
        return define("fn " + line);
      return evaluate(line);
    } catch (const std::exception &e) {
      out_ << "error: " << e.what() << "\n";
      return true;
    }
  }

  bool load(const std::string &path) {
    auto source = readSource(path);
    if (!source) {
      out_ << source.error().render();
      return true;
    }
    return define(source->text());
  }

private:
  // ----- definitions and evaluation ------------------------------------------------------------

  /// Compiles the definitions so far plus `extra`; reports errors.
  std::optional<Module> compileWith(const std::string &extra) {
    std::string text;
    for (const std::string &d : definitions_)
      text += d + "\n";
    text += extra + "\n";
    auto m = compileSource(SourceFile("repl", text));
    if (!m) {
      out_ << m.error().render();
      return std::nullopt;
    }
    return std::move(*m);
  }

  bool define(const std::string &source) {
    if (auto m = compileWith(source)) {
      definitions_.push_back(source);
      module_ = std::move(*m);
    }
    return true;
  }

  bool evaluate(const std::string &expr) {
    auto m = compileWith("fn repl_value() = " + expr);
    if (!m)
      return true;
    const Function &f = m->functions.back();
    if (!f.arguments().empty()) {
      out_ << "error: '" << f.inst(f.arguments()[0]).stringAttr("name")
           << "' is not defined (define it, or ask d/dx for a derivative)\n";
      return true;
    }
    auto r = execute(Engine::Interp, f, {});
    if (!r) {
      out_ << r.error().render();
      return true;
    }
    out_ << formatTensor(r->front()) << "\n";
    return true;
  }

  const Function *function(const std::string &name) {
    const Function *f = module_ ? module_->find(name) : nullptr;
    if (!f)
      out_ << "error: '" << name << "' is not defined\n";
    return f;
  }

  // ----- derivative questions ------------------------------------------------------------------

  bool symbolicDiff(const std::string &expr, const std::string &var) {
    auto f = expressionFunction(expr, "repl", {var});
    if (!f) {
      out_ << f.error().render();
      return true;
    }
    auto text = derivativeText(*f, {*f->argument(var)});
    out_ << (text ? *text : text.error().render()) << "\n";
    return true;
  }

  bool ask(const std::string &what, const std::string &name, std::optional<std::string> at) {
    const Function *f = function(name);
    if (!f)
      return true;
    auto wrt = *selectArguments(*f, {});
    if (!at) {
      if (what == "grad" || what == "hessian")
        return symbolicList(*f, wrt, what == "hessian");
      out_ << "error: '" << what << "' needs a point: " << what << " " << name
           << " at x=1, y=2\n";
      return true;
    }
    auto values = parseAssignments(*at);
    if (!values) {
      out_ << values.error().render();
      return true;
    }
    auto args = collectArguments(*f, *values, "at", {});
    if (!args) {
      out_ << args.error().render();
      return true;
    }
    if (what == "grad")
      return numericGradient(*f, wrt, *args);
    if (what == "hessian")
      return numericHessian(*f, wrt, *args);
    if (what == "check")
      return checkAt(*f, wrt, *args);
    return trace(*f, *args);
  }

  bool symbolicList(const Function &f, const std::vector<ValueId> &wrt, bool second) {
    std::vector<std::string> rows;
    for (ValueId a : wrt) {
      if (!f.typeOf(a).isScalar()) {
        out_ << "error: symbolic " << (second ? "Hessians" : "gradients")
             << " print for scalar arguments; use `at` for numbers\n";
        return true;
      }
      std::vector<std::string> row;
      for (ValueId b : second ? wrt : std::vector<ValueId>{a}) {
        std::vector<ValueId> vars{a};
        if (second)
          vars.push_back(b);
        auto text = derivativeText(f, vars);
        if (!text) {
          out_ << text.error().render();
          return true;
        }
        row.push_back(*text);
      }
      rows.push_back(second ? "[" + join(row) + "]" : row[0]);
    }
    out_ << "[" << join(rows) << "]\n";
    return true;
  }

  static std::string join(const std::vector<std::string> &parts) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i)
      out += (i ? ", " : "") + parts[i];
    return out;
  }

  bool numericGradient(const Function &f, const std::vector<ValueId> &wrt,
                       const std::vector<Tensor> &args) {
    auto g = gradient(f, wrt, args, {}, Derivative::Reverse);
    if (!g) {
      out_ << g.error().render();
      return true;
    }
    std::vector<std::string> parts;
    for (const NamedTensor &t : *g)
      parts.push_back(formatTensor(t.value));
    out_ << "[" << join(parts) << "]\n";
    return true;
  }

  bool numericHessian(const Function &f, const std::vector<ValueId> &wrt,
                      const std::vector<Tensor> &args) {
    auto h = hessian(f, wrt, args, {}, Derivative::Reverse);
    if (!h) {
      out_ << h.error().render();
      return true;
    }
    std::vector<std::string> rows;
    for (std::size_t a = 0; a < wrt.size(); ++a) {
      std::vector<std::string> row;
      for (std::size_t b = 0; b < wrt.size(); ++b)
        row.push_back(formatTensor((*h)[a * wrt.size() + b].value));
      rows.push_back("[" + join(row) + "]");
    }
    out_ << "[" << join(rows) << "]\n";
    return true;
  }

  /// Each mode's gradient against a central difference, entry by entry, at the given point.
  bool checkAt(const Function &f, const std::vector<ValueId> &wrt, const std::vector<Tensor> &args) {
    auto rows = checkAtPoint(f, wrt, args);
    if (!rows) {
      out_ << rows.error().render();
      return true;
    }
    out_ << fmt::format("{:<10} {:>14} {:>14} {:>14} {:>14}  {}\n", "argument", "symbolic",
                        "forward", "reverse", "central diff", "verdict");
    for (const PointCheckRow &r : *rows)
      out_ << fmt::format("{:<10} {:>14.8g} {:>14.8g} {:>14.8g} {:>14.8g}  {}\n", r.entry,
                          r.symbolic, r.forward, r.reverse, r.central, r.passed ? "ok" : "FAIL");
    return true;
  }

  /// The forward values of every node, then the adjoints reverse mode gives them.
  bool trace(const Function &f, const std::vector<Tensor> &args) {
    auto nodes = traceAdjoints(f, args);
    if (!nodes) {
      out_ << nodes.error().render();
      return true;
    }
    out_ << fmt::format("{:<5} {:<28} {:>16} {:>16}\n", "node", "op", "value", "adjoint");
    for (std::size_t v = 0; v < nodes->size(); ++v) {
      const TracedNode &n = (*nodes)[v];
      out_ << fmt::format("%{:<4} {:<28} {:>16} {:>16}\n", v, n.op, formatTensor(n.value),
                          n.adjoint ? formatTensor(*n.adjoint) : "0");
    }
    return true;
  }

  // ----- commands ------------------------------------------------------------------------------

  bool command(const std::string &line) {
    std::istringstream in(line);
    std::string cmd, arg;
    in >> cmd >> arg;
    if (cmd == ":quit" || cmd == ":q")
      return false;
    if (cmd == ":help") {
      out_ << kHelp;
      return true;
    }
    if (cmd == ":load")
      return load(arg);
    const Function *f = function(arg);
    if (!f)
      return true;
    auto stage = parseStage(cmd.substr(1));
    if (!stage || (*stage != Stage::Ir && *stage != Stage::Dot && *stage != Stage::Plan &&
                   *stage != Stage::Llvm && *stage != Stage::Asm)) {
      out_ << "error: unknown command '" << cmd << "' (:help lists them)\n";
      return true;
    }
    auto text = emitStage(*stage, {f});
    out_ << (text ? *text : text.error().render());
    return true;
  }

  std::ostream &out_;
  std::vector<std::string> definitions_;
  std::optional<Module> module_;
};

} // namespace

int runRepl(const std::string &file) {
  Repl repl(std::cout);
  if (!file.empty())
    repl.load(file);
  bool interactive = ::isatty(STDIN_FILENO);
  std::string pending;
  while (true) {
    std::string line;
    if (interactive) {
      char *raw = ::readline(pending.empty() ? "nabla> " : "  ...> ");
      if (!raw)
        break;
      line = raw;
      std::free(raw);
      if (!trim(line).empty())
        ::add_history(line.c_str());
    } else if (!std::getline(std::cin, line)) {
      break;
    }
    // A block or model continues until its braces close.
    pending += (pending.empty() ? "" : "\n") + line;
    if (braceBalance(pending) > 0)
      continue;
    std::string input = std::move(pending);
    pending.clear();
    if (!repl.handle(input))
      break;
    std::cout.flush();
  }
  return kSuccess;
}

} // namespace nabla::tools
