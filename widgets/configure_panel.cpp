#include "configure_panel.h"

#include <QAbstractSpinBox>
#include <QCheckBox>
#include <QComboBox>
#include <QEvent>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QStyle>
#include <QSpinBox>
#include <QMessageBox>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>

#include "bridge/experiment_document.h"
#include "bridge/store_model.h"
#include "colors.h"

namespace fomoe::gui {

namespace {
const QStringList kMethods{"single", "ddp", "diloco", "photon", "fomoe"};
}

ConfigurePanel::ConfigurePanel(ExperimentDocument* doc, QWidget* parent) : QWidget(parent), doc_(doc) {
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  auto* scroll = new QScrollArea;
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  auto* page = new QWidget;
  auto* grid = new QGridLayout(page);
  grid->setHorizontalSpacing(14);
  scroll->setWidget(page);
  outer->addWidget(scroll, 1);

  auto* col0 = new QVBoxLayout;
  auto* col1 = new QVBoxLayout;
  auto* col2 = new QVBoxLayout;
  grid->addLayout(col0, 0, 0);
  grid->addLayout(col1, 0, 1);
  grid->addLayout(col2, 0, 2);

  QFormLayout* run = group(page, tr("Run"), col0);
  addText(run, "run.name", tr("name"), [](auto& c) { return QString::fromStdString(c.run.name); },
          [](auto& c, const QString& v) { c.run.name = v.toStdString(); });
  addChoice(run, "run.method", tr("method"), {"single site", "DDP", "DiLoCo", "Photon", "FoMoE"}, [](auto& c) { return int(c.run.method); },
            [](auto& c, int v) { c.run.method = Method(v); },
            tr("DDP syncs gradients every step; DiLoCo and Photon keep full replicas and sync every H steps; FoMoE holds "
               "only some experts per site"));
  addInt(run, "run.seed", tr("seed"), 0, 1 << 30, [](auto& c) { return int(c.run.seed); }, [](auto& c, int v) { c.run.seed = uint64_t(v); });
  addText(run, "run.device", tr("device"), [](auto& c) { return QString::fromStdString(c.run.device); },
          [](auto& c, const QString& v) { c.run.device = v.trimmed().toStdString(); },
          tr("auto, cpu, cuda or cuda:N; a comma list (cuda:0,cuda:1) trains each site data parallel on those devices"));

  QFormLayout* model = group(page, tr("Model"), col0);
  addInt(model, "model.vocab_size", tr("vocabulary"), 64, 1 << 24, [](auto& c) { return c.model.vocab_size; }, [](auto& c, int v) { c.model.vocab_size = v; });
  addInt(model, "model.d_model", tr("d_model"), 8, 1 << 16, [](auto& c) { return c.model.d_model; }, [](auto& c, int v) { c.model.d_model = v; });
  addInt(model, "model.n_layers", tr("layers"), 1, 512, [](auto& c) { return c.model.n_layers; }, [](auto& c, int v) { c.model.n_layers = v; });
  addInt(model, "model.n_heads", tr("heads"), 1, 256, [](auto& c) { return c.model.n_heads; }, [](auto& c, int v) { c.model.n_heads = v; });
  addInt(model, "model.n_kv_heads", tr("key/value heads"), 0, 256, [](auto& c) { return c.model.n_kv_heads; },
         [](auto& c, int v) { c.model.n_kv_heads = v; },
         tr("0: one per head (multi-head attention); fewer, dividing the heads: grouped-query attention"))
      ->setSpecialValueText(tr("= heads"));
  addCheck(model, "model.tie_embeddings", tr("tied embeddings"), [](auto& c) { return c.model.tie_embeddings; },
           [](auto& c, bool v) { c.model.tie_embeddings = v; },
           tr("the output head is the token embedding: vocab x d_model fewer parameters to hold and send"));
  addInt(model, "model.seq_len", tr("sequence length"), 8, 1 << 16, [](auto& c) { return c.model.seq_len; }, [](auto& c, int v) { c.model.seq_len = v; });
  addInt(model, "model.n_experts", tr("experts per layer"), 1, 1024, [](auto& c) { return c.model.n_experts; }, [](auto& c, int v) { c.model.n_experts = v; });
  addInt(model, "model.top_k", tr("top-k"), 1, 64, [](auto& c) { return c.model.top_k; }, [](auto& c, int v) { c.model.top_k = v; });
  addInt(model, "model.d_expert", tr("expert width"), 8, 1 << 18, [](auto& c) { return c.model.d_expert; }, [](auto& c, int v) { c.model.d_expert = v; });
  addInt(model, "model.moe_every", tr("MoE every n layers"), 1, 2, [](auto& c) { return c.model.moe_every; }, [](auto& c, int v) { c.model.moe_every = v; });
  addCheck(model, "model.shared_expert", tr("shared expert"), [](auto& c) { return c.model.shared_expert; }, [](auto& c, bool v) { c.model.shared_expert = v; });
  addChoice(model, "model.gate", tr("non-resident picks"), {"skip, keep gates", "skip, renormalise gates", "reroute to resident experts"},
            [](auto& c) { return int(c.model.gate); }, [](auto& c, int v) { c.model.gate = GateMode(v); },
            tr("skip-token drops a token's picks of experts the site does not hold (renormalising its remaining gates to sum "
               "to 1, or not); reroute sends it to its top-k among the held experts instead (no skip, no throughput gain)"));

  QFormLayout* data = group(page, tr("Data"), col1);
  addChoice(data, "data.format", tr("format"),
            {"built-in texts", "Megatron .bin/.idx", "flat token array (nanoGPT, Dolma)", "llm.c shards", "your text files",
             "JSONL (optionally gzip'd)"},
            [](auto& c) { return int(c.data.format); }, [](auto& c, int v) { c.data.format = DataFormat(v); },
            tr("built-in: Debian's texts, tokenised by the project's BPE; the others read a token file another stack wrote"));
  addText(data, "data.path", tr("token file"), [](auto& c) { return QString::fromStdString(c.data.path); },
          [](auto& c, const QString& v) { c.data.path = v.trimmed().toStdString(); },
          tr("megatron: the PREFIX of PREFIX.bin and PREFIX.idx; tokens, llmc: the file; text, jsonl: a file, folder or glob"));
  addText(data, "data.tokenizer", tr("tokenizer"), [](auto& c) { return QString::fromStdString(c.data.tokenizer); },
          [](auto& c, const QString& v) { c.data.tokenizer = v.trimmed().toStdString(); },
          tr("empty = the project's BPE, trained on the corpus; else a Hugging Face tokenizer.json, a SentencePiece "
             ".model or a FoMoE BPE file. With token files it only encodes prompts and decodes samples"));
  addText(data, "data.text_field", tr("JSONL text field"), [](auto& c) { return QString::fromStdString(c.data.text_field); },
          [](auto& c, const QString& v) { c.data.text_field = v.trimmed().toStdString(); });
  addText(data, "data.domain_field", tr("JSONL domain field"), [](auto& c) { return QString::fromStdString(c.data.domain_field); },
          [](auto& c, const QString& v) { c.data.domain_field = v.trimmed().toStdString(); },
          tr("names each document's source, what a non-IID split splits on; empty = one source per file"));
  addText(data, "data.separator", tr("document separator"), [](auto& c) { return QString::fromStdString(c.data.separator); },
          [](auto& c, const QString& v) { c.data.separator = v.toStdString(); },
          tr("text: a line equal to this ends a document; empty = each file is one document"));
  addChoice(data, "data.token_dtype", tr("token type"), {"uint16", "uint32"},
            [](auto& c) { return c.data.token_dtype == "uint32" ? 1 : 0; },
            [](auto& c, int v) { c.data.token_dtype = v == 1 ? "uint32" : "uint16"; });
  addInt(data, "data.eos_id", tr("end-of-document id"), -1, 2000000000, [](auto& c) { return int(c.data.eos_id); },
         [](auto& c, int v) { c.data.eos_id = v; }, tr("-1 = none (tokens: ends a document; llmc: starts one)"));
  addText(data, "data.sources", tr("sources"),
          [](auto& c) {
            QStringList l;
            for (auto& s : c.data.sources) l << QString::fromStdString(s);
            return l.join(", ");
          },
          [](auto& c, const QString& v) {
            c.data.sources.clear();
            for (const QString& s : v.split(',', Qt::SkipEmptyParts)) c.data.sources.push_back(s.trimmed().toStdString());
          },
          tr("comma separated: fortunes-en, fortunes-de, fortunes-es, fortunes-it, jargon, ..."));
  addChoice(data, "data.split", tr("split across sites"), {"IID", "non-IID (one source per site)"}, [](auto& c) { return int(c.data.split); },
            [](auto& c, int v) { c.data.split = ShardSplit(v); });
  addDouble(data, "data.heldout_fraction", tr("held-out fraction"), 0.001, 0.5, 3, [](auto& c) { return c.data.heldout_fraction; },
            [](auto& c, double v) { c.data.heldout_fraction = v; });
  addInt(data, "data.max_bytes", tr("max bytes per source"), 0, 2000000000, [](auto& c) { return int(c.data.max_bytes); },
         [](auto& c, int v) { c.data.max_bytes = v; }, tr("0 = all"));

  QFormLayout* train = group(page, tr("Training"), col1);
  addInt(train, "train.steps", tr("steps per site"), 1, 10000000, [](auto& c) { return c.train.steps; }, [](auto& c, int v) { c.train.steps = v; });
  addInt(train, "train.batch_size", tr("batch size"), 1, 65536, [](auto& c) { return c.train.batch_size; }, [](auto& c, int v) { c.train.batch_size = v; });
  addDouble(train, "train.lr", tr("learning rate"), 1e-6, 1.0, 5, [](auto& c) { return c.train.lr; }, [](auto& c, double v) { c.train.lr = v; });
  addInt(train, "train.warmup_steps", tr("warm-up steps"), 0, 1000000, [](auto& c) { return c.train.warmup_steps; },
         [](auto& c, int v) { c.train.warmup_steps = v; });
  addInt(train, "train.eval_every", tr("evaluate every"), 0, 1000000, [](auto& c) { return c.train.eval_every; },
         [](auto& c, int v) { c.train.eval_every = v; }, tr("steps; 0 = only at the end"));
  addInt(train, "train.log_every", tr("log every"), 1, 100000, [](auto& c) { return c.train.log_every; }, [](auto& c, int v) { c.train.log_every = v; });
  addInt(train, "train.sample_tokens", tr("sample tokens"), 0, 4096, [](auto& c) { return c.train.sample_tokens; },
         [](auto& c, int v) { c.train.sample_tokens = v; },
         tr("after each evaluation the global model continues each prompt by this many tokens (greedy; the Samples "
            "tab); 0 = off"));
  addText(train, "train.sample_prompts", tr("sample prompts"),
          [](auto& c) {
            QStringList l;
            for (auto& s : c.train.sample_prompts) l << QString::fromStdString(s);
            return l.join(" | ");
          },
          [](auto& c, const QString& v) {
            c.train.sample_prompts.clear();
            for (const QString& s : v.split(" | ", Qt::SkipEmptyParts))
              if (!s.trimmed().isEmpty()) c.train.sample_prompts.push_back(s.toStdString());
          },
          tr("separated by \" | \"; a prompt keeps its own spaces (\"The \" ends in one)"));

  QFormLayout* fed = group(page, tr("Federation"), col2);
  addInt(fed, "federation.sites", tr("sites (K)"), 1, 256, [](auto& c) { return c.federation.sites; }, [](auto& c, int v) { c.federation.sites = v; });
  addInt(fed, "federation.max_sites", tr("sites in all, with joiners"), 0, 1024, [](auto& c) { return c.federation.max_sites; },
         [](auto& c, int v) { c.federation.max_sites = v; },
         tr("sites beyond K may join while it trains (keys site-K, ...); they get the model and a share of the experts"))
      ->setSpecialValueText(tr("K: no joining"));
  addInt(fed, "federation.inner_steps", tr("inner steps (H)"), 1, 100000, [](auto& c) { return c.federation.inner_steps; },
         [](auto& c, int v) { c.federation.inner_steps = v; });
  addInt(fed, "federation.replication", tr("holders per expert (r)"), 1, 256, [](auto& c) { return c.federation.replication; },
         [](auto& c, int v) { c.federation.replication = v; }, tr("FoMoE: each expert lives on r sites"));
  addChoice(fed, "federation.placement", tr("placement"), {"round-robin", "load-aware", "explicit (placement editor)", "data affinity"},
            [](auto& c) { return int(c.federation.placement); }, [](auto& c, int v) { c.federation.placement = PlacementPolicy(v); },
            tr("load-aware spreads heavy experts; data affinity gives each site the experts its own tokens use most; both "
               "start round-robin and re-plan from the load the sites report"));
  addInt(fed, "federation.replan_every", tr("re-plan every (rounds)"), 0, 1000000, [](auto& c) { return c.federation.replan_every; },
         [](auto& c, int v) { c.federation.replan_every = v; }, tr("load-aware and data affinity only"))
      ->setSpecialValueText(tr("once, after round 1"));
  addChoice(fed, "federation.precision", tr("wire precision"), {"fp32", "bf16", "fp16"}, [](auto& c) { return int(c.federation.precision); },
            [](auto& c, int v) { c.federation.precision = WirePrecision(v); });
  const QStringList compressions = {"none", "int8", "fp8 (e4m3)", "int4", "int2"};
  addChoice(fed, "federation.compression", tr("compression up"), compressions, [](auto& c) { return int(c.federation.compression); },
            [](auto& c, int v) { c.federation.compression = Compression(v); },
            tr("pseudo-gradients (DDP: gradients, both ways) block-quantized with bf16 scales; none = the wire precision"));
  addDouble(fed, "federation.topk", tr("top-k up (fraction)"), 0.0, 1.0, 4, [](auto& c) { return c.federation.topk; },
            [](auto& c, double v) { c.federation.topk = v; },
            tr("keep this fraction of values per chunk of 4096 (largest magnitude, uint16 indices), coded by compression up; "
               "use with error feedback"))
      ->setSpecialValueText(tr("off"));
  addCheck(fed, "federation.error_feedback", tr("error feedback"), [](auto& c) { return c.federation.error_feedback; },
           [](auto& c, bool v) { c.federation.error_feedback = v; });
  addDouble(fed, "federation.error_feedback_decay", tr("error feedback decay"), 0.0, 1.0, 3,
            [](auto& c) { return c.federation.error_feedback_decay; }, [](auto& c, double v) { c.federation.error_feedback_decay = v; },
            tr("SparseLoCo's beta: each round sends the value plus this share of what was not sent before (1 = all of it)"));
  addChoice(fed, "federation.down_compression", tr("compression down"), compressions,
            [](auto& c) { return int(c.federation.down_compression); }, [](auto& c, int v) { c.federation.down_compression = Compression(v); },
            tr("parameters down after a site's first round: the quantized change since what it holds"));
  addDouble(fed, "federation.down_topk", tr("top-k down (fraction)"), 0.0, 1.0, 4, [](auto& c) { return c.federation.down_topk; },
            [](auto& c, double v) { c.federation.down_topk = v; },
            tr("keep this fraction of the change since what a site holds, coded by compression down; the rest waits for later rounds"))
      ->setSpecialValueText(tr("off"));
  addCheck(fed, "federation.entropy_coding", tr("entropy coding (zstd)"), [](auto& c) { return c.federation.entropy_coding; },
           [](auto& c, bool v) { c.federation.entropy_coding = v; },
           tr("lossless zstd coding of every tensor frame, both ways, after any compression: 4-bit codes carry ~3.7 bits; "
              "the predicted bytes become an upper bound"));
  addCheck(fed, "federation.overlap", tr("overlap rounds"), [](auto& c) { return c.federation.overlap; },
           [](auto& c, bool v) { c.federation.overlap = v; },
           tr("train the next round's first steps while the exchange crosses the link (Streaming DiLoCo)"));
  addInt(fed, "federation.overlap_steps", tr("overlapped steps (tau)"), 0, 100000, [](auto& c) { return c.federation.overlap_steps; },
         [](auto& c, int v) { c.federation.overlap_steps = v; });
  addDouble(fed, "federation.overlap_mix", tr("overlap mix (alpha)"), 0.0, 1.0, 2, [](auto& c) { return c.federation.overlap_mix; },
            [](auto& c, double v) { c.federation.overlap_mix = v; }, tr("params = alpha * the site's own + (1 - alpha) * the global ones"));
  addInt(fed, "federation.fragments", tr("streaming fragments (P)"), 1, 1024, [](auto& c) { return c.federation.fragments; },
         [](auto& c, int v) { c.federation.fragments = v; },
         tr("Streaming DiLoCo: fragments strided by layer, one exchanged per round of H / P steps, each synced every H steps"));
  addDouble(fed, "federation.outer_lr", tr("outer learning rate"), 0.0, 10.0, 3, [](auto& c) { return c.federation.outer_lr; },
            [](auto& c, double v) { c.federation.outer_lr = v; });
  addDouble(fed, "federation.expert_outer_lr", tr("expert outer learning rate"), 0.0, 10.0, 3, [](auto& c) { return c.federation.expert_outer_lr; },
            [](auto& c, double v) { c.federation.expert_outer_lr = v; }, tr("0 = the outer learning rate"))
      ->setSpecialValueText(tr("same as outer"));
  addDouble(fed, "federation.outer_momentum", tr("outer momentum"), 0.0, 0.999, 3, [](auto& c) { return c.federation.outer_momentum; },
            [](auto& c, double v) { c.federation.outer_momentum = v; });
  addCheck(fed, "federation.nesterov", tr("Nesterov"), [](auto& c) { return c.federation.nesterov; }, [](auto& c, bool v) { c.federation.nesterov = v; });
  addChoice(fed, "federation.expert_weighting", tr("expert averaging"), {"by tokens routed", "uniform over holders"},
            [](auto& c) { return int(c.federation.expert_weighting); },
            [](auto& c, int v) { c.federation.expert_weighting = ExpertWeighting(v); },
            tr("FoMoE: each expert's update averages its holders' pseudo-gradients, weighted by the tokens each routed to it, "
               "or uniformly"));
  addDouble(fed, "federation.photon_server_lr", tr("server learning rate"), 0.0, 100.0, 3,
            [](auto& c) { return c.federation.photon_server_lr; }, [](auto& c, double v) { c.federation.photon_server_lr = v; },
            tr("Photon: the server's step on the averaged update (1 = plain averaging)"));
  addDouble(fed, "federation.photon_server_momentum", tr("server momentum"), 0.0, 0.999, 3,
            [](auto& c) { return c.federation.photon_server_momentum; },
            [](auto& c, double v) { c.federation.photon_server_momentum = v; });
  addInt(fed, "federation.quorum", tr("quorum"), 1, 256, [](auto& c) { return c.federation.quorum; }, [](auto& c, int v) { c.federation.quorum = v; });
  addDouble(fed, "federation.bandwidth_mbps", tr("link bandwidth (Mbit/s)"), 0.0, 1e6, 1, [](auto& c) { return c.federation.bandwidth_mbps; },
            [](auto& c, double v) { c.federation.bandwidth_mbps = v; }, tr("link emulation; 0 = off"));
  addDouble(fed, "federation.latency_ms", tr("link latency (ms)"), 0.0, 1e5, 1, [](auto& c) { return c.federation.latency_ms; },
            [](auto& c, double v) { c.federation.latency_ms = v; });

  // Sites: local agents (started on this machine) or remote agents by address and key.
  auto* sitesBox = new QGroupBox(tr("Sites"));
  auto* sv = new QVBoxLayout(sitesBox);
  sites_ = new QTableWidget(0, 6);
  sites_->setHorizontalHeaderLabels({tr("site"), tr("where"), tr("public key"), tr("state"), tr("link Mbit/s"), tr("latency ms")});
  sites_->horizontalHeader()->setStretchLastSection(true);
  sites_->verticalHeader()->setVisible(false);
  // Only the per-site link emulation cells are editable (double-click); 0 = no emulation.
  sites_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
  sites_->setToolTip(tr("Double-click a site's link bandwidth or latency to emulate its WAN link"));
  connect(sites_, &QTableWidget::itemChanged, this, [this](QTableWidgetItem* item) {
    if (refreshingSites_ || (item->column() != 4 && item->column() != 5)) return;
    bool ok = false;
    const double v = item->text().toDouble(&ok);
    const int site = item->row();
    const bool bandwidth = item->column() == 4;
    if (!ok || v < 0) {
      QMessageBox::warning(this, tr("Invalid link setting"),
                           tr("Site %1: \"%2\" is not a non-negative number.").arg(site).arg(item->text()));
      QTimer::singleShot(0, this, [this] { refreshSites(); });
      return;
    }
    doc_->edit(tr("set site %1 link").arg(site), [&](ExperimentConfig& c) {
      auto& f = c.federation;
      auto& list = bandwidth ? f.site_bandwidth_mbps : f.site_latency_ms;
      if (static_cast<int>(list.size()) != f.sites) list.assign(static_cast<size_t>(f.sites), bandwidth ? f.bandwidth_mbps : f.latency_ms);
      if (site < static_cast<int>(list.size())) list[static_cast<size_t>(site)] = v;
    });
  });
  sites_->setMinimumHeight(150);
  sv->addWidget(sites_);
  auto* sb = new QHBoxLayout;
  auto* addRemote = new QPushButton(tr("Add remote site..."));
  auto* removeRemote = new QPushButton(tr("Remove remote site"));
  auto* allLocal = new QPushButton(tr("All local"));
  sb->addWidget(addRemote);
  sb->addWidget(removeRemote);
  sb->addWidget(allLocal);
  sb->addStretch(1);
  sv->addLayout(sb);
  grid->addWidget(sitesBox, 1, 0, 1, 3);
  connect(addRemote, &QPushButton::clicked, this, [this] {
    bool ok = false;
    const QString addr = QInputDialog::getText(this, tr("Remote site"), tr("Address (tcp://host:port):"), QLineEdit::Normal,
                                               "tcp://", &ok);
    if (!ok || addr.trimmed().isEmpty()) return;
    const QString key = QInputDialog::getText(this, tr("Remote site"), tr("Public key (Z85, 40 characters):"), QLineEdit::Normal,
                                              QString(), &ok);
    if (!ok) return;
    doc_->edit(tr("add remote site"), [&](ExperimentConfig& c) {
      c.federation.agents.push_back(RemoteAgent{addr.trimmed().toStdString(), key.trimmed().toStdString()});
      c.federation.sites = int(c.federation.agents.size());
    });
  });
  connect(removeRemote, &QPushButton::clicked, this, [this] {
    if (doc_->config().federation.agents.empty()) return;
    const int row = sites_->currentRow();
    doc_->edit(tr("remove remote site"), [&](ExperimentConfig& c) {
      const int i = row >= 0 && row < int(c.federation.agents.size()) ? row : int(c.federation.agents.size()) - 1;
      c.federation.agents.erase(c.federation.agents.begin() + i);
      if (!c.federation.agents.empty()) c.federation.sites = int(c.federation.agents.size());
    });
  });
  connect(allLocal, &QPushButton::clicked, this, [this] {
    doc_->edit(tr("all sites local"), [](ExperimentConfig& c) { c.federation.agents.clear(); });
  });

  // The sites table is where remote agents and per-site links are set: their messages mark it.
  {
    Field f;
    f.keys = QStringList{"federation.agents", "federation.site_bandwidth_mbps", "federation.site_latency_ms"};
    f.editor = sites_;
    f.reason = new QLabel;
    f.reason->setObjectName("invalidReason");
    f.reason->setWordWrap(true);
    f.reason->hide();
    sv->insertWidget(1, f.reason);
    f.tip = sites_->toolTip();
    fields_.push_back(f);
  }
  applyMethodRules();
  // An invalid value: a red frame at its field (the reason is the label under it).
  setStyleSheet("QLineEdit[invalid=\"true\"], QAbstractSpinBox[invalid=\"true\"], QComboBox[invalid=\"true\"], "
                "QTableWidget[invalid=\"true\"] { border: 2px solid #d7191c; border-radius: 3px; }");

  summary_ = new QLabel;
  summary_->setWordWrap(true);
  validation_ = new QLabel;
  validation_->setWordWrap(true);
  grid->addWidget(summary_, 2, 0, 1, 3);
  grid->addWidget(validation_, 3, 0, 1, 3);
  grid->setRowStretch(4, 1);
  connect(doc_, &ExperimentDocument::configChanged, this, &ConfigurePanel::refresh);
  refresh();
}

void ConfigurePanel::applyMethodRules() {
  // Fields that do not apply to the chosen method are disabled (their value is kept).
  auto federated = [](const ExperimentConfig& c) { return c.run.method != Method::Single; };
  auto rounds = [](const ExperimentConfig& c) { return c.run.method != Method::Single && c.run.method != Method::Ddp; };
  auto fomoe = [](const ExperimentConfig& c) { return c.run.method == Method::FoMoE; };
  auto outer = [](const ExperimentConfig& c) { return c.run.method == Method::DiLoCo || c.run.method == Method::FoMoE; };
  auto photon = [](const ExperimentConfig& c) { return c.run.method == Method::Photon; };
  for (const char* key : {"federation.sites", "federation.precision", "federation.quorum", "federation.bandwidth_mbps",
                          "federation.latency_ms", "federation.compression", "federation.topk", "federation.entropy_coding"})
    appliesWhen(key, tr("Not used by a single-site run."), federated);
  appliesWhen("federation.inner_steps", tr("DiLoCo, Photon and FoMoE only: DDP syncs every step."), rounds);
  appliesWhen("federation.down_compression", tr("DiLoCo, Photon and FoMoE only: DDP's gradients follow compression up."), rounds);
  appliesWhen("federation.down_topk", tr("DiLoCo, Photon and FoMoE only: DDP's gradients follow top-k up."), rounds);
  appliesWhen("federation.overlap", tr("DiLoCo, Photon and FoMoE only: DDP syncs every step."), rounds);
  appliesWhen("federation.fragments", tr("DiLoCo, Photon and FoMoE only: DDP syncs every step."), rounds);
  appliesWhen("federation.max_sites", tr("DiLoCo, Photon and FoMoE only: DDP's sites step in lockstep."), rounds);
  for (const char* key : {"federation.overlap_steps", "federation.overlap_mix"})
    appliesWhen(key, tr("Only with overlapped rounds."),
                [](const ExperimentConfig& c) { return c.run.method != Method::Single && c.run.method != Method::Ddp && c.federation.overlap; });
  appliesWhen("federation.error_feedback", tr("Only with compression or top-k up."), [](const ExperimentConfig& c) {
    return c.run.method != Method::Single && (c.federation.compression != Compression::None || c.federation.topk > 0);
  });
  appliesWhen("federation.error_feedback_decay", tr("Only with error feedback on compression or top-k up."), [](const ExperimentConfig& c) {
    return c.run.method != Method::Single && c.federation.error_feedback &&
           (c.federation.compression != Compression::None || c.federation.topk > 0);
  });
  for (const char* key : {"federation.replication", "federation.placement", "federation.expert_weighting"})
    appliesWhen(key, tr("FoMoE only: the other methods keep every expert on every site."), fomoe);
  appliesWhen("federation.replan_every", tr("FoMoE with load-aware or data-affinity placement only."), [](const ExperimentConfig& c) {
    return c.run.method == Method::FoMoE &&
           (c.federation.placement == PlacementPolicy::LoadAware || c.federation.placement == PlacementPolicy::Affinity);
  });
  for (const char* key : {"federation.outer_lr", "federation.expert_outer_lr", "federation.outer_momentum", "federation.nesterov"})
    appliesWhen(key, tr("DiLoCo and FoMoE only (Photon uses the server settings)."), outer);
  for (const char* key : {"federation.photon_server_lr", "federation.photon_server_momentum"})
    appliesWhen(key, tr("Photon only."), photon);
  appliesWhen("model.gate", tr("Only where a site lacks experts: FoMoE, or a single site with residency below 1."),
              [](const ExperimentConfig& c) {
                return c.run.method == Method::FoMoE || (c.run.method == Method::Single && c.model.residency < 1.0);
              });
  appliesWhen("data.split", tr("Not used by a single-site run."), federated);
  const auto builtin = [](const ExperimentConfig& c) { return c.data.format == DataFormat::Builtin; };
  appliesWhen("data.sources", tr("The built-in texts only."), builtin);
  appliesWhen("data.max_bytes", tr("Text sources only (token files are read as they are)."), [](const ExperimentConfig& c) {
    return c.data.format == DataFormat::Builtin || c.data.format == DataFormat::Text || c.data.format == DataFormat::Jsonl;
  });
  appliesWhen("data.path", tr("Token files only (format other than built-in)."), [](const ExperimentConfig& c) {
    return c.data.format != DataFormat::Builtin;
  });
  for (const char* key : {"data.text_field", "data.domain_field"})
    appliesWhen(key, tr("JSONL only."), [](const ExperimentConfig& c) { return c.data.format == DataFormat::Jsonl; });
  appliesWhen("data.separator", tr("Text files only."), [](const ExperimentConfig& c) { return c.data.format == DataFormat::Text; });
  appliesWhen("data.token_dtype", tr("Flat token arrays only (Megatron and llm.c files say their type)."),
              [](const ExperimentConfig& c) { return c.data.format == DataFormat::Tokens; });
  appliesWhen("data.eos_id", tr("Flat token arrays and llm.c shards only."), [](const ExperimentConfig& c) {
    return c.data.format == DataFormat::Tokens || c.data.format == DataFormat::Llmc;
  });
}

QFormLayout* ConfigurePanel::group(QWidget* parent, const QString& title, QLayout* into) {
  auto* box = new QGroupBox(title, parent);
  auto* f = new QFormLayout(box);
  f->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  f->setLabelAlignment(Qt::AlignRight);
  static_cast<QBoxLayout*>(into)->addWidget(box);
  return f;
}

QWidget* ConfigurePanel::addField(QFormLayout* f, const QString& key, const QString& label, QWidget* editor, const QString& tip) {
  // The editor and, under it, the reason it is invalid (hidden while valid).
  auto* cell = new QWidget;
  auto* v = new QVBoxLayout(cell);
  v->setContentsMargins(0, 0, 0, 0);
  v->setSpacing(2);
  v->addWidget(editor);
  auto* reason = new QLabel;
  reason->setObjectName("invalidReason");
  reason->setWordWrap(true);
  reason->hide();
  v->addWidget(reason);
  editor->setToolTip(tip);
  editor->setProperty("configKey", key);
  f->addRow(label, cell);
  Field field;
  field.keys = QStringList{key};
  field.editor = editor;
  field.reason = reason;
  field.label = qobject_cast<QLabel*>(f->labelForField(cell));
  field.tip = tip;
  fields_.push_back(field);
  return editor;
}

ConfigurePanel::Field* ConfigurePanel::field(const QString& key) {
  for (auto& f : fields_)
    if (f.keys.contains(key)) return &f;
  return nullptr;
}

void ConfigurePanel::appliesWhen(const QString& key, const QString& note, std::function<bool(const ExperimentConfig&)> applies) {
  Field* f = field(key);
  Q_ASSERT(f);
  f->applies = std::move(applies);
  f->appliesNote = note;
}

QSpinBox* ConfigurePanel::addInt(QFormLayout* f, const QString& key, const QString& label, int lo, int hi,
                                 std::function<int(const ExperimentConfig&)> get, std::function<void(ExperimentConfig&, int)> set,
                                 const QString& tip) {
  auto* w = new QSpinBox;
  w->setRange(lo, hi);
  w->setKeyboardTracking(false);
  const int mergeKey = nextKey_++;
  addField(f, key, label, w, tip);
  connect(w, &QSpinBox::valueChanged, this, [this, set, label, mergeKey](int v) {
    doc_->edit(tr("set %1").arg(label), [&](ExperimentConfig& c) { set(c, v); }, mergeKey);
  });
  refreshers_.push_back([this, w, get] {
    QSignalBlocker b(w);
    w->setValue(get(doc_->config()));
  });
  return w;
}

QDoubleSpinBox* ConfigurePanel::addDouble(QFormLayout* f, const QString& key, const QString& label, double lo, double hi, int decimals,
                                          std::function<double(const ExperimentConfig&)> get,
                                          std::function<void(ExperimentConfig&, double)> set, const QString& tip) {
  auto* w = new QDoubleSpinBox;
  w->setRange(lo, hi);
  w->setDecimals(decimals);
  w->setSingleStep(std::pow(10.0, -std::min(decimals, 3)) * (decimals > 2 ? 10 : 1));
  w->setKeyboardTracking(false);
  const int mergeKey = nextKey_++;
  addField(f, key, label, w, tip);
  connect(w, &QDoubleSpinBox::valueChanged, this, [this, set, label, mergeKey](double v) {
    doc_->edit(tr("set %1").arg(label), [&](ExperimentConfig& c) { set(c, v); }, mergeKey);
  });
  refreshers_.push_back([this, w, get] {
    QSignalBlocker b(w);
    w->setValue(get(doc_->config()));
  });
  return w;
}

void ConfigurePanel::addChoice(QFormLayout* f, const QString& key, const QString& label, const QStringList& items,
                               std::function<int(const ExperimentConfig&)> get, std::function<void(ExperimentConfig&, int)> set,
                               const QString& tip) {
  auto* w = new QComboBox;
  w->addItems(items);
  addField(f, key, label, w, tip);
  connect(w, &QComboBox::currentIndexChanged, this, [this, set, label](int v) {
    doc_->edit(tr("set %1").arg(label), [&](ExperimentConfig& c) { set(c, v); });
  });
  refreshers_.push_back([this, w, get] {
    QSignalBlocker b(w);
    w->setCurrentIndex(get(doc_->config()));
  });
}

void ConfigurePanel::addText(QFormLayout* f, const QString& key, const QString& label,
                             std::function<QString(const ExperimentConfig&)> get,
                             std::function<void(ExperimentConfig&, const QString&)> set, const QString& tip) {
  auto* w = new QLineEdit;
  addField(f, key, label, w, tip);
  auto commit = [this, w, set, get, label] {
    if (w->text() == get(doc_->config())) return;
    doc_->edit(tr("set %1").arg(label), [&](ExperimentConfig& c) { set(c, w->text()); });
  };
  fields_.back().commit = commit;
  connect(w, &QLineEdit::editingFinished, this, commit);
  refreshers_.push_back([this, w, get] {
    QSignalBlocker b(w);
    w->setText(get(doc_->config()));
  });
}

void ConfigurePanel::addCheck(QFormLayout* f, const QString& key, const QString& label, std::function<bool(const ExperimentConfig&)> get,
                              std::function<void(ExperimentConfig&, bool)> set, const QString& tip) {
  auto* w = new QCheckBox;
  addField(f, key, label, w, tip);
  connect(w, &QCheckBox::toggled, this, [this, set, label](bool v) {
    doc_->edit(tr("set %1").arg(label), [&](ExperimentConfig& c) { set(c, v); });
  });
  refreshers_.push_back([this, w, get] {
    QSignalBlocker b(w);
    w->setChecked(get(doc_->config()));
  });
}

void ConfigurePanel::commitPendingEdits() {
  for (auto& f : fields_) {
    if (!f.editor->hasFocus()) continue;
    if (auto* spin = qobject_cast<QAbstractSpinBox*>(f.editor)) spin->interpretText();  // emits valueChanged if typed
    if (f.commit) f.commit();
  }
}

QString ConfigurePanel::keyNamedIn(const QString& message) const {
  // The first key the message names is the one to fix ("model.top_k (6) exceeds model.n_experts").
  QString best;
  qsizetype bestAt = -1;
  for (const auto& f : fields_)
    for (const QString& key : f.keys)
      for (qsizetype at = message.indexOf(key); at >= 0; at = message.indexOf(key, at + 1)) {
        const qsizetype after = at + key.size();
        const bool whole = after >= message.size() || !(message[after].isLetterOrNumber() || message[after] == '_');
        if (!whole) continue;
        if (bestAt < 0 || at < bestAt) {
          bestAt = at;
          best = key;
        }
        break;
      }
  return best;
}

QString ConfigurePanel::invalidKey() const { return keyNamedIn(doc_->validationMessage()); }

QWidget* ConfigurePanel::editorFor(const QString& key) const {
  for (const auto& f : fields_)
    if (f.keys.contains(key)) return f.editor;
  return nullptr;
}

QLabel* ConfigurePanel::reasonFor(const QString& key) const {
  for (const auto& f : fields_)
    if (f.keys.contains(key)) return f.reason;
  return nullptr;
}

QString ConfigurePanel::summaryText() const { return summary_->text(); }

void ConfigurePanel::refresh() {
  for (auto& r : refreshers_) r();
  refreshSites();
  const auto& c = doc_->config();
  const QString msg = doc_->validationMessage();
  const QString badKey = keyNamedIn(msg);
  for (auto& f : fields_) {
    const bool applies = !f.applies || f.applies(c);
    f.editor->setEnabled(applies);
    if (f.label) f.label->setEnabled(applies);
    f.editor->setToolTip(applies || f.appliesNote.isEmpty() ? f.tip
                                                            : (f.tip.isEmpty() ? f.appliesNote : f.tip + "\n" + f.appliesNote));
    const bool invalid = !badKey.isEmpty() && f.keys.contains(badKey);
    if (f.editor->property("invalid").toBool() != invalid) {
      f.editor->setProperty("invalid", invalid);
      // A dynamic property only changes the style sheet's match after a re-polish.
      f.editor->style()->unpolish(f.editor);
      f.editor->style()->polish(f.editor);
    }
    f.reason->setText(invalid ? msg : QString());
    f.reason->setStyleSheet(QString("color: %1;").arg(errorColor().name()));
    f.reason->setVisible(invalid);
  }
  validation_->setText(msg.isEmpty() ? tr("✓ valid experiment") : tr("✗ %1").arg(msg));
  validation_->setStyleSheet(QString("color: %1; font-weight: bold;").arg((msg.isEmpty() ? okColor() : errorColor()).name()));
  if (!msg.isEmpty()) {
    // Numbers of a setup that cannot run would mislead: none until it is fixed.
    summary_->setText(badKey.isEmpty() ? tr("Fix the problem below to see the per-site parameters and bytes.")
                                       : tr("Fix the marked field to see the per-site parameters and bytes."));
    return;
  }
  const auto costs = ExperimentDocument::siteCosts(c, doc_->currentPlan());
  qint64 bytes = 0, params = 0;
  for (auto& s : costs) {
    bytes += s.bytesPerRound;
    params = std::max(params, s.params);
  }
  const int rounds = c.run.method == Method::Single ? 0 : (c.train.steps + round_steps(c.federation) - 1) / round_steps(c.federation);
  summary_->setText(c.run.method == Method::Single
                        ? tr("Single site: %1 steps of %2 tokens.").arg(c.train.steps).arg(c.train.batch_size * c.model.seq_len)
                        : tr("%1 sites × %2 steps (H = %3, %4 rounds). Largest site holds %5 parameters; %6 on the wire per "
                             "round (all links), %7 for the run.")
                              .arg(c.federation.sites).arg(c.train.steps).arg(c.federation.inner_steps).arg(rounds)
                              .arg(QLocale().toString(params)).arg(humanBytes(double(bytes)))
                              .arg(humanBytes(double(bytes) * rounds)));
}

void ConfigurePanel::changeEvent(QEvent* e) {
  if (e->type() == QEvent::PaletteChange) refresh();  // status colours follow the theme
  QWidget::changeEvent(e);
}

void ConfigurePanel::refreshSites() {
  refreshingSites_ = true;
  const auto& c = doc_->config();
  const int K = c.run.method == Method::Single ? 1 : c.federation.sites;
  states_.resize(K);
  sites_->setRowCount(K);
  for (int k = 0; k < K; ++k) {
    const bool remote = k < int(c.federation.agents.size());
    sites_->setItem(k, 0, new QTableWidgetItem(tr("site %1").arg(k)));
    sites_->setItem(k, 1, new QTableWidgetItem(remote ? QString::fromStdString(c.federation.agents[k].address)
                                                      : tr("local agent process")));
    sites_->setItem(k, 2, new QTableWidgetItem(remote ? QString::fromStdString(c.federation.agents[k].public_key)
                                                      : tr("generated per run")));
    const QString st = states_[k].isEmpty() ? tr("idle") : states_[k];
    auto* it = new QTableWidgetItem(st);
    it->setForeground(st == "dead" ? deadColor() : st == "training" ? okColor() : quietTextColor());
    if (st == "dead") {
      QFont f = it->font();
      f.setBold(true);
      it->setFont(f);
    }
    sites_->setItem(k, 3, it);
    for (int col = 0; col < 4; ++col) sites_->item(k, col)->setFlags(sites_->item(k, col)->flags() & ~Qt::ItemIsEditable);
    sites_->setItem(k, 4, new QTableWidgetItem(QString::number(site_bandwidth_mbps(c.federation, k))));
    sites_->setItem(k, 5, new QTableWidgetItem(QString::number(site_latency_ms(c.federation, k))));
  }
  sites_->resizeColumnsToContents();
  refreshingSites_ = false;
}

void ConfigurePanel::setSiteState(int site, const QString& state) {
  if (site < 0) return;
  if (site >= states_.size()) states_.resize(site + 1);
  if (states_[site] == "dead" && state != "connecting" && state != "idle") return;  // only a rejoin revives
  states_[site] = state;
  refreshSites();
}

QString ConfigurePanel::siteState(int site) const { return site >= 0 && site < states_.size() ? states_[site] : QString(); }

void ConfigurePanel::resetSiteStates(const QString& state) {
  for (auto& s : states_) s = state;
  refreshSites();
}

void ConfigurePanel::onRunEvent(const RunEvent& e) {
  const QString kind = QString::fromStdString(e.kind);
  if (kind == "site_joined" || kind == "site_rejoined") {
    if (e.site >= 0 && e.site < states_.size()) states_[e.site].clear();
    setSiteState(e.site, "idle");
  } else if (kind == "site_dead") {
    setSiteState(e.site, "dead");
  } else if (kind == "round_started") {
    for (int k = 0; k < states_.size(); ++k)
      if (states_[k] != "dead") states_[k] = "training";
    refreshSites();
  } else if (kind == "round_finished") {
    for (int k = 0; k < states_.size(); ++k)
      if (states_[k] != "dead") states_[k] = "idle";
    refreshSites();
  }
}

void ConfigurePanel::onLinkBytes(const QVector<LinkBytes>& links) {
  bool changed = false;
  for (const auto& l : links)
    if (l.direction == Direction::Received && l.site >= 0 && l.site < states_.size() && states_[l.site] == "training") {
      states_[l.site] = "reporting";
      changed = true;
    }
  if (changed) refreshSites();
}

}  // namespace fomoe::gui
