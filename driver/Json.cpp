// JSON input and output of tensors.
#include "driver/Json.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace nabla {

namespace {

// Non-finite numbers travel through nlohmann::json as these strings; the text form uses the
// bare tokens that JavaScript and Python's json module read and write.
constexpr const char *kNaN = "\x01NaN";
constexpr const char *kInf = "\x01Infinity";
constexpr const char *kNegInf = "\x01-Infinity";

/// Quotes bare NaN / Infinity / -Infinity tokens outside strings so that the JSON parser accepts
/// them as (marker) strings.
std::string quoteNonFinite(const std::string &text) {
  std::string out;
  out.reserve(text.size());
  bool inString = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      out += c;
      if (c == '\\' && i + 1 < text.size())
        out += text[++i];
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
      out += c;
      continue;
    }
    auto startsWith = [&](std::string_view token) { return text.compare(i, token.size(), token) == 0; };
    if (startsWith("NaN")) {
      out += R"("\u0001NaN")";
      i += 2;
    } else if (startsWith("-Infinity")) {
      out += R"("\u0001-Infinity")";
      i += 8;
    } else if (startsWith("Infinity")) {
      out += R"("\u0001Infinity")";
      i += 7;
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<double> numberOf(const Json &v) {
  if (v.is_number())
    return v.get<double>();
  if (v.is_string()) {
    const auto &s = v.get_ref<const std::string &>();
    if (s == kNaN)
      return std::numeric_limits<double>::quiet_NaN();
    if (s == kInf)
      return std::numeric_limits<double>::infinity();
    if (s == kNegInf)
      return -std::numeric_limits<double>::infinity();
  }
  return std::nullopt;
}

bool isNumberLike(const Json &v) { return numberOf(v).has_value(); }

std::string concreteTypeStr(DType t, const std::vector<std::int64_t> &shape) {
  Tensor probe;
  probe.dtype = t;
  probe.shape = shape;
  return probe.typeStr();
}

} // namespace

Expected<Json> parseJson(const std::string &text, const std::string &sourceName) {
  try {
    return Json::parse(quoteNonFinite(text));
  } catch (const Json::parse_error &e) {
    // nlohmann reports a byte offset; turn it into line and column.
    SourceFile file(sourceName, text);
    std::size_t at = e.byte > 0 ? e.byte - 1 : 0;
    std::string what = e.what();
    auto pos = what.find("parse error");
    return makeDiagnostic(file, SourceRange{at, at + 1},
                          "invalid JSON: " + (pos == std::string::npos ? what : what.substr(pos)));
  }
}

Json jsonNumber(double v, DType dtype) {
  if (std::isnan(v))
    return kNaN;
  if (std::isinf(v))
    return v > 0 ? kInf : kNegInf;
  if (dtype == DType::F32) // the double nearest float's shortest decimal prints as that decimal
    return std::stod(fmt::format("{}", static_cast<float>(v)));
  return v;
}

std::string dumpJson(const Json &value, int indent) {
  std::string text = value.dump(indent);
  for (auto [marker, token] : {std::pair{kNaN, "NaN"}, {kNegInf, "-Infinity"}, {kInf, "Infinity"}}) {
    // Markers are dumped as JSON strings with \u0001 escaped.
    std::string quoted = Json(marker).dump();
    for (std::size_t at = text.find(quoted); at != std::string::npos;
         at = text.find(quoted, at + 1))
      text.replace(at, quoted.size(), token);
  }
  return text;
}

Json tensorToJson(const Tensor &t) {
  auto value = [&](std::size_t i) {
    double v = t.data[i];
    if (t.dtype == DType::I32 || t.dtype == DType::Bool)
      return Json(static_cast<std::int64_t>(v));
    return jsonNumber(v, t.dtype);
  };
  if (t.shape.empty())
    return value(0);
  // Build nested arrays dimension by dimension, innermost first.
  std::vector<Json> level;
  for (std::size_t i = 0; i < t.data.size(); ++i)
    level.push_back(value(i));
  for (std::size_t d = t.shape.size(); d-- > 0;) {
    auto extent = static_cast<std::size_t>(t.shape[d]);
    std::vector<Json> next;
    if (extent == 0) {
      std::size_t outer = 1;
      for (std::size_t k = 0; k < d; ++k)
        outer *= static_cast<std::size_t>(t.shape[k]);
      next.assign(outer, Json::array());
    } else {
      for (std::size_t i = 0; i < level.size(); i += extent)
        next.push_back(Json(std::vector<Json>(level.begin() + static_cast<std::ptrdiff_t>(i),
                                              level.begin() + static_cast<std::ptrdiff_t>(i + extent))));
    }
    level = std::move(next);
  }
  return level.empty() ? Json::array() : level[0];
}

Expected<Tensor> tensorFromJson(const Json &value, DType dtype) {
  // The shape is read along the first entries; every sub-array must then agree with it.
  std::vector<std::int64_t> shape;
  const Json *probe = &value;
  while (probe->is_array()) {
    shape.push_back(static_cast<std::int64_t>(probe->size()));
    if (probe->empty())
      break;
    probe = &(*probe)[0];
  }
  Tensor t(dtype, shape);
  std::size_t next = 0;
  std::string error;
  std::function<bool(const Json &, std::size_t)> walk = [&](const Json &v, std::size_t depth) {
    if (depth == shape.size()) {
      auto n = numberOf(v);
      if (!n) {
        error = fmt::format("expected a number, got {}", v.dump());
        return false;
      }
      if (dtype == DType::I32 && (*n != std::floor(*n) || std::fabs(*n) > 2147483647.0)) {
        error = fmt::format("expected an integer (i32), got {}", v.dump());
        return false;
      }
      t.data[next++] = roundTo(dtype, *n);
      return true;
    }
    if (!v.is_array() || static_cast<std::int64_t>(v.size()) != shape[depth]) {
      error = "not a rectangular array (rows of different lengths or mixed nesting)";
      return false;
    }
    for (const Json &item : v)
      if (!walk(item, depth + 1))
        return false;
    return true;
  };
  if (!walk(value, 0))
    return makeDiagnostic(error);
  return t;
}

Expected<std::map<std::string, Json>> parseAssignments(const std::string &text) {
  std::map<std::string, Json> out;
  SourceFile file("--at", text);
  std::size_t i = 0;
  auto skipSpace = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
  };
  while (true) {
    skipSpace();
    if (i >= text.size())
      break;
    std::size_t nameBegin = i;
    while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) ||
                               text[i] == '_' || text[i] == '.'))
      ++i;
    std::string name = text.substr(nameBegin, i - nameBegin);
    skipSpace();
    if (name.empty() || i >= text.size() || text[i] != '=')
      return makeDiagnostic(file, SourceRange{i, i + 1},
                            "expected NAME=VALUE, e.g. --at 'x=1,y=2'");
    ++i;
    // The value runs to the next comma outside brackets.
    std::size_t valueBegin = i;
    int depth = 0;
    while (i < text.size() && !(depth == 0 && text[i] == ',')) {
      if (text[i] == '[')
        ++depth;
      if (text[i] == ']')
        --depth;
      ++i;
    }
    std::string valueText = text.substr(valueBegin, i - valueBegin);
    auto value = parseJson(valueText, "--at");
    if (!value || !(value->is_array() || isNumberLike(*value)))
      return makeDiagnostic(file, SourceRange{valueBegin, i},
                            fmt::format("expected a number or an array for '{}'", name));
    if (out.count(name))
      return makeDiagnostic(file, SourceRange{nameBegin, nameBegin + name.size()},
                            fmt::format("'{}' is given twice", name));
    out[name] = *value;
    if (i < text.size())
      ++i; // the comma
  }
  return out;
}

