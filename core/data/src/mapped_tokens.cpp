// Readers of other stacks' token files (format facts: ../shared/INTEROP.md): mmap, validate
// every header field and index entry against the file sizes, then read tokens in place.
#include "fomoe/data/mapped_tokens.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "token files are little-endian and mapped as-is");

namespace fomoe::data {

namespace {

constexpr char kMegatronMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};
constexpr size_t kMegatronHeader = 9 + 8 + 1 + 8 + 8;
constexpr int32_t kLlmcMagic16 = 20240520, kLlmcMagic32 = 20240801;
constexpr size_t kLlmcHeader = 256 * sizeof(int32_t);
constexpr uint64_t kBoundaryScan = 1u << 20;  // tokens scanned for a document boundary

Error bad(const std::string& path, const std::string& what) {
  return make_error(ErrorCode::InvalidArgument, path + ": " + what);
}

std::string human(double b) {
  const char* u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (b >= 1024 && i < 4) b /= 1024, ++i;
  char buf[32];
  std::snprintf(buf, sizeof buf, i == 0 ? "%.0f %s" : "%.1f %s", b, u[i]);
  return buf;
}

struct Mapping {
  const unsigned char* base = nullptr;
  size_t size = 0;
};

/// Maps a whole file read-only. Empty files map to {nullptr, 0}. keep_fd: the descriptor stays
/// open (returned in fd) for positioned reads.
Expected<Mapping> map_file(const std::string& path, int* keep_fd = nullptr) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    return make_error(e == ENOENT ? ErrorCode::NotFound : ErrorCode::Io,
                      path + ": cannot open (" + std::strerror(e) + ")");
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(ErrorCode::Io, path + ": not a regular file");
  }
  Mapping m;
  m.size = static_cast<size_t>(st.st_size);
  if (m.size > 0) {
    void* p = mmap(nullptr, m.size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      return make_error(ErrorCode::Io, path + ": cannot map (" + std::strerror(e) + ")");
    }
    madvise(p, m.size, MADV_RANDOM);  // windows are sampled at random: no readahead into RSS
    m.base = static_cast<const unsigned char*>(p);
  }
  if (keep_fd) *keep_fd = fd;
  else ::close(fd);
  return m;
}

template <typename T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::string strip_suffix(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0
             ? s.substr(0, s.size() - suffix.size())
             : s;
}

const char* width_name(int width, bool is_signed) {
  switch (width) {
    case 1: return is_signed ? "int8" : "uint8";
    case 2: return is_signed ? "int16" : "uint16";
    case 4: return is_signed ? "int32" : "uint32";
    default: return "int64";
  }
}

}  // namespace

const char* token_format_name(TokenFormat f) {
  switch (f) {
    case TokenFormat::Megatron: return "megatron";
    case TokenFormat::Flat: return "tokens";
    case TokenFormat::Llmc: return "llmc";
  }
  return "?";
}

MappedTokens::~MappedTokens() {
  if (base_) munmap(const_cast<unsigned char*>(base_), size_);
  if (fd_ >= 0) ::close(fd_);
}

