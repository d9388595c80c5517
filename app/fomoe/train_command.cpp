#include <iostream>

#include "commands.h"

namespace fomoe::cli {

int train_command(const std::vector<std::string>& args) {
  std::cerr << "fomoe train: not wired yet\n";
  return 1;
}

}  // namespace fomoe::cli
