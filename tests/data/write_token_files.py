"""Writes token files the way other stacks do, independently of the engine's readers, plus a
manifest of what each holds (tokens, document starts) for the C++ test to compare against.

  python write_token_files.py OUTDIR

Formats (../shared/INTEROP.md): Megatron-LM indexed datasets (MMIDIDX .idx + .bin), nanoGPT /
Dolma flat uint16 / uint32 arrays (EOS appended per document), llm.c shards (1024-byte header,
EOT prepended per document).
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np

VOCAB = 320
EOS = 0


def documents(rng, n_docs):
    return [rng.integers(1, VOCAB, size=int(rng.integers(3, 200))).tolist() for _ in range(n_docs)]


def write_megatron(prefix, docs, dtype, code, seqs_per_doc):
    """Megatron's MMapIndexedDatasetBuilder: sequences back to back in .bin; the .idx holds
    lengths, byte pointers and the document index (sequence ids where documents start, then the
    sequence count)."""
    seqs, doc_index = [], [0]
    for d in docs:
        # Megatron's --append-eod: the document ends with EOD; long documents may be several sequences.
        toks = d + [EOS]
        parts = np.array_split(np.array(toks), seqs_per_doc) if len(toks) >= seqs_per_doc else [np.array(toks)]
        seqs.extend(p.tolist() for p in parts)
        doc_index.append(len(seqs))
    flat = np.array([t for s in seqs for t in s], dtype=dtype)
    flat.tofile(f"{prefix}.bin")
    lengths = np.array([len(s) for s in seqs], dtype=np.int32)
    pointers = np.zeros(len(seqs), dtype=np.int64)
    pointers[1:] = np.cumsum(lengths[:-1].astype(np.int64) * np.dtype(dtype).itemsize)
    with open(f"{prefix}.idx", "wb") as f:
        f.write(b"MMIDIDX\x00\x00")
        f.write(struct.pack("<Q", 1))
        f.write(struct.pack("<B", code))
        f.write(struct.pack("<Q", len(seqs)))
        f.write(struct.pack("<Q", len(doc_index)))
        f.write(lengths.tobytes(order="C"))
        f.write(pointers.tobytes(order="C"))
        f.write(np.array(doc_index, dtype=np.int64).tobytes(order="C"))
    starts, pos, si = [], 0, 0
    seq_starts = [0]
    for s in seqs:
        seq_starts.append(seq_starts[-1] + len(s))
    starts = [seq_starts[i] for i in doc_index[:-1]]
    return flat.tolist(), starts


def write_flat(path, docs, dtype):
    """nanoGPT prepare.py: ids of each document followed by EOT, np.uint16 tofile."""
    flat = np.array([t for d in docs for t in d + [EOS]], dtype=dtype)
    flat.tofile(path)
    starts, pos = [], 0
    for d in docs:
        starts.append(pos)
        pos += len(d) + 1
    return flat.tolist(), starts


def write_llmc(path, docs, magic, version, dtype):
    """llm.c dev/data/data_common.py write_datafile: 256 int32 header, then EOT + document."""
    flat = np.array([t for d in docs for t in [EOS] + d], dtype=dtype)
    header = np.zeros(256, dtype=np.int32)
    header[0], header[1], header[2] = magic, version, len(flat)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(flat.tobytes())
    starts, pos = [], 0
    for d in docs:
        starts.append(pos)
        pos += len(d) + 1
    return flat.tolist(), starts


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261201)
    docs = documents(rng, 300)
    manifest = []

    def add(name, fmt, path, width, eos, tokens, starts):
        manifest.append({"name": name, "format": fmt, "path": str(path), "width": width, "eos": eos,
                         "tokens": tokens, "doc_starts": starts})

    t, s = write_megatron(out / "meg16", docs, np.uint16, 8, 1)
    add("megatron uint16", "megatron", out / "meg16", 2, -1, t, s)
    t, s = write_megatron(out / "meg32", docs, np.int32, 4, 2)
    add("megatron int32, two sequences per document", "megatron", out / "meg32", 4, -1, t, s)
    t, s = write_flat(out / "nanogpt.bin", docs, np.uint16)
    add("flat uint16 (nanoGPT)", "tokens", out / "nanogpt.bin", 2, EOS, t, s)
    t, s = write_flat(out / "dolma.npy", docs, np.uint32)
    add("flat uint32 (Dolma)", "tokens", out / "dolma.npy", 4, EOS, t, s)
    t, s = write_llmc(out / "llmc_v1.bin", docs, 20240520, 1, np.uint16)
    add("llm.c v1 uint16", "llmc", out / "llmc_v1.bin", 2, EOS, t, s)
    t, s = write_llmc(out / "llmc_v7.bin", docs, 20240801, 7, np.uint32)
    add("llm.c v7 uint32", "llmc", out / "llmc_v7.bin", 4, EOS, t, s)
    (out / "manifest.json").write_text(json.dumps(manifest))
    # Learnable data for training tests: each document counts up from a random start, so the
    # next token is predictable and a model's held-out loss falls within a few steps.
    learn = []
    for _ in range(2000):
        start, n = int(rng.integers(1, VOCAB)), int(rng.integers(20, 120))
        learn.append([(start + i) % (VOCAB - 1) + 1 for i in range(n)])
    write_megatron(out / "learn", learn, np.uint16, 8, 1)
    write_flat(out / "learn_flat.bin", learn, np.uint16)


if __name__ == "__main__":
    main()
