// store_bench: the run store benchmark as its own executable, for builds without LibTorch (and
// so without `fomoe`); the same options as `fomoe bench store`.
#include <iostream>

#include "commands.h"

int main(int argc, char** argv) {
  return fomoe::cli::bench_store_command({argv + 1, argv + argc}, std::cout, std::cerr);
}
