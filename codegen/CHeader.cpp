// The C header of an object file: comments from the IR's names, types and roles; declarations
// and wrappers from the kernel ABI of codegen/Lowering.h.
#include "codegen/CHeader.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace nabla::codegen {

namespace {

/// Words that C99 or C++ reserve: an argument so named gets a trailing '_'.
const std::set<std::string> &keywords() {
  static const std::set<std::string> words = {
      "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break",
      "case", "catch", "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept",
      "const", "consteval", "constexpr", "constinit", "const_cast", "continue", "co_await",
      "co_return", "co_yield", "decltype", "default", "delete", "do", "double", "dynamic_cast",
      "else", "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto",
      "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
      "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register",
      "reinterpret_cast", "requires", "restrict", "return", "short", "signed", "sizeof",
      "static", "static_assert", "static_cast", "struct", "switch", "template", "this",
      "thread_local", "throw", "true", "try", "typedef", "typeid", "typename", "union",
      "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq",
      "_Bool", "_Complex", "_Imaginary", "NULL", "int32_t", "int64_t", "uint8_t"};
  return words;
}


/// `f64[N, D]`: the type with its dimensions spelled out.
std::string typeText(const Type &t) {
  std::string out = dtypeName(t.dtype);
  if (t.shape.empty())
    return out;
  out += "[";
  for (std::size_t i = 0; i < t.shape.size(); ++i)
    out += (i ? ", " : "") + t.shape[i].str();
  return out + "]";
}

/// Distinct C parameter names within one wrapper.
class Namer {
public:
  Namer() : used_{"nabla_args", "nabla_results", "nabla_dims"} {}
  std::string operator()(const std::string &text) {
    std::string base = cIdentifier(text), name = base;
    for (int k = 2; !used_.insert(name).second; ++k)
      name = fmt::format("{}_{}", base, k);
    return name;
  }

private:
  std::set<std::string> used_;
};

/// An argument or result of a kernel as the header shows it.
struct Slot {
  std::string name;  // nabla's name: `h.W`, `grad h.W`
  std::string param; // the wrapper's parameter: `h_W`, `grad_h_W`
  std::string type;  // `f32[H, D]`
  std::string role;  // `param`, `output`, `d loss / d h.W`
  DType dtype;
};

std::vector<Slot> argumentSlots(const Function &f, Namer &namer) {
  std::vector<Slot> out;
  std::set<std::string> names;
  bool jvp = f.name.size() > 4 && f.name.ends_with(".jvp");
  for (ValueId a : f.arguments()) {
    const Inst &inst = f.inst(a);
    std::string name = inst.stringAttr("name");
    std::string role = inst.op == Op::Param ? "param" : "input";
    if (jvp && name.ends_with(".t0") && names.count(name.substr(0, name.size() - 3)))
      role = "direction: the tangent of " + name.substr(0, name.size() - 3);
    else if (name == "seed.ct")
      role = "cotangent of the value: the gradient is a vector-Jacobian product";
    names.insert(name);
    out.push_back({name, namer(name), typeText(inst.type), role, inst.type.dtype});
  }
  return out;
}

std::vector<Slot> resultSlots(const Function &f, Namer &namer) {
  std::string value = f.kind == Function::Kind::Model ? "loss" : "value";
  std::vector<Slot> out;
  out.push_back({value, namer(value), typeText(f.typeOf(f.result)),
                 f.kind == Function::Kind::Model ? "the loss" : "the value",
                 f.typeOf(f.result).dtype});
  for (const NamedValue &o : f.outputs) {
    const Type &t = f.typeOf(o.value);
    switch (o.role) {
    case OutputRole::Output:
      out.push_back({o.name, namer(o.name), typeText(t), "output", t.dtype});
      break;
    case OutputRole::Gradient:
      // With a non-scalar value, reverse mode takes a cotangent `seed.ct`: a VJP.
      out.push_back({"grad " + o.name, namer("grad_" + o.name), typeText(t),
                     fmt::format("{}d {} / d {}", f.argument("seed.ct") ? "seed.ct . " : "", value,
                                 o.name),
                     t.dtype});
      break;
    case OutputRole::Tangent: {
      // forwardMode names the tangent of the value `t0` and that of output OUT `t0.OUT`.
      auto dot = o.name.find('.');
      std::string of = dot == std::string::npos ? value : o.name.substr(dot + 1);
      std::string tag = o.name.substr(0, dot);
      out.push_back({o.name, namer(of + "_" + tag), typeText(t),
                     "the directional derivative of " + of,
                     t.dtype});
      break;
    }
    }
  }
  return out;
}

/// `items` joined by ", ", wrapped before column 100; a wrapped line starts with `continuation`.
std::string wrapList(const std::vector<std::string> &items, std::size_t firstColumn,
                     const std::string &continuation) {
  std::string out;
  std::size_t column = firstColumn;
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::string piece = items[i] + (i + 1 < items.size() ? "," : "");
    if (i > 0) {
      if (column + 1 + piece.size() > 99) {
        out += "\n" + continuation;
        column = continuation.size();
      } else {
        out += " ";
        ++column;
      }
    }
    out += piece;
    column += piece.size();
  }
  return out;
}

