// Printing of functions and modules in the textual IR form that IrParser reads back.
#include "ir/Printer.h"

#include <fmt/format.h>

#include "ir/OpTable.h"

#include <charconv>
#include <cmath>
#include <type_traits>

namespace nabla {

namespace {

bool isIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

bool isIdentChar(char c) { return isIdentStart(c) || (c >= '0' && c <= '9') || c == '.'; }

std::string valueName(ValueId v) { return "%" + std::to_string(v); }

template <class T, class F> std::string printList(const std::vector<T> &xs, F &&each) {
  std::string out = "[";
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (i)
      out += ", ";
    out += each(xs[i]);
  }
  return out + "]";
}

const char *kindKeyword(Function::Kind kind) {
  switch (kind) {
  case Function::Kind::Fn:
    return "func";
  case Function::Kind::Model:
    return "model";
  }
  return "func";
}

} // namespace

std::string printFloat(double x) {
  // nan's sign is not something the IR distinguishes, and `-nan` would be one more spelling.
  if (std::isnan(x))
    return "nan";
  if (std::isinf(x))
    return x < 0 ? "-inf" : "inf";
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof buf, x);
  std::string out(buf, result.ptr);
  if (out.find_first_of(".e") == std::string::npos)
    out += ".0";
  return out;
}

std::string quoteString(const std::string &s) {
  static const char *hex = "0123456789abcdef";
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      // Keeps the one-instruction-per-line shape whatever a name holds.
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string printName(const std::string &name) {
  bool plain = !name.empty() && isIdentStart(name[0]);
  for (char c : name)
    plain = plain && isIdentChar(c);
  return plain ? name : quoteString(name);
}

std::string printAttrValue(const AttrValue &value) {
  return std::visit(
      [](const auto &x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::int64_t>)
          return std::to_string(x);
        else if constexpr (std::is_same_v<T, double>)
          return printFloat(x);
        else if constexpr (std::is_same_v<T, std::vector<std::int64_t>>)
          return printList(x, [](std::int64_t i) { return std::to_string(i); });
        else if constexpr (std::is_same_v<T, std::vector<double>>)
          return printList(x, [](double d) { return printFloat(d); });
        else if constexpr (std::is_same_v<T, Shape>)
          return printList(x, [](const Dim &d) { return d.str(); });
        else if constexpr (std::is_same_v<T, DType>)
          return std::string(dtypeName(x));
        else
          return quoteString(x);
      },
      value);
}

namespace {

std::string printInstAt(const Function &f, ValueId v, const std::string &indent);

/// A loop body: its instructions one level in, then `yield`, then the closing brace at `indent`.
std::string printRegion(const Function &body, const std::string &indent) {
  std::string inner = indent + "  ";
  std::string out = " {\n";
  for (ValueId v = 0; v < body.insts.size(); ++v)
    out += inner + printInstAt(body, v, inner) + "\n";
  out += inner + "yield";
  for (std::size_t i = 0; i < body.yields.size(); ++i)
    out += (i ? ", " : " ") + valueName(body.yields[i]);
  return out + "\n" + indent + "}";
}

std::string printInstAt(const Function &f, ValueId v, const std::string &indent) {
  if (v >= f.insts.size())
    return valueName(v) + " <undefined>";
  const Inst &inst = f.insts[v];
  std::string out = valueName(v) + ": " + inst.type.str() + " = ";
  out += mnemonic(inst.op);
  for (std::size_t i = 0; i < inst.operands.size(); ++i) {
    out += i ? ", " : " ";
    out += valueName(inst.operands[i]);
  }
  if (inst.attrs.empty())
    return out;
  const auto &specs = opInfo(inst.op).attrs;
  out += " {";
  for (std::size_t i = 0; i < inst.attrs.size(); ++i) {
    if (i)
      out += ", ";
    // An attribute beyond the op's spec only exists in a broken function; name it by position.
    out += i < specs.size() ? std::string(specs[i].name) : "attr" + std::to_string(i);
    out += "=";
    out += printAttrValue(inst.attrs[i]);
  }
  out += "}";
  for (const auto &region : inst.regions)
    out += region ? printRegion(*region, indent) : " {<missing body>}";
  return out;
}

} // namespace

std::string printInst(const Function &f, ValueId v) { return printInstAt(f, v, ""); }

std::string printRegion(const Function &body) { return printRegion(body, ""); }

std::string print(const Function &f) {
  std::string out = kindKeyword(f.kind);
  out += " @" + printName(f.name);
  if (!f.dimParams.empty()) {
    out += "[";
    for (std::size_t i = 0; i < f.dimParams.size(); ++i) {
      if (i)
        out += ", ";
      out += printName(f.dimParams[i]);
    }
    out += "]";
  }
  out += " {\n";
  for (ValueId v = 0; v < f.insts.size(); ++v)
    out += "  " + printInstAt(f, v, "  ") + "\n";
  for (const NamedValue &o : f.outputs)
    out += std::string("  ") + outputRoleKeyword(o.role) + " " + printName(o.name) + " = " +
           valueName(o.value) + "\n";
  out += "  return " + valueName(f.result) + "\n";
  return out + "}\n";
}

std::string print(const Module &m) {
  std::string out;
  for (std::size_t i = 0; i < m.functions.size(); ++i) {
    if (i)
      out += "\n";
    out += print(m.functions[i]);
  }
  return out;
}

std::string printDot(const Function &f) {
  std::string out = fmt::format(
      "digraph \"{}\" {{\n  rankdir=BT;\n  node [shape=box, fontname=monospace];\n", f.name);
  for (ValueId v = 0; v < f.insts.size(); ++v) {
    const Inst &inst = f.insts[v];
    std::string label = fmt::format("%{} {}", v, mnemonic(inst.op));
    if (inst.op == Op::Input || inst.op == Op::Param)
      label += " " + inst.stringAttr("name");
    label += "\\n" + inst.type.str();
    out += fmt::format("  n{} [label=\"{}\"{}];\n", v, label,
                       v == f.result ? ", style=bold" : "");
    for (ValueId o : inst.operands)
      out += fmt::format("  n{} -> n{};\n", o, v);
  }
  return out + "}\n";
}

} // namespace nabla
