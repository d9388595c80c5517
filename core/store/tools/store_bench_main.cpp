// store_bench: the run store benchmark as its own executable (also `fomoe bench store`).
#include <iostream>
#include <string>
#include <vector>

#include "fomoe/store/runs_cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return fomoe::store_bench_main(args, std::cout);
}