/// A comment line ` * text`, wrapped at words before column 100; wrapped lines start with
/// ` * ` and `hang` more spaces. Lines that start with a space (code) are left as they are.
std::string commentLine(const std::string &text, std::size_t hang = 0) {
  if (text.empty())
    return " *\n";
  if (text[0] == ' ' || text.size() + 3 <= 99)
    return " * " + text + "\n";
  std::string out = " *";
  std::size_t column = 2, start = 0;
  bool first = true;
  while (start < text.size()) {
    std::size_t end = text.find(' ', start);
    std::string word = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!first && column + 1 + word.size() > 99) {
      out += "\n *" + std::string(hang, ' ');
      column = 2 + hang;
    }
    out += " " + word;
    column += 1 + word.size();
    first = false;
    start = end == std::string::npos ? text.size() : end + 1;
  }
  return out + "\n";
}

/// A whole comment: `/* text */` on one line when it fits.
std::string comment(const std::string &text) {
  if (text.size() + 6 <= 99)
    return "/* " + text + " */\n";
  return "/" + commentLine(text).substr(1) + " */\n";
}

/// Code continuation: `width` spaces.
std::string indent(std::size_t width) { return std::string(width, ' '); }

void slotLines(std::string &out, const char *array, const std::vector<Slot> &slots) {
  std::size_t nameWidth = 0, typeWidth = 0;
  for (const Slot &s : slots) {
    nameWidth = std::max(nameWidth, s.name.size());
    typeWidth = std::max(typeWidth, s.type.size());
  }
  for (std::size_t i = 0; i < slots.size(); ++i)
    out += fmt::format(" *   {}[{}]  {:<{}}  {:<{}}  {}\n", array, i, slots[i].name, nameWidth,
                       slots[i].type, typeWidth, slots[i].role);
}

