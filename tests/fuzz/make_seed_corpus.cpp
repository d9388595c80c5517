// Writes the decoder fuzzer's seed corpus: one valid message of every type (with tensors where
// the type carries them) and a few near-misses, in the fuzz_frames.h format.
// Usage: make_seed_corpus OUT_DIR
#include <cstdio>
#include <fstream>
#include <string>

#include "fomoe/net/entropy_coding.h"
#include "fuzz_frames.h"
#include "net_test_util.h"

using namespace fomoe::net;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  int n = 0;
  auto write = [&](const std::string& name, const std::vector<std::string>& frames) {
    std::ofstream(dir + "/" + name, std::ios::binary) << fuzz::join_frames(frames);
    ++n;
  };
  for (MsgType type : all_msg_types()) {
    auto frames = encode(testing::sample_message(type));
    if (!frames) {
      std::fprintf(stderr, "cannot encode %s: %s\n", msg_type_name(type), frames.error().message.c_str());
      return 1;
    }
    write(std::string("valid_") + msg_type_name(type), *frames);
    auto bad = *frames;
    bad[1] = "{}";
    write(std::string("nometa_") + msg_type_name(type), bad);
    if (frames->size() > 2) {
      bad = *frames;
      bad.pop_back();
      write(std::string("unpaired_") + msg_type_name(type), bad);
      // The same with zstd-coded data frames (bit 7 of the dtype byte), one surely compressible.
      Message coded = testing::sample_message(type);
      coded.tensors.push_back(make_tensor("zeros", DType::F32, {1024}, std::string(4096, '\0').data()));
      entropy_code(coded);
      auto coded_frames = encode(std::move(coded));
      if (coded_frames) write(std::string("zstd_") + msg_type_name(type), *coded_frames);
    }
  }
  std::printf("wrote %d seed inputs to %s\n", n, dir.c_str());
  return 0;
}