Expected<std::shared_ptr<const MappedTokens>> MappedTokens::open(const TokenSourceSpec& spec) {
  std::shared_ptr<MappedTokens> t(new MappedTokens());
  t->spec_ = spec;
  if (spec.path.empty()) return make_error(ErrorCode::InvalidArgument, "data.path is empty: name the token file");

  if (spec.format == TokenFormat::Megatron) {
    const std::string prefix = strip_suffix(strip_suffix(spec.path, ".bin"), ".idx");
    const std::string idx_path = prefix + ".idx";
    t->token_path_ = prefix + ".bin";
    auto idx = map_file(idx_path);
    if (!idx) return idx.error();
    struct Unmap {
      Mapping m;
      ~Unmap() {
        if (m.base) munmap(const_cast<unsigned char*>(m.base), m.size);
      }
    } idx_guard{*idx};
    const unsigned char* p = idx->base;
    if (idx->size < kMegatronHeader)
      return bad(idx_path, "truncated Megatron index: " + std::to_string(idx->size) + " bytes, the header alone is " +
                               std::to_string(kMegatronHeader));
    if (std::memcmp(p, kMegatronMagic, 9) != 0)
      return bad(idx_path, "not a Megatron indexed dataset: bytes 0..8 are not \"MMIDIDX\\0\\0\"");
    const uint64_t version = load<uint64_t>(p + 9);
    if (version != 1) return bad(idx_path, "Megatron index version " + std::to_string(version) + " at byte 9; this reader knows version 1");
    const uint8_t code = p[17];
    switch (code) {
      case 1: t->width_ = 1; break;
      case 2: t->width_ = 1; t->is_signed_ = true; break;
      case 3: t->width_ = 2; t->is_signed_ = true; break;
      case 4: t->width_ = 4; t->is_signed_ = true; break;
      case 5: t->width_ = 8; t->is_signed_ = true; break;
      case 8: t->width_ = 2; break;
      case 6:
      case 7: return bad(idx_path, "dtype code " + std::to_string(code) + " at byte 17 is a float type, not token ids");
      default: return bad(idx_path, "unknown dtype code " + std::to_string(code) + " at byte 17 (known: 1-5, 8)");
    }
    const uint64_t n_seq = load<uint64_t>(p + 18), n_doc_entries = load<uint64_t>(p + 26);
    const unsigned __int128 want = static_cast<unsigned __int128>(kMegatronHeader) + 12 * static_cast<unsigned __int128>(n_seq) +
                                   8 * static_cast<unsigned __int128>(n_doc_entries);
    if (want != idx->size)
      return bad(idx_path, "truncated or corrupt Megatron index: " + std::to_string(n_seq) + " sequences and " +
                               std::to_string(n_doc_entries) + " document-index entries (bytes 18..33) need " +
                               std::to_string(static_cast<unsigned long long>(want)) + " bytes, the file has " +
                               std::to_string(idx->size));
    if (n_doc_entries < 1) return bad(idx_path, "the document index (byte 26) has no entries; it starts with 0");
    auto bin = map_file(t->token_path_, &t->fd_);
    if (!bin) return bin.error();
    t->base_ = bin->base;
    t->size_ = bin->size;
    t->tokens_ = bin->base;
    const unsigned char* lengths = p + kMegatronHeader;
    const unsigned char* pointers = lengths + 4 * n_seq;
    const unsigned char* docs = pointers + 8 * n_seq;
    // Sequences must tile the .bin from byte 0 (Megatron's writer does), so token offsets are
    // pointers / width and a range of documents is a range of the .bin.
    uint64_t expect = 0;
    std::vector<uint64_t> seq_start(n_seq + 1, 0);
    for (uint64_t i = 0; i < n_seq; ++i) {
      const int32_t len = load<int32_t>(lengths + 4 * i);
      const int64_t ptr = load<int64_t>(pointers + 8 * i);
      if (len < 0) return bad(idx_path, "sequence " + std::to_string(i) + " has length " + std::to_string(len) +
                                            " (byte " + std::to_string(kMegatronHeader + 4 * i) + ")");
      if (ptr < 0 || static_cast<uint64_t>(ptr) != expect)
        return bad(idx_path, "sequence " + std::to_string(i) + " starts at .bin byte " + std::to_string(ptr) + " (index byte " +
                                 std::to_string(kMegatronHeader + 4 * n_seq + 8 * i) + "), expected " + std::to_string(expect) +
                                 ": sequences do not tile the .bin");
      seq_start[i] = expect / static_cast<uint64_t>(t->width_);
      expect += static_cast<uint64_t>(len) * static_cast<uint64_t>(t->width_);
    }
    seq_start[n_seq] = expect / static_cast<uint64_t>(t->width_);
    if (expect > bin->size)
      return bad(t->token_path_, "truncated: the index describes " + std::to_string(expect) + " bytes of tokens, the file has " +
                                     std::to_string(bin->size) + " (the first missing byte is at offset " +
                                     std::to_string(bin->size) + ")");
    if (expect < bin->size)
      return bad(t->token_path_, "has " + std::to_string(bin->size - expect) + " bytes after the last sequence (offset " +
                                     std::to_string(expect) + "): it does not belong to " + idx_path);
    t->n_tokens_ = expect / static_cast<uint64_t>(t->width_);
    uint64_t prev = 0;
    for (uint64_t j = 0; j < n_doc_entries; ++j) {
      const int64_t d = load<int64_t>(docs + 8 * j);
      const uint64_t at = kMegatronHeader + 12 * n_seq + 8 * j;
      if (j == 0 && d != 0) return bad(idx_path, "the document index starts with " + std::to_string(d) + ", not 0 (byte " + std::to_string(at) + ")");
      if (d < 0 || static_cast<uint64_t>(d) < prev || static_cast<uint64_t>(d) > n_seq)
        return bad(idx_path, "document-index entry " + std::to_string(j) + " is " + std::to_string(d) + " (byte " +
                                 std::to_string(at) + "); entries rise from 0 to the " + std::to_string(n_seq) + " sequences");
      prev = static_cast<uint64_t>(d);
      if (j + 1 < n_doc_entries) t->doc_starts_.push_back(seq_start[static_cast<size_t>(d)]);
    }
    t->n_docs_ = static_cast<int64_t>(n_doc_entries) - 1;
  } else if (spec.format == TokenFormat::Flat) {
    if (spec.flat_width != 2 && spec.flat_width != 4)
      return make_error(ErrorCode::InvalidArgument, "data.token_dtype: flat token files are uint16 or uint32");
    t->token_path_ = spec.path;
    auto m = map_file(spec.path, &t->fd_);
    if (!m) return m.error();
    t->base_ = m->base;
    t->size_ = m->size;
    t->tokens_ = m->base;
    t->width_ = spec.flat_width;
    if (m->size % static_cast<size_t>(t->width_) != 0)
      return bad(spec.path, std::to_string(m->size) + " bytes is not a whole number of " + width_name(t->width_, false) +
                                " tokens (the last " + std::to_string(m->size % static_cast<size_t>(t->width_)) +
                                " bytes at offset " + std::to_string(m->size - m->size % static_cast<size_t>(t->width_)) +
                                " are a partial token): truncated, or data.token_dtype is wrong");
    t->n_tokens_ = m->size / static_cast<size_t>(t->width_);
  } else {
    t->token_path_ = spec.path;
    auto m = map_file(spec.path, &t->fd_);
    if (!m) return m.error();
    t->base_ = m->base;
    t->size_ = m->size;
    if (m->size < kLlmcHeader)
      return bad(spec.path, "truncated llm.c shard: " + std::to_string(m->size) + " bytes, the header alone is 1024");
    const int32_t magic = load<int32_t>(m->base), version = load<int32_t>(m->base + 4);
    if (magic == kLlmcMagic16 && version == 1) t->width_ = 2;
    else if (magic == kLlmcMagic32 && version == 7) t->width_ = 4;
    else if (magic == kLlmcMagic16 || magic == kLlmcMagic32)
      return bad(spec.path, "llm.c shard magic " + std::to_string(magic) + " with version " + std::to_string(version) +
                                " at byte 4 (known: 20240520 v1 uint16, 20240801 v7 uint32)");
    else return bad(spec.path, "not an llm.c shard: magic " + std::to_string(magic) + " at byte 0 (known: 20240520, 20240801)");
    const int32_t count = load<int32_t>(m->base + 8);
    const uint64_t need = kLlmcHeader + static_cast<uint64_t>(std::max(0, count)) * static_cast<uint64_t>(t->width_);
    if (count < 0 || need > m->size)
      return bad(spec.path, "truncated llm.c shard: the header (byte 8) says " + std::to_string(count) + " tokens, " +
                                std::to_string(need) + " bytes in all, the file has " + std::to_string(m->size));
    t->tokens_ = m->base + kLlmcHeader;
    t->data_offset_ = kLlmcHeader;
    t->n_tokens_ = static_cast<uint64_t>(count);
  }
  if (t->n_tokens_ == 0) return bad(t->token_path_, "holds no tokens (an empty corpus)");
  return std::shared_ptr<const MappedTokens>(std::move(t));
}

