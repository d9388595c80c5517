// `fomoe data prepare|stats`: the tokenised corpus from the command line (prepare_corpus in
// core/data does the work).
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_options.h"
#include "commands.h"
#include "fomoe/data/batch_sampler.h"
#include "fomoe/data/corpus_source.h"
#include "fomoe/data/prepared_corpus.h"

namespace fomoe::cli {

using namespace fomoe::data;

namespace {

constexpr const char* kSample = "The quick brown fox jumps over the lazy dog. Über Straße, año, perché? 42!";

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
      << ", tokenizer " << pc.tokenizer_path;
  if (!pc.spec.tokenizer.empty())
    out << " (" << pc.tokenizer.kind_name() << ", " << pc.tokenizer.vocab_size() << " ids, end of document "
        << pc.tokenizer.eod_id() << ")";
  out << "\n";
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
  if (pc.built && pc.spec.tokenizer.empty()) {
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

nlohmann::json source_json(const SourceStats& s) {
  return {{"name", s.name},
          {"docs", s.docs()},
          {"bytes", s.bytes()},
          {"tokens", s.tokens()},
          {"bytes_per_token", s.tokens() ? static_cast<double>(s.bytes()) / static_cast<double>(s.tokens()) : 0.0},
          {"train", {{"docs", s.train_docs}, {"bytes", s.train_bytes}, {"tokens", s.train_tokens}}},
          {"heldout", {{"docs", s.heldout_docs}, {"bytes", s.heldout_bytes}, {"tokens", s.heldout_tokens}}}};
}

// What prepare (and, with the per-source numbers, stats) prints, as one JSON object.
nlohmann::json corpus_json(const PreparedCorpus& pc, bool with_stats) {
  nlohmann::json j = {{"key", pc.key},
                      {"built", pc.built},
                      {"vocab_size", pc.spec.vocab_size},
                      {"tokenizer", pc.tokenizer_path},
                      {"train", {{"path", pc.train_path}, {"tokens", pc.train.n_tokens()}, {"docs", pc.train.n_docs()}}},
                      {"heldout", {{"path", pc.heldout_path}, {"tokens", pc.heldout.n_tokens()}, {"docs", pc.heldout.n_docs()}}}};
  if (!pc.spec.tokenizer.empty())
    j["tokenizer_file"] = {{"kind", pc.tokenizer.kind_name()}, {"vocab_size", pc.tokenizer.vocab_size()},
                           {"eod_id", pc.tokenizer.eod_id()}, {"hash", pc.tokenizer.content_hash()}};
  if (pc.built) {
    j["tokenizer_seconds"] = pc.train_stats.seconds;
    j["build_seconds"] = pc.build_seconds;
  }
  if (with_stats) {
    nlohmann::json sources = nlohmann::json::array();
    for (const SourceStats& s : pc.source_stats()) sources.push_back(source_json(s));
    j["sources"] = sources;
    j["unigram_entropy"] = {{"train", unigram_entropy(pc.train)}, {"heldout", unigram_entropy(pc.heldout)}};
    const std::vector<int32_t> toks = pc.tokenizer.encode(kSample);
    j["sample"] = {{"text", kSample}, {"tokens", toks.size()}, {"round_trip_exact", pc.tokenizer.decode(toks) == kSample}};
  }
  return j;
}

}  // namespace

int data_command(const std::vector<std::string>& args_in, std::ostream& out, std::ostream& err) {
  std::vector<std::string> args = args_in;
  if (!args.empty() && args[0] == "data") args.erase(args.begin());
  auto app = make_app("fomoe data", "Build or inspect the tokenised corpus (byte-level BPE, or --tokenizer, over the built-in texts).");
  CorpusSpec spec;
  std::string sources, format = "text";
  CLI::App* prepare = app->add_subcommand("prepare", "build the tokenizer and token files (cached by content)");
  CLI::App* stats = app->add_subcommand("stats", "per-source documents, bytes and tokens, entropy, a sample");
  for (CLI::App* cmd : {prepare, stats}) {
    cmd->add_option("--vocab", spec.vocab_size, "vocabulary size")
        ->check(integer_in(0, INT32_MAX))
        ->type_name("N")
        ->capture_default_str();
    cmd->add_option("--cache", spec.cache_dir, "cache directory")->type_name("DIR")->capture_default_str();
    cmd->add_option("--sources", sources, "comma separated built-in sources (default: all)")->type_name("a,b,c");
    cmd->add_option("--max-bytes", spec.max_bytes, "bytes per source (0: all)")
        ->check(integer_in(0, INT64_MAX))
        ->type_name("N")
        ->capture_default_str();
    cmd->add_option("--heldout", spec.heldout_fraction, "share of documents held out")
        ->check(number())
        ->type_name("F")
        ->capture_default_str();
    cmd->add_option("--seed", spec.seed, "seed of the held-out split")
        ->check(integer_in(0, INT64_MAX))
        ->type_name("N")
        ->capture_default_str();
    cmd->add_option("--source-root", spec.source_root, "where the texts are")->type_name("DIR")->capture_default_str();
    cmd->add_option("--tokenizer", spec.tokenizer,
                    "tokenise with this tokenizer.json or SentencePiece .model instead of training the BPE "
                    "(--vocab: the model's, at least its vocabulary)")
        ->type_name("FILE");
    cmd->add_option("--eos-id", spec.eos_id, "with --tokenizer: the end-of-document id (default: the tokenizer's)")
        ->check(integer_in(-1, INT32_MAX))
        ->type_name("N");
    add_format(*cmd, format, {"text", "json"}, /*json_alias=*/true)->capture_default_str();
  }
  if (auto code = parse(*app, args, out, err)) return *code;
  if (!sources.empty()) spec.sources = split_commas(sources);
  const std::string cmd = prepare->parsed() ? "prepare" : "stats";
  auto pc = prepare_corpus(spec);
  if (!pc) {
    err << "fomoe data " << cmd << ": " << error_code_name(pc.error().code) << ": " << pc.error().message << "\n";
    return 1;
  }
  if (format == "json") {
    out << corpus_json(*pc, cmd == "stats").dump(2) << "\n";
    return 0;
  }
  if (cmd == "prepare") {
    out << (pc->built ? "built " : "cached ") << pc->tokenizer_path << ", " << pc->train_path << " ("
        << pc->train.n_tokens() << " tokens, " << pc->train.n_docs() << " docs), " << pc->heldout_path << " ("
        << pc->heldout.n_tokens() << " tokens, " << pc->heldout.n_docs() << " docs)\n";
    if (pc->built && spec.tokenizer.empty())
      out << "tokenizer trained in " << fmt("%.2f", pc->train_stats.seconds) << " s, whole build "
          << fmt("%.2f", pc->build_seconds) << " s\n";
    return 0;
  }
  print_stats(*pc, out);
  return 0;
}

}  // namespace fomoe::cli
