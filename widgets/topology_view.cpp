#include "topology_view.h"

#include <QPainter>
#include <QtMath>

#include "bridge/run_data.h"
#include "bridge/store_model.h"
#include "colors.h"

namespace fomoe::gui {

TopologyView::TopologyView(QWidget* parent) : QWidget(parent) {
  setMinimumSize(300, 260);
  setAutoFillBackground(true);
  QPalette p = palette();
  p.setColor(QPalette::Window, Qt::white);
  setPalette(p);
}

void TopologyView::setData(RunData* data) {
  if (data_) disconnect(data_, nullptr, this, nullptr);
  data_ = data;
  if (data_) connect(data_, &RunData::changed, this, &TopologyView::refresh);
  refresh();
}

void TopologyView::refresh() {
  links_.clear();
  lastRound_ = -1;
  if (data_) {
    const int K = data_->nSites();
    links_.resize(K);
    for (const auto& l : data_->links()) lastRound_ = std::max(lastRound_, l.round);
    for (const auto& l : data_->links()) {
      if (l.site < 0 || l.site >= K) continue;
      links_[l.site].total += double(l.bytes);
      if (l.round == lastRound_) links_[l.site].lastRound += double(l.bytes);
    }
    for (int k = 0; k < K; ++k) links_[k].dead = data_->isDead(k);
  }
  update();
}

void TopologyView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  const QRectF r = rect().adjusted(10, 10, -10, -10);
  QFont title = font();
  title.setBold(true);
  title.setPointSizeF(title.pointSizeF() * 1.1);
  p.setFont(title);
  p.setPen(Qt::black);
  p.drawText(r.adjusted(0, 0, 0, 0), Qt::AlignLeft | Qt::AlignTop,
             lastRound_ >= 0 ? tr("Topology — bytes per link (round %1 / cumulative)").arg(lastRound_) : tr("Topology"));
  const int K = links_.size();
  const QPointF c = r.center() + QPointF(0, 10);
  // An ellipse that uses the whole panel, so edges are long enough for their labels.
  const double rx = std::max(60.0, r.width() / 2 - 40), ry = std::max(50.0, (r.height() - 30) / 2 - 30);
  double maxRound = 1;
  for (const auto& l : links_) maxRound = std::max(maxRound, l.lastRound);
  QFont small = font();
  small.setPointSizeF(8.5);
  for (int k = 0; k < K; ++k) {
    const double a = -M_PI / 2 + 2 * M_PI * k / std::max(1, K);
    const QPointF s = c + QPointF(std::cos(a) * rx, std::sin(a) * ry);
    const Link& l = links_[k];
    const double w = l.lastRound > 0 ? 1.5 + 10.0 * std::sqrt(l.lastRound / maxRound) : 1.0;
    QColor col = l.dead ? deadColor() : withAlpha(siteColor(k), 170);
    QPen pen(col, w, l.dead ? Qt::DashLine : Qt::SolidLine, Qt::RoundCap);
    p.setPen(pen);
    p.drawLine(c, s);
    // Edge label at the middle.
    const QPointF m = (c + s) / 2;
    p.setFont(small);
    const QString label = l.dead ? tr("dead\n%1 total").arg(humanBytes(l.total))
                                 : tr("%1 / round\n%2 total").arg(humanBytes(l.lastRound), humanBytes(l.total));
    const QFontMetrics fm(small);
    const double bw = std::max(fm.horizontalAdvance(label.section('\n', 0, 0)), fm.horizontalAdvance(label.section('\n', 1, 1))) + 10;
    QRectF box(m.x() - bw / 2, m.y() - fm.height() - 2, bw, 2 * fm.height() + 4);
    p.setPen(Qt::NoPen);
    p.setBrush(QColor(255, 255, 255, 220));
    p.drawRoundedRect(box, 4, 4);
    p.setPen(l.dead ? deadColor() : QColor(40, 40, 40));
    p.drawText(box, Qt::AlignCenter, label);
    // Site node.
    p.setBrush(l.dead ? deadColor() : siteColor(k));
    p.setPen(QPen(Qt::white, 2));
    p.drawEllipse(s, 22, 22);
    p.setPen(Qt::white);
    QFont nf = font();
    nf.setBold(true);
    p.setFont(nf);
    p.drawText(QRectF(s.x() - 22, s.y() - 22, 44, 44), Qt::AlignCenter, tr("S%1").arg(k));
  }
  p.setBrush(QColor(50, 50, 60));
  p.setPen(QPen(Qt::white, 2));
  p.drawEllipse(c, 30, 30);
  p.setPen(Qt::white);
  QFont cf = font();
  cf.setBold(true);
  cf.setPointSizeF(8.5);
  p.setFont(cf);
  p.drawText(QRectF(c.x() - 30, c.y() - 30, 60, 60), Qt::AlignCenter, tr("coord."));
  if (K == 0) {
    p.setPen(QColor(140, 140, 140));
    p.setFont(font());
    p.drawText(r, Qt::AlignCenter | Qt::AlignBottom, tr("no link traffic yet"));
  }
}

}  // namespace fomoe::gui
