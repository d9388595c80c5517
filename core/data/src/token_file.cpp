// Packed token file: writer, mmap reader with full validation.
#include "fomoe/data/token_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "data_hash.h"
#include "file_util.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "token files are little-endian and mapped as-is");

namespace fomoe::data {
namespace {

constexpr char kMagic[8] = {'F', 'O', 'M', 'O', 'E', 'T', 'O', 'K'};

// Header layout (64 bytes).
struct Header {
  char magic[8];
  uint32_t version;
  uint32_t token_width;
  uint32_t vocab_size;
  uint32_t n_sources;
  uint64_t n_tokens;
  uint64_t n_docs;
  uint64_t checksum;  // FNV-1a 64 of everything after the header
  uint8_t reserved[16];
};
static_assert(sizeof(Header) == TokenFile::kHeaderBytes, "header is part of the file format");

}  // namespace

Status TokenFile::write(const std::string& path, int vocab_size, uint32_t n_sources, const std::vector<DocEntry>& docs,
                        const std::vector<int32_t>& tokens) {
  const uint32_t width = vocab_size <= 65535 ? 2 : 4;
  std::string body;
  body.reserve(docs.size() * sizeof(DocEntry) + tokens.size() * width);
  body.append(reinterpret_cast<const char*>(docs.data()), docs.size() * sizeof(DocEntry));
  for (int32_t t : tokens) {
    FOMOE_ASSERT(t >= 0 && t < vocab_size, "token outside the vocabulary while writing " + path);
    if (width == 2) {
      uint16_t v = static_cast<uint16_t>(t);
      body.append(reinterpret_cast<const char*>(&v), 2);
    } else {
      uint32_t v = static_cast<uint32_t>(t);
      body.append(reinterpret_cast<const char*>(&v), 4);
    }
  }
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.version = kVersion;
  h.token_width = width;
  h.vocab_size = static_cast<uint32_t>(vocab_size);
  h.n_sources = n_sources;
  h.n_tokens = tokens.size();
  h.n_docs = docs.size();
  h.checksum = detail::fnv1a64(body.data(), body.size());
  std::string bytes(reinterpret_cast<const char*>(&h), sizeof(h));
  bytes += body;
  return detail::write_file_atomic(path, bytes);
}

Expected<TokenFile> TokenFile::open(const std::string& path) {
  auto bad = [&](ErrorCode code, const std::string& why) {
    return make_error(code, "token file " + path + ": " + why + "; delete it to rebuild");
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return bad(e == ENOENT ? ErrorCode::NotFound : ErrorCode::Io, std::string("cannot open: ") + std::strerror(e));
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return bad(ErrorCode::Io, std::string("cannot stat: ") + std::strerror(e));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < kHeaderBytes) {
    ::close(fd);
    return bad(ErrorCode::Corrupt, "truncated: " + std::to_string(size) + " bytes, shorter than the header");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return bad(ErrorCode::Io, std::string("cannot mmap: ") + std::strerror(errno));
  TokenFile f;
  f.path_ = path;
  f.base_ = static_cast<const unsigned char*>(map);
  f.size_ = size;  // from here on f unmaps on every return path

  Header h;
  std::memcpy(&h, f.base_, sizeof(h));
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0) return bad(ErrorCode::Corrupt, "bad magic (not a FoMoE token file)");
  if (h.version != kVersion) {
    return bad(ErrorCode::Unsupported, "format version " + std::to_string(h.version) + ", this build reads " +
                                           std::to_string(kVersion));
  }
  if (h.token_width != 2 && h.token_width != 4) return bad(ErrorCode::Corrupt, "token width " + std::to_string(h.token_width));
  if (h.token_width == 2 && h.vocab_size > 65535) return bad(ErrorCode::Corrupt, "vocab too large for 16-bit tokens");
  // Guard the size arithmetic against absurd counts before multiplying.
  if (h.n_docs > size || h.n_tokens > size) {
    return bad(ErrorCode::Corrupt, "truncated: header promises " + std::to_string(h.n_tokens) + " tokens and " +
                                       std::to_string(h.n_docs) + " documents, file has " + std::to_string(size) +
                                       " bytes");
  }
  const size_t expected = kHeaderBytes + h.n_docs * sizeof(DocEntry) + h.n_tokens * h.token_width;
  if (size != expected) {
    return bad(ErrorCode::Corrupt, std::string(size < expected ? "truncated" : "trailing bytes") + ": " +
                                       std::to_string(size) + " bytes, header says " + std::to_string(expected));
  }
  if (detail::fnv1a64(f.base_ + kHeaderBytes, size - kHeaderBytes) != h.checksum)
    return bad(ErrorCode::Corrupt, "checksum mismatch");
  f.vocab_size_ = static_cast<int>(h.vocab_size);
  f.width_ = static_cast<int>(h.token_width);
  f.n_sources_ = h.n_sources;
  f.n_tokens_ = h.n_tokens;
  f.n_docs_ = h.n_docs;
  f.table_ = f.base_ + kHeaderBytes;
  f.tokens_ = f.table_ + h.n_docs * sizeof(DocEntry);
  for (uint64_t i = 0; i < f.n_docs_; ++i) {
    DocEntry e = f.doc(i);
    if (e.offset > f.n_tokens_ || e.n_tokens > f.n_tokens_ - e.offset || e.source_id >= f.n_sources_)
      return bad(ErrorCode::Corrupt, "document " + std::to_string(i) + " lies outside the token area or sources");
  }
  for (uint64_t i = 0; i < f.n_tokens_; ++i) {
    if (f.token(i) >= f.vocab_size_)
      return bad(ErrorCode::Corrupt, "token " + std::to_string(i) + " is outside the vocabulary");
  }
  return Expected<TokenFile>(std::move(f));
}

TokenFile::~TokenFile() { unmap(); }

TokenFile::TokenFile(TokenFile&& o) noexcept { *this = std::move(o); }

TokenFile& TokenFile::operator=(TokenFile&& o) noexcept {
  if (this != &o) {
    unmap();
    path_ = std::move(o.path_);
    base_ = o.base_;
    size_ = o.size_;
    vocab_size_ = o.vocab_size_;
    width_ = o.width_;
    n_sources_ = o.n_sources_;
    n_tokens_ = o.n_tokens_;
    n_docs_ = o.n_docs_;
    table_ = o.table_;
    tokens_ = o.tokens_;
    o.base_ = nullptr;
    o.size_ = 0;
    o.table_ = o.tokens_ = nullptr;
    o.n_tokens_ = o.n_docs_ = 0;
  }
  return *this;
}

void TokenFile::unmap() {
  if (base_) ::munmap(const_cast<unsigned char*>(base_), size_);
  base_ = nullptr;
  size_ = 0;
}

DocEntry TokenFile::doc(uint64_t i) const {
  FOMOE_ASSERT(i < n_docs_, "document index out of range");
  DocEntry e;
  std::memcpy(&e, table_ + i * sizeof(DocEntry), sizeof(DocEntry));
  return e;
}

int32_t TokenFile::token(uint64_t i) const {
  if (width_ == 2) {
    uint16_t v;
    std::memcpy(&v, tokens_ + i * 2, 2);
    return v;
  }
  uint32_t v;
  std::memcpy(&v, tokens_ + i * 4, 4);
  return static_cast<int32_t>(v);
}

void TokenFile::append_doc(uint64_t i, std::vector<int32_t>& out) const {
  DocEntry e = doc(i);
  out.reserve(out.size() + e.n_tokens);
  for (uint64_t k = 0; k < e.n_tokens; ++k) out.push_back(token(e.offset + k));
}

std::vector<int32_t> TokenFile::doc_tokens(uint64_t i) const {
  std::vector<int32_t> out;
  append_doc(i, out);
  return out;
}

}  // namespace fomoe::data
