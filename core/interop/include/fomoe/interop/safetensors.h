// safetensors files (Hugging Face's tensor format): an 8-byte little-endian header length N, N
// bytes of JSON naming each tensor's dtype, shape and [begin, end) byte range of the data that
// follows, then the data, row-major and little-endian. Torch-free: tensors are bytes here.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"

namespace fomoe::interop {

/// One tensor to write: a view of bytes someone else owns until write_safetensors returns.
struct TensorBytes {
  std::string name;
  std::string dtype;  // "F32", "BF16", "F16", "I64", ...
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t bytes = 0;  // must equal numel(shape) * dtype_size(dtype)
};

/// Bytes per element of a safetensors dtype name; 0 for a name it does not know.
size_t dtype_size(const std::string& dtype);

/// Writes the tensors in the given order, the header padded with spaces to a multiple of 8 so
/// the data can be mapped aligned, to path + ".tmp" and renamed over path. `metadata` is written
/// as "__metadata__" (transformers 4.x wants {"format": "pt"}).
Status write_safetensors(const std::string& path, const std::vector<TensorBytes>& tensors,
                         const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

struct SafetensorsEntry {
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // relative to the data section
};

/// A validated safetensors file: the header is parsed and checked (sizes, dtypes, shapes match
/// their byte ranges, ranges tile the data with no gap or overlap, nothing past the end of the
/// file); tensors are read on demand.
class SafetensorsFile {
 public:
  /// Errors (Corrupt) name the file and the byte or tensor at fault; NotFound for a missing file.
  static Expected<SafetensorsFile> open(const std::string& path);

  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }
  /// The raw little-endian bytes of one tensor.
  Expected<std::vector<char>> read(const std::string& name) const;

 private:
  std::string path_;
  uint64_t data_start_ = 0;
  std::map<std::string, SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace fomoe::interop
