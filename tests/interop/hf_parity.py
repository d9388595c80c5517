"""Loads a folder `fomoe export` wrote with Hugging Face transformers, as a user would, and
writes what it computed as JSON for the C++ test to compare with the engine:
  hf_parity.py JOBS.json      JOBS: [{"dir": DIR, "out": OUT.json, ...REQUEST}, ...] (one
                              interpreter for all: importing transformers takes seconds)
REQUEST: {"ids": [[...], ...] (logits of these sequences), "prompt": [...], "new_tokens": N,
          "texts": [...] (tokenised with AutoTokenizer, when the folder has a tokenizer)}
OUT: loading info (missing / unexpected / mismatched keys), logits, the greedy continuation,
     the token ids and decoded round trip of each text, the transformers version."""
import json
import os
import sys
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig  # noqa: E402

transformers.logging.set_verbosity_error()


def run(req):
    folder, out_path = req["dir"], req["out"]
    model, info = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, output_loading_info=True)
    model.eval()
    out = {
        "transformers": transformers.__version__,
        "class": type(model).__name__,
        "missing": sorted(info.get("missing_keys", [])),
        "unexpected": sorted(info.get("unexpected_keys", [])),
        "mismatched": sorted(str(k) for k in info.get("mismatched_keys", [])),
    }
    with torch.no_grad():
        ids = torch.tensor(req["ids"], dtype=torch.long)
        out["logits"] = model(ids).logits.reshape(-1).tolist()
        if req.get("prompt"):
            prompt = torch.tensor([req["prompt"]], dtype=torch.long)
            # No end-of-text stop: the engine's side does not stop either, so both give N tokens.
            config = GenerationConfig(max_new_tokens=req["new_tokens"], do_sample=False, eos_token_id=None, pad_token_id=0)
            gen = model.generate(prompt, attention_mask=torch.ones_like(prompt), generation_config=config)
            out["greedy"] = gen[0, prompt.shape[1]:].tolist()
    if req.get("texts"):
        tok = AutoTokenizer.from_pretrained(folder)
        out["tokenizer_class"] = type(tok).__name__
        out["encoded"] = [tok.encode(t, add_special_tokens=False) for t in req["texts"]]
        out["decoded"] = [tok.decode(e) for e in out["encoded"]]
        out["eos_token_id"] = tok.eos_token_id
    json.dump(out, open(out_path, "w"))


for job in json.load(open(sys.argv[1])):
    run(job)
