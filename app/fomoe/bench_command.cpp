#include <iostream>

#include "commands.h"
#include "fomoe/train/bench_moe.h"

namespace fomoe::cli {

int bench_moe_command(const std::vector<std::string>& args, const std::string& self_exe) {
  return bench_moe_main(args, std::cout, std::cerr, self_exe);
}

}  // namespace fomoe::cli
