// SPDX-License-Identifier: MIT
#include "sweep/files.hpp"

namespace srr::sweep {

const fs::path& with_parents(const fs::path& path) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  return path;
}

std::string relative_to(const fs::path& path, const fs::path& base) {
  std::error_code ec;
  const fs::path p = fs::weakly_canonical(fs::absolute(path), ec);
  const fs::path b = fs::weakly_canonical(fs::absolute(base), ec);
  if (ec) return path.string();
  const fs::path rel = p.lexically_relative(b);
  if (rel.empty() || *rel.begin() == "..") return path.string();
  return rel.string();
}

}  // namespace srr::sweep
