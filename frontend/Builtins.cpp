// The table of built-ins assembled from its two halves (BuiltinsMath.cpp, BuiltinsArray.cpp), and
// the lookups that Sema, the infix printer and the tests make in it.
#include "frontend/Builtins.h"

#include "frontend/SemaImpl.h"

#include <algorithm>
#include <map>

namespace nabla {

namespace {

struct Index {
  std::vector<Builtin> rows;
  std::map<std::string_view, std::vector<const Builtin *>, std::less<>> byName;
  std::map<Op, const Builtin *> byOp;
};

bool isElementwiseGroup(BuiltinGroup g) {
  return g == BuiltinGroup::ElementwiseMath || g == BuiltinGroup::Activation;
}

const Index &index() {
  static const Index idx = [] {
    Index i;
    i.rows = sema::mathBuiltins();
    std::vector<Builtin> more = sema::arrayBuiltins();
    i.rows.insert(i.rows.end(), std::make_move_iterator(more.begin()),
                  std::make_move_iterator(more.end()));
    for (const Builtin &b : i.rows) {
      i.byName[b.name].push_back(&b);
      if (b.op && isElementwiseGroup(b.group))
        i.byOp.emplace(*b.op, &b); // the first row for an op keeps it
    }
    return i;
  }();
  return idx;
}

} // namespace

std::span<const Builtin> builtinTable() { return index().rows; }

std::span<const Builtin *const> findBuiltins(std::string_view name) {
  const auto &byName = index().byName;
  auto it = byName.find(name);
  if (it == byName.end())
    return {};
  return it->second;
}

const Builtin *builtinForOp(Op op) {
  const auto &byOp = index().byOp;
  auto it = byOp.find(op);
  return it == byOp.end() ? nullptr : it->second;
}

bool usableAsActivation(const Builtin &b) {
  if (!isElementwiseGroup(b.group) || b.variadic || b.exactArity || b.args.empty())
    return false;
  if (b.args[0].kind != ArgKind::Tensor || !b.args[0].required)
    return false;
  return std::all_of(b.args.begin() + 1, b.args.end(),
                     [](const ArgSpec &a) { return !a.required && a.defaultValue; });
}

std::vector<std::string> builtinFunctionNames() {
  std::vector<std::string> names;
  for (const Builtin &b : builtinTable())
    if (b.group != BuiltinGroup::Constant &&
        std::find(names.begin(), names.end(), b.name) == names.end())
      names.emplace_back(b.name);
  return names;
}

std::string describeArg(const ArgSpec &arg) {
  if (!arg.what.empty())
    return std::string(arg.what);
  return "'" + std::string(arg.name) + "'";
}

namespace {

/// The optimal string alignment distance: edits, deletions, insertions and swaps of neighbours.
std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

} // namespace

std::optional<std::string> nearestName(std::string_view name,
                                       const std::vector<std::string> &candidates) {
  std::size_t limit = name.size() / 3; // names of one or two letters are not guessed at
  std::optional<std::string> best;
  std::size_t bestDistance = limit + 1;
  for (const std::string &c : candidates) {
    if (c == name)
      continue;
    std::size_t d = editDistance(name, c);
    if (d < bestDistance) { // the first of equally near candidates wins: table order
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

bool isBuiltinName(const std::string &name) { return !findBuiltins(name).empty(); }

} // namespace nabla