Expected<std::vector<Tensor>> collectArguments(const Function &f,
                                               const std::map<std::string, Json> &values,
                                               const std::string &origin,
                                               const std::map<std::string, std::int64_t> &dims) {
  std::vector<Tensor> args;
  std::vector<std::string> names;
  for (ValueId v : f.arguments()) {
    const Inst &arg = f.inst(v);
    const std::string &name = arg.stringAttr("name");
    names.push_back(name);
    auto it = values.find(name);
    const char *role = arg.op == Op::Param ? "param" : "input";
    if (it == values.end())
      return makeDiagnostic(fmt::format("{}: missing {} '{}' of type {} for '{}'", origin, role,
                                        name, arg.type.str(), f.name));
    auto t = tensorFromJson(it->second, arg.type.dtype);
    if (!t)
      return makeDiagnostic(
          fmt::format("{}: entry '{}': {}", origin, name, t.error().list.front().message));
    Tensor &tensor = *t;
    auto want = concreteShape(arg.type.shape, dims);
    if (tensor.rank() != arg.type.rank() || (want && *want != tensor.shape))
      return makeDiagnostic(fmt::format(
          "{}: entry '{}' has shape {}, but '{}' expects {}", origin, name,
          concreteTypeStr(arg.type.dtype, tensor.shape), f.name,
          want ? concreteTypeStr(arg.type.dtype, *want) : arg.type.str()));
    args.push_back(std::move(tensor));
  }
  for (const auto &[name, value] : values)
    if (std::find(names.begin(), names.end(), name) == names.end())
      return makeDiagnostic(fmt::format("{}: '{}' has no input or param named '{}'", origin,
                                        f.name, name));
  return args;
}

std::string formatNumber(double v, DType dtype) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0)
    return "0"; // also for -0
  if (dtype == DType::F32)
    return fmt::format("{}", static_cast<float>(v));
  return fmt::format("{}", v);
}

std::string formatTensor(const Tensor &t) {
  auto value = [&](std::size_t i) { return formatNumber(t.data[i], t.dtype); };
  if (t.shape.empty())
    return value(0);
  std::string out;
  auto strides = t.strides();
  std::function<void(std::size_t, std::size_t)> emit = [&](std::size_t depth, std::size_t base) {
    out += '[';
    for (std::int64_t i = 0; i < t.shape[depth]; ++i) {
      if (i)
        out += ", ";
      std::size_t at = base + static_cast<std::size_t>(i * strides[depth]);
      if (depth + 1 == t.shape.size())
        out += value(at);
      else
        emit(depth + 1, at);
    }
    out += ']';
  };
  emit(0, 0);
  return out;
}

} // namespace nabla