void emitKernel(std::string &out, const HeaderKernel &k) {
  const Function &f = *k.function;
  Namer namer;
  std::vector<Slot> args = argumentSlots(f, namer);
  std::vector<Slot> results = resultSlots(f, namer);
  std::vector<std::string> dimParams;
  for (const std::string &d : f.dimParams)
    dimParams.push_back(namer(d));
  std::string workspaceParam = namer("workspace");

  out += "/" + commentLine(k.symbol + ": " + k.summary).substr(1) + " *\n";
  if (args.empty())
    out += " * args: none\n";
  else {
    out += " * args, in order (read only):\n";
    slotLines(out, "args", args);
  }
  out += " * results, in order (written; they must not overlap the arguments or each other):\n";
  slotLines(out, "results", results);
  if (f.dimParams.empty()) {
    out += " * dims: none (dims may be NULL)\n";
  } else {
    std::vector<std::string> entries;
    for (std::size_t i = 0; i < f.dimParams.size(); ++i)
      entries.push_back(fmt::format("dims[{}] = {}", i, f.dimParams[i]));
    out += " * dims: the runtime dimensions, " + wrapList(entries, 34, " *   ") + "\n";
  }
  if (k.workspaceBytes && *k.workspaceBytes == 0)
    out += fmt::format(" * workspace: none ({}_workspace returns 0; workspace may be NULL)\n",
                       k.symbol);
  else if (k.workspaceBytes)
    out += fmt::format(" * workspace: {} bytes ({}_workspace), aligned to 64\n", *k.workspaceBytes,
                       k.symbol);
  else
    out += fmt::format(" * workspace: {}_workspace(dims) bytes, aligned to 64\n", k.symbol);
  std::vector<std::string> callArgs;
  for (const Slot &s : args)
    callArgs.push_back(s.param);
  for (const Slot &s : results)
    callArgs.push_back(s.param);
  for (const std::string &d : dimParams)
    callArgs.push_back(d);
  callArgs.push_back(workspaceParam);
  std::string call = k.symbol + "_call(";
  out += " *\n * typed: " + call +
         wrapList(callArgs, 10 + call.size(), " *" + indent(8 + call.size())) + ")\n";
  out += " */\n";

  std::string kernelHead = "int32_t " + k.symbol + "(";
  out += kernelHead +
         wrapList({"void *const *args", "void *const *results", "const int64_t *dims",
                   "void *workspace);"},
                  kernelHead.size(), indent(kernelHead.size())) +
         "\n";
  out += fmt::format("int64_t {}_workspace(const int64_t *dims, void *const *args);\n\n",
                     k.symbol);

  // The typed wrapper.
  std::vector<std::string> params;
  for (const Slot &s : args)
    params.push_back(fmt::format("const {} *{}", cType(s.dtype), s.param));
  for (const Slot &s : results)
    params.push_back(fmt::format("{} *{}", cType(s.dtype), s.param));
  for (const std::string &d : dimParams)
    params.push_back("int64_t " + d);
  params.push_back("void *" + workspaceParam);
  std::string head = fmt::format("static inline int32_t {}_call(", k.symbol);
  out += head + wrapList(params, head.size(), indent(head.size())) + ") {\n";
  std::vector<std::string> argPointers, resultPointers, dimValues;
  for (const Slot &s : args)
    argPointers.push_back(fmt::format("NABLA_ARG_({})", s.param));
  for (const Slot &s : results)
    resultPointers.push_back(s.param);
  for (const std::string &d : dimParams)
    dimValues.push_back(d);
  if (argPointers.empty())
    argPointers.push_back(workspaceParam + " /* no arguments: never read */");
  if (dimValues.empty())
    dimValues.push_back("0 /* no runtime dimensions: never read */");
  out += "  void *const nabla_args[] = {" + wrapList(argPointers, 31, indent(31)) + "};\n";
  out += "  void *const nabla_results[] = {" + wrapList(resultPointers, 34, indent(34)) + "};\n";
  out += "  const int64_t nabla_dims[] = {" + wrapList(dimValues, 32, indent(32)) + "};\n";
  out += fmt::format("  return {}(nabla_args, nabla_results, nabla_dims, {});\n}}\n\n", k.symbol,
                     workspaceParam);

  std::vector<std::string> dimDecls;
  for (const std::string &d : dimParams)
    dimDecls.push_back("int64_t " + d);
  if (dimDecls.empty())
    dimDecls.push_back("void");
  std::string wsHead = fmt::format("static inline int64_t {}_workspace_bytes(", k.symbol);
  out += wsHead + wrapList(dimDecls, wsHead.size(), indent(wsHead.size())) + ") {\n";
  out += "  const int64_t nabla_dims[] = {" + wrapList(dimValues, 32, indent(32)) + "};\n";
  // The arguments matter only to a differentiated loop whose bounds are arguments (then this
  // returns -1 and the caller passes them to S_workspace itself).
  out += fmt::format("  return {}_workspace(nabla_dims, NULL);\n}}\n\n", k.symbol);
}

} // namespace

std::string cIdentifier(const std::string &text) {
  std::string out;
  for (char c : text)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0])))
    out = "_" + out;
  if (keywords().count(out))
    out += "_";
  return out;
}

const char *cType(DType t) {
  switch (t) {
  case DType::F64:
    return "double";
  case DType::F32:
    return "float";
  case DType::I32:
    return "int32_t";
  case DType::Bool:
    return "uint8_t";
  }
  return "void";
}

std::string emitCHeader(const std::vector<HeaderKernel> &kernels, const HeaderOptions &options) {
  std::string out;
  for (const std::string &line : options.preamble)
    out += commentLine(line);
  if (!out.empty())
    out = "/" + out.substr(1) + " */\n";
  out += fmt::format("#ifndef {0}\n#define {0}\n\n#include <stddef.h>\n#include <stdint.h>\n\n", options.guard);
  out += "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";
  out += "#ifndef NABLA_INDEX_OUT_OF_RANGE\n"
         "/* What a kernel returns when an index argument is out of range (0: success). */\n"
         "#define NABLA_INDEX_OUT_OF_RANGE 1\n"
         "#endif\n\n"
         "/* Arguments are read only; the ABI's pointer array is not const-qualified. */\n"
         "#ifndef NABLA_ARG_\n"
         "#ifdef __cplusplus\n"
         "#define NABLA_ARG_(p) const_cast<void *>(static_cast<const void *>(p))\n"
         "#else\n"
         "#define NABLA_ARG_(p) ((void *)(p))\n"
         "#endif\n"
         "#endif\n\n";
  for (const HeaderKernel &k : kernels)
    emitKernel(out, k);
  for (const std::string &note : options.notes)
    out += comment(note) + "\n";
  out += "#ifdef __cplusplus\n} /* extern \"C\" */\n#endif\n\n";
  out += fmt::format("#endif /* {} */\n", options.guard);
  return out;
}

} // namespace nabla::codegen
