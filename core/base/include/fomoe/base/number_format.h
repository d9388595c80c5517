// Numbers written for people and for other programs: the shortest decimal that reads back to
// the same double (0.05, not 0.050000000000000003), as std::to_chars guarantees.
#pragma once

#include <charconv>
#include <cmath>
#include <string>

namespace fomoe {

inline std::string shortest_number(double v) {
  if (std::isnan(v)) return "nan";
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace fomoe
