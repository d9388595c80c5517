#include "chart_panel.h"

#include <QSvgGenerator>
#include <QDateTime>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMessageBox>
#include <QTextStream>
#include <QToolButton>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include "colors.h"

namespace fomoe::gui {

ChartPanel::ChartPanel(const QString& title, QWidget* parent) : QWidget(parent) {
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(4, 4, 4, 4);
  v->setSpacing(2);
  auto* bar = new QHBoxLayout;
  title_ = new QLabel(title);
  QFont f = title_->font();
  f.setBold(true);
  f.setPointSizeF(f.pointSizeF() * 1.1);
  title_->setFont(f);
  bar->addWidget(title_);
  bar->addStretch(1);
  controlsBox_ = new QWidget;
  controls_ = new QHBoxLayout(controlsBox_);
  controls_->setContentsMargins(0, 0, 0, 0);
  controls_->setSpacing(6);
  bar->addWidget(controlsBox_);
  titleBar_ = bar;
  exportButton_ = new QToolButton;
  exportButton_->setText(tr("Export"));
  exportButton_->setPopupMode(QToolButton::InstantPopup);
  auto* menu = new QMenu(exportButton_);
  menu->addAction(tr("Image (PNG)..."), this, [this] { exportDialog("png"); });
  menu->addAction(tr("Vector (PDF)..."), this, [this] { exportDialog("pdf"); });
  menu->addAction(tr("Vector (SVG)..."), this, [this] { exportDialog("svg"); });
  menu->addAction(tr("Data (CSV)..."), this, [this] { exportDialog("csv"); });
  exportButton_->setMenu(menu);
  bar->addWidget(exportButton_);
  v->addLayout(bar);
  wrapRow_ = new QHBoxLayout;  // the controls, when the title row has no room for them
  wrapRow_->addStretch(1);
  v->addLayout(wrapRow_);
  plot_ = new QCustomPlot(this);
  plot_->setMinimumSize(200, 160);
  plot_->setNoAntialiasingOnDrag(true);
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  styleAxes(plot_);
  v->addWidget(plot_, 1);
}

void ChartPanel::setTitle(const QString& title) {
  title_->setText(title);
  arrangeControls();
}

int ChartPanel::oneRowWidth() const {
  const QMargins m = layout()->contentsMargins();
  return m.left() + m.right() + title_->sizeHint().width() + controlsBox_->sizeHint().width() + exportButton_->sizeHint().width() +
         3 * titleBar_->spacing() + 12;
}

QSize ChartPanel::minimumSizeHint() const {
  // The narrowest arrangement: controls under the title (so a 1280-wide window holds every tab).
  const QMargins m = layout()->contentsMargins();
  const int titleRow = title_->sizeHint().width() + titleBar_->spacing() + exportButton_->sizeHint().width();
  const int width = std::max({titleRow, controlsBox_->minimumSizeHint().width(), plot_->minimumWidth()}) + m.left() + m.right();
  return QSize(width, QWidget::minimumSizeHint().height());
}

void ChartPanel::arrangeControls() {
  const bool oneRow = width() >= oneRowWidth();
  const bool inTitleRow = titleBar_->indexOf(controlsBox_) >= 0;
  if (oneRow == inTitleRow) return;
  if (oneRow) {
    wrapRow_->removeWidget(controlsBox_);
    titleBar_->insertWidget(2, controlsBox_);  // title, stretch, controls, Export
  } else {
    titleBar_->removeWidget(controlsBox_);
    wrapRow_->addWidget(controlsBox_);
  }
}

void ChartPanel::resizeEvent(QResizeEvent* e) {
  QWidget::resizeEvent(e);
  arrangeControls();
}

namespace {

// Re-applies the colours when the application palette changes (View > Dark theme, or the
// desktop's palette), so every chart follows without knowing about themes.
class PlotRecolorer : public QObject {
 public:
  using QObject::QObject;
  bool eventFilter(QObject* watched, QEvent* e) override {
    if (e->type() == QEvent::PaletteChange || e->type() == QEvent::ApplicationPaletteChange) {
      auto* plot = static_cast<QCustomPlot*>(watched);
      ChartPanel::applyColors(plot);
      plot->replot(QCustomPlot::rpQueuedReplot);
    }
    return false;
  }
};

void colorAxis(QCPAxis* a, const ChartColors& c) {
  const QPen axisPen(c.axis, 1);
  a->setBasePen(axisPen);
  a->setTickPen(axisPen);
  a->setSubTickPen(axisPen);
  a->setTickLabelColor(c.text);
  a->setLabelColor(c.text);
  a->grid()->setPen(QPen(c.grid, 1, Qt::SolidLine));
  a->grid()->setZeroLinePen(QPen(c.grid, 1, Qt::SolidLine));
}

}  // namespace

void ChartPanel::styleAxes(QCustomPlot* plot) {
  QFont tick = plot->font();
  tick.setPointSizeF(9);
  QFont label = tick;
  label.setPointSizeF(10);
  for (QCPAxis* a : {plot->xAxis, plot->yAxis}) {
    a->setTickLabelFont(tick);
    a->setLabelFont(label);
    a->grid()->setSubGridVisible(false);
  }
  plot->legend->setFont(tick);
  applyColors(plot);
  if (!plot->property("fomoeRecolors").toBool()) {
    plot->setProperty("fomoeRecolors", true);
    plot->installEventFilter(new PlotRecolorer(plot));
  }
}

void ChartPanel::applyColors(QCustomPlot* plot) {
  const ChartColors c = chartColors();
  plot->setBackground(c.background);
  for (QCPAxisRect* rect : plot->axisRects())
    for (QCPAxis* a : rect->axes()) colorAxis(a, c);
  for (QCPLayoutElement* el : plot->plotLayout()->elements(true))
    if (auto* scale = qobject_cast<QCPColorScale*>(el)) colorAxis(scale->axis(), c);
  plot->legend->setTextColor(c.text);
  // A legend moved under the plot (placeLegendBelow) stays frameless.
  if (plot->legend->borderPen().style() != Qt::NoPen) {
    plot->legend->setBrush(c.legendFill);
    plot->legend->setBorderPen(QPen(c.legendBorder));
  }
  for (int i = 0; i < plot->itemCount(); ++i)
    if (auto* t = qobject_cast<QCPItemText*>(plot->item(i)); t && t->property("fomoePlaceholder").toBool()) t->setColor(c.placeholder);
}

void ChartPanel::rescaleWithMargin(double fraction) {
  plot_->rescaleAxes();
  const QCPRange r = plot_->yAxis->range();
  const double pad = std::max(r.size() * fraction, 1e-9);
  plot_->yAxis->setRange(r.lower - pad, r.upper + pad);
}

void ChartPanel::placeLegendBelow() {
  QCPLegend* legend = plot_->legend;
  if (legend->layout() == plot_->plotLayout()) return;
  plot_->axisRect()->insetLayout()->take(legend);
  plot_->plotLayout()->addElement(plot_->plotLayout()->rowCount(), 0, legend);
  legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  legend->setBorderPen(Qt::NoPen);
  legend->setBrush(Qt::NoBrush);
  plot_->plotLayout()->setRowStretchFactor(plot_->plotLayout()->rowCount() - 1, 0.001);
  legend->setMargins(QMargins(4, 0, 4, 2));
  legend->setVisible(true);
}

void ChartPanel::setPlaceholder(const QString& text) {
  if (!placeholder_) {
    placeholder_ = new QCPItemText(plot_);
    placeholder_->setPositionAlignment(Qt::AlignCenter);
    placeholder_->position->setType(QCPItemPosition::ptAxisRectRatio);
    placeholder_->position->setCoords(0.5, 0.5);
    placeholder_->setProperty("fomoePlaceholder", true);  // recoloured with the palette
    placeholder_->setColor(chartColors().placeholder);
    QFont f = plot_->font();
    f.setPointSizeF(11);
    placeholder_->setFont(f);
    placeholder_->setClipToAxisRect(false);
  }
  placeholder_->setText(text);
  placeholder_->setVisible(!text.isEmpty());
}

bool ChartPanel::exportImage(const QString& path, QString* error) const {
  const QString ext = QFileInfo(path).suffix().toLower();
  bool ok = false;
  if (ext == "pdf") ok = plot_->savePdf(path);
  else if (ext == "svg") {
    // QCustomPlot draws onto any QPainter: an SVG generator gives a vector file.
    QSvgGenerator svg;
    svg.setFileName(path);
    svg.setSize(plot_->size());
    svg.setViewBox(QRect(QPoint(0, 0), plot_->size()));
    svg.setTitle(title_->text());
    svg.setDescription(provenance_);
    QCPPainter painter;
    ok = painter.begin(&svg);
    if (ok) {
      plot_->toPainter(&painter, plot_->width(), plot_->height());
      ok = painter.end();
    }
  }
  else if (ext == "jpg" || ext == "jpeg") ok = plot_->saveJpg(path);
  else ok = plot_->savePng(path, 0, 0, 2.0);
  if (!ok && error) *error = tr("cannot write %1").arg(path);
  return ok;
}

bool ChartPanel::exportCsv(const QString& path, QString* error) const {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) {
    if (error) *error = tr("cannot write %1: %2").arg(path, f.errorString());
    return false;
  }
  QTextStream out(&f);
  out << "# fomoe-workbench chart: " << title_->text() << "\n";
  out << "# exported: " << QDateTime::currentDateTime().toString(Qt::ISODate) << "\n";
  for (const QString& line : provenance_.split('\n', Qt::SkipEmptyParts)) out << "# " << line << "\n";
  out << "series,x,y\n";
  for (int i = 0; i < plot_->graphCount(); ++i) {
    QCPGraph* g = plot_->graph(i);
    const QString name = g->name().isEmpty() ? QString("graph%1").arg(i) : g->name();
    for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it)
      out << '"' << name << "\"," << QString::number(it->key, 'g', 12) << ',' << QString::number(it->value, 'g', 12) << "\n";
  }
  for (int i = 0; i < plot_->plottableCount(); ++i) {
    if (auto* m = qobject_cast<QCPColorMap*>(plot_->plottable(i))) {
      out << "# colour map " << m->name() << ": x,y,value\n";
      auto* d = m->data();
      for (int x = 0; x < d->keySize(); ++x)
        for (int y = 0; y < d->valueSize(); ++y) {
          double kx, vy;
          d->cellToCoord(x, y, &kx, &vy);
          out << '"' << m->name() << "\"," << kx << ',' << vy << ',' << d->cell(x, y) << "\n";
        }
    } else if (auto* b = qobject_cast<QCPBars*>(plot_->plottable(i))) {
      for (auto it = b->data()->constBegin(); it != b->data()->constEnd(); ++it)
        out << '"' << b->name() << "\"," << it->key << ',' << it->value << "\n";
    }
  }
  return true;
}

void ChartPanel::exportDialog(const QString& kind) {
  const QString filter = kind == "csv" ? tr("CSV (*.csv)") : kind == "pdf" ? tr("PDF (*.pdf)")
                         : kind == "svg" ? tr("SVG (*.svg)") : tr("PNG image (*.png)");
  QString base = title_->text().toLower().replace(QRegularExpression("[^a-z0-9]+"), "_");
  const QString path = QFileDialog::getSaveFileName(this, tr("Export %1").arg(title_->text()), base + "." + kind, filter);
  if (path.isEmpty()) return;
  QString error;
  bool ok = kind == "csv" ? exportCsv(path, &error) : exportImage(path, &error);
  if (ok && kind != "csv") {
    // The settings travel beside the image.
    QFile side(path + ".txt");
    if (side.open(QIODevice::WriteOnly | QIODevice::Text)) side.write(provenance_.toUtf8());
  }
  if (!ok) QMessageBox::warning(this, tr("Export failed"), error);
}

}  // namespace fomoe::gui
