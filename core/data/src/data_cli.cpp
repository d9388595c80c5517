// `fomoe data prepare|stats`: argument parsing and printing over prepare_corpus.
#include "fomoe/data/data_cli.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "fomoe/data/batch_sampler.h"
#include "fomoe/data/corpus_source.h"
#include "fomoe/data/prepared_corpus.h"

namespace fomoe::data {
namespace {

constexpr const char* kUsage =
    "usage: fomoe data prepare|stats [--vocab N] [--cache DIR] [--sources a,b,c] [--max-bytes N]\n"
    "                               [--heldout F] [--seed N] [--source-root DIR]\n";
constexpr const char* kSample = "The quick brown fox jumps over the lazy dog. Über Straße, año, perché? 42!";

bool parse_i64(const std::string& s, int64_t& v) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  v = x;
  return true;
}

bool parse_f64(const std::string& s, double& v) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return errno == 0 && *end == '\0';
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

// Token bytes for display: control bytes and bytes of incomplete UTF-8 sequences as \xNN.
std::string printable(const std::string& bytes) {
  std::string out;
  char buf[8];
  for (size_t i = 0; i < bytes.size();) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= bytes.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(bytes[i + k]) & 0xC0) == 0x80;
    if (ok && len == 1 && c >= 0x20 && c != 0x7F) {
      out.push_back(static_cast<char>(c));
    } else if (ok && len > 1) {
      out.append(bytes, i, len);
      i += len;
      continue;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    }
    ++i;
  }
  return out;
}

void print_stats(const PreparedCorpus& pc, std::ostream& out) {
  char line[256];
  out << "corpus " << pc.key << " (" << (pc.built ? "built" : "loaded from cache") << "), vocab " << pc.spec.vocab_size
      << ", tokenizer " << pc.tokenizer_path << "\n";
  std::snprintf(line, sizeof(line), "%-12s %8s %12s %11s %8s %9s %10s\n", "source", "docs", "bytes", "tokens",
                "bytes/tok", "held docs", "held toks");
  out << line;
  SourceStats total;
  total.name = "total";
  auto row = [&](const SourceStats& s) {
    double bpt = s.tokens() ? static_cast<double>(s.bytes()) / static_cast<double>(s.tokens()) : 0.0;
    std::snprintf(line, sizeof(line), "%-12s %8" PRIu64 " %12" PRIu64 " %11" PRIu64 " %8.3f %9" PRIu64 " %10" PRIu64 "\n",
                  s.name.c_str(), s.docs(), s.bytes(), s.tokens(), bpt, s.heldout_docs, s.heldout_tokens);
    out << line;
  };
  for (const SourceStats& s : pc.source_stats()) {
    row(s);
    total.train_docs += s.train_docs;
    total.train_bytes += s.train_bytes;
    total.train_tokens += s.train_tokens;
    total.heldout_docs += s.heldout_docs;
    total.heldout_bytes += s.heldout_bytes;
    total.heldout_tokens += s.heldout_tokens;
  }
  row(total);
  out << "unigram entropy: train " << fmt("%.4f", unigram_entropy(pc.train)) << " nats/token, held-out "
      << fmt("%.4f", unigram_entropy(pc.heldout)) << " nats/token\n";
  if (pc.built) {
    out << "tokenizer: " << pc.train_stats.n_merges << " merges over " << pc.train_stats.n_unique_words
        << " unique words in " << fmt("%.2f", pc.train_stats.seconds) << " s; whole build "
        << fmt("%.2f", pc.build_seconds) << " s\n";
  }
  std::vector<int32_t> toks = pc.tokenizer.encode(kSample);
  std::string back = pc.tokenizer.decode(toks);
  out << "sample: \"" << kSample << "\" -> " << toks.size() << " tokens:";
  for (int32_t t : toks) out << " [" << printable(pc.tokenizer.token_bytes(t)) << "]";
  out << "\n        round trip " << (back == kSample ? "exact" : "MISMATCH") << "\n";
}

}  // namespace

int data_cli_main(const std::vector<std::string>& args_in, std::ostream& out, std::ostream& err) {
  std::vector<std::string> args = args_in;
  if (!args.empty() && args[0] == "data") args.erase(args.begin());
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string cmd = args[0];
  if (cmd != "prepare" && cmd != "stats") {
    err << "fomoe data: unknown subcommand '" << cmd << "'\n" << kUsage;
    return 2;
  }
  CorpusSpec spec;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (i + 1 >= args.size()) {
      err << "fomoe data: option " << a << " needs a value (or is unknown)\n" << kUsage;
      return 2;
    }
    const std::string& v = args[++i];
    int64_t n = 0;
    double f = 0;
    if (a == "--vocab" && parse_i64(v, n)) {
      spec.vocab_size = static_cast<int>(n);
    } else if (a == "--cache") {
      spec.cache_dir = v;
    } else if (a == "--sources") {
      spec.sources = split_commas(v);
    } else if (a == "--max-bytes" && parse_i64(v, n)) {
      spec.max_bytes = n;
    } else if (a == "--heldout" && parse_f64(v, f)) {
      spec.heldout_fraction = f;
    } else if (a == "--seed" && parse_i64(v, n)) {
      spec.seed = static_cast<uint64_t>(n);
    } else if (a == "--source-root") {
      spec.source_root = v;
    } else {
      err << "fomoe data: bad option '" << a << " " << v << "'\n" << kUsage;
      return 2;
    }
  }
  auto pc = prepare_corpus(spec);
  if (!pc) {
    err << "fomoe data " << cmd << ": " << error_code_name(pc.error().code) << ": " << pc.error().message << "\n";
    return 1;
  }
  if (cmd == "prepare") {
    out << (pc->built ? "built " : "cached ") << pc->tokenizer_path << ", " << pc->train_path << " ("
        << pc->train.n_tokens() << " tokens, " << pc->train.n_docs() << " docs), " << pc->heldout_path << " ("
        << pc->heldout.n_tokens() << " tokens, " << pc->heldout.n_docs() << " docs)\n";
    if (pc->built)
      out << "tokenizer trained in " << fmt("%.2f", pc->train_stats.seconds) << " s, whole build "
          << fmt("%.2f", pc->build_seconds) << " s\n";
    return 0;
  }
  print_stats(*pc, out);
  return 0;
}

}  // namespace fomoe::data
