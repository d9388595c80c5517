// CorpusSpec: which real-text sources make up a training corpus and how it is tokenized and split.
// Plain data; its defaults live here and only here (config's [data] section mirrors them).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fomoe/data/own_text.h"

namespace fomoe::data {

struct CorpusSpec {
  // Named sources from the registry in corpus_source.h; the order fixes the source ids.
  std::vector<std::string> sources = {"fortunes-en", "fortunes-de", "fortunes-es", "fortunes-it", "jargon"};
  int vocab_size = 1024;            // total ids: 256 bytes + merges + 1 end-of-document token; with
                                    // `tokenizer`: the model's, >= the tokenizer's vocabulary
  double heldout_fraction = 0.05;   // share of documents held out, chosen by content hash
  int64_t max_bytes = 0;            // per source, 0 = all (whole documents, stops once reached)
  std::string cache_dir = "data-cache";  // tokenizer and token files, named by the spec's hash
  uint64_t seed = 1234;             // mixes into the held-out split
  std::string source_root = "/usr/share";  // where Debian puts the texts; tests point it elsewhere
  OwnTextSpec own;                  // own.format set: the researcher's text instead of `sources`
  std::string tokenizer;            // "" = train the project's BPE on the train documents; else a
                                    // tokenizer file (tokenizer.h: tokenizer.json, .model, FoMoE BPE)
  int64_t eos_id = -1;              // with `tokenizer`: the end-of-document id (-1 = the tokenizer's)
};

}  // namespace fomoe::data