int64_t MappedTokens::token(uint64_t i) const {
  const unsigned char* p = tokens_ + i * static_cast<uint64_t>(width_);
  switch (width_) {
    case 1: return is_signed_ ? static_cast<int64_t>(static_cast<int8_t>(*p)) : static_cast<int64_t>(*p);
    case 2: return is_signed_ ? static_cast<int64_t>(load<int16_t>(p)) : static_cast<int64_t>(load<uint16_t>(p));
    case 4: return is_signed_ ? static_cast<int64_t>(load<int32_t>(p)) : static_cast<int64_t>(load<uint32_t>(p));
    default: return load<int64_t>(p);
  }
}

Status MappedTokens::read(uint64_t first, size_t n, int64_t* out) const {
  const size_t w = static_cast<size_t>(width_);
  unsigned char buf[4096];
  size_t done = 0;
  while (done < n) {
    const size_t chunk = std::min(n - done, sizeof buf / w);
    const off_t at = static_cast<off_t>(data_offset_ + (first + done) * w);
    size_t got = 0;
    while (got < chunk * w) {
      const ssize_t r = ::pread(fd_, buf + got, chunk * w - got, at + static_cast<off_t>(got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0)
        return make_error(ErrorCode::Io, token_path_ + ": cannot read bytes at offset " + std::to_string(at + got) + " (" +
                                             (r < 0 ? std::strerror(errno) : "the file shrank") + ")");
      got += static_cast<size_t>(r);
    }
    for (size_t k = 0; k < chunk; ++k) {
      const unsigned char* p = buf + k * w;
      switch (width_) {
        case 1: out[done + k] = is_signed_ ? static_cast<int8_t>(*p) : *p; break;
        case 2: out[done + k] = is_signed_ ? static_cast<int64_t>(load<int16_t>(p)) : load<uint16_t>(p); break;
        case 4: out[done + k] = is_signed_ ? static_cast<int64_t>(load<int32_t>(p)) : load<uint32_t>(p); break;
        default: out[done + k] = load<int64_t>(p);
      }
    }
    done += chunk;
  }
  return Status::ok();
}

void MappedTokens::release_pages() const {
  if (base_) madvise(const_cast<unsigned char*>(base_), size_, MADV_DONTNEED);
}

uint64_t MappedTokens::boundary_at_or_after(uint64_t at) const {
  if (at >= n_tokens_) return n_tokens_;
  if (at == 0) return 0;
  if (spec_.format == TokenFormat::Megatron) {
    auto it = std::lower_bound(doc_starts_.begin(), doc_starts_.end(), at);
    return it == doc_starts_.end() ? n_tokens_ : *it;
  }
  if (spec_.eos_id < 0) return at;
  // tokens: EOS ends a document (the next one starts after it); llmc: EOT starts one.
  const bool eos_ends = spec_.format == TokenFormat::Flat;
  const uint64_t stop = std::min(n_tokens_, at + kBoundaryScan);
  for (uint64_t i = eos_ends ? at - 1 : at; i < stop; ++i)
    if (token(i) == spec_.eos_id) return eos_ends ? i + 1 : i;
  return at;  // documents longer than the scan: split inside one
}

std::vector<uint64_t> MappedTokens::document_starts() const {
  if (spec_.format == TokenFormat::Megatron) return doc_starts_;
  std::vector<uint64_t> out;
  if (spec_.eos_id < 0) return {0};
  const bool eos_ends = spec_.format == TokenFormat::Flat;
  if (eos_ends) out.push_back(0);
  for (uint64_t i = 0; i < n_tokens_; ++i)
    if (token(i) == spec_.eos_id) {
      if (!eos_ends) out.push_back(i);
      else if (i + 1 < n_tokens_) out.push_back(i + 1);
    }
  if (out.empty() || out.front() != 0) out.insert(out.begin(), 0);
  return out;
}

std::string MappedTokens::describe() const {
  std::string s = std::string(token_format_name(spec_.format)) + " " + spec_.path + " (" + human(double(size_)) + ", ";
  if (n_docs_ >= 0) s += std::to_string(n_docs_) + " documents, ";
  return s + std::to_string(n_tokens_) + " " + width_name(width_, is_signed_) + " tokens)";
}

TokenSplit split_heldout(std::shared_ptr<const MappedTokens> tokens, double heldout_fraction) {
  const uint64_t n = tokens->n_tokens();
  const double f = std::clamp(heldout_fraction, 0.0, 0.9);
  uint64_t cut = f <= 0 ? n : tokens->boundary_at_or_after(static_cast<uint64_t>(static_cast<double>(n) * (1.0 - f)));
  if (f > 0 && cut >= n) cut = static_cast<uint64_t>(static_cast<double>(n) * (1.0 - f));  // no boundary: cut inside
  TokenSplit s;
  s.train = {tokens, 0, cut};
  s.heldout = {tokens, cut, n};
  return s;
}

TokenRange site_range(const TokenRange& train, int n_sites, int site) {
  const uint64_t n = train.size();
  auto at = [&](int k) -> uint64_t {
    if (k <= 0) return train.begin;
    if (k >= n_sites) return train.end;
    const uint64_t raw = train.begin + static_cast<uint64_t>(static_cast<double>(n) * k / n_sites);
    return std::min(train.end, train.tokens->boundary_at_or_after(raw));
  };
  return {train.tokens, at(site), std::max(at(site), at(site + 1))};
}

}  // namespace fomoe::data
