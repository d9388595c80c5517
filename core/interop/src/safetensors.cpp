#include "fomoe/interop/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace fomoe::interop {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference reader's limit (100 MB)

uint64_t numel(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

Error corrupt(const std::string& path, const std::string& what) {
  return Error{ErrorCode::Corrupt, path + ": not a valid safetensors file: " + what};
}

}  // namespace

size_t dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}

Status write_safetensors(const std::string& path, const std::vector<TensorBytes>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  // nlohmann's default object sorts keys; the data follows the given order through offsets.
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    const size_t es = dtype_size(t.dtype);
    if (es == 0) return make_error(ErrorCode::InvalidArgument, "tensor " + t.name + ": unknown dtype " + t.dtype);
    if (numel(t.shape) * es != t.bytes)
      return make_error(ErrorCode::InvalidArgument, "tensor " + t.name + ": " + std::to_string(t.bytes) +
                                                        " bytes do not match its shape and dtype");
    if (header.contains(t.name)) return make_error(ErrorCode::InvalidArgument, "tensor " + t.name + " named twice");
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return make_error(ErrorCode::Io, "cannot write " + tmp + ": " + std::strerror(errno));
    uint64_t n = text.size();
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(le), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : tensors) out.write(static_cast<const char*>(t.data), static_cast<std::streamsize>(t.bytes));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return make_error(ErrorCode::Io, "cannot write " + tmp + " (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return make_error(ErrorCode::Io, "cannot rename " + tmp + " to " + path + ": " + ec.message());
  return {};
}

Expected<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return make_error(ErrorCode::NotFound, path + " does not exist");
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) return make_error(ErrorCode::Io, "cannot stat " + path + ": " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::Io, "cannot read " + path);
  if (file_size < 8) return corrupt(path, "only " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
  unsigned char le[8];
  in.read(reinterpret_cast<char*>(le), 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(le[i]) << (8 * i);
  if (n > kMaxHeaderBytes || n > file_size - 8)
    return corrupt(path, "header length " + std::to_string(n) + " at byte 0 exceeds the file (" + std::to_string(file_size) + " bytes)");
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  if (!in) return corrupt(path, "header truncated");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return corrupt(path, "header JSON at byte " + std::to_string(8 + e.byte) + ": " + e.what());
  }
  if (!header.is_object()) return corrupt(path, "header is not a JSON object");
  SafetensorsFile f;
  f.path_ = path;
  f.data_start_ = 8 + n;
  const uint64_t data_bytes = file_size - f.data_start_;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return corrupt(path, "__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) return corrupt(path, "__metadata__." + m.key() + " is not a string");
        f.metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const auto& v = *it;
    const std::string where = "tensor " + it.key();
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets") ||
        !v["dtype"].is_string() || !v["shape"].is_array() || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      return corrupt(path, where + " lacks dtype, shape or data_offsets");
    SafetensorsEntry e;
    e.dtype = v["dtype"].get<std::string>();
    const size_t es = dtype_size(e.dtype);
    if (es == 0) return corrupt(path, where + ": unknown dtype " + e.dtype);
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) return corrupt(path, where + ": shape holds a non-natural number");
      e.shape.push_back(d.get<int64_t>());
    }
    if (!v["data_offsets"][0].is_number_unsigned() || !v["data_offsets"][1].is_number_unsigned())
      return corrupt(path, where + ": data_offsets are not natural numbers");
    e.begin = v["data_offsets"][0].get<uint64_t>();
    e.end = v["data_offsets"][1].get<uint64_t>();
    if (e.end < e.begin || e.end > data_bytes)
      return corrupt(path, where + ": bytes [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                               ") lie outside the data section (" + std::to_string(data_bytes) + " bytes)");
    if (e.end - e.begin != numel(e.shape) * es)
      return corrupt(path, where + ": " + std::to_string(e.end - e.begin) + " bytes do not hold shape and dtype " + e.dtype);
    ranges.emplace_back(e.begin, e.end);
    f.entries_[it.key()] = std::move(e);
  }
  std::sort(ranges.begin(), ranges.end());
  uint64_t expect = 0;
  for (const auto& [b, e] : ranges) {
    if (b != expect) return corrupt(path, "tensor data " + std::string(b < expect ? "overlaps" : "leaves a gap") +
                                              " at data byte " + std::to_string(std::min(b, expect)));
    expect = e;
  }
  if (expect != data_bytes)
    return corrupt(path, std::to_string(data_bytes - expect) + " bytes after the last tensor (truncated or padded data)");
  return f;
}

Expected<std::vector<char>> SafetensorsFile::read(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return make_error(ErrorCode::NotFound, path_ + " has no tensor " + name);
  std::vector<char> out(it->second.end - it->second.begin);
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::Io, "cannot open " + path_ + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t r = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(data_start_ + it->second.begin + done));
    if (r <= 0) {
      ::close(fd);
      return make_error(ErrorCode::Io, "cannot read tensor " + name + " from " + path_);
    }
    done += static_cast<size_t>(r);
  }
  ::close(fd);
  return out;
}

}  // namespace fomoe::interop
