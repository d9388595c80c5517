// ChartPanel: one QCustomPlot with a title bar, room for controls, and export of the chart
// (PNG, PDF, SVG where Qt SVG is present) and of its data as CSV with the run ids and settings
// written beside it. Every chart in the workbench is one of these. The controls wrap under the
// title when the panel is narrow.
#pragma once

#include <QHBoxLayout>
#include <QLabel>
#include <QString>
#include <QWidget>

class QCustomPlot;
class QCPItemText;
class QToolButton;

namespace fomoe::gui {

class ChartPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ChartPanel(const QString& title, QWidget* parent = nullptr);

  QCustomPlot* plot() const { return plot_; }
  QHBoxLayout* controls() const { return controls_; }
  void setTitle(const QString& title);
  QString title() const { return title_->text(); }
  /// Written as "# ..." lines at the top of the CSV (run ids, settings).
  void setProvenance(const QString& text) { provenance_ = text; }
  QString provenance() const { return provenance_; }
  /// A short message drawn over an empty chart ("waiting for the first round").
  void setPlaceholder(const QString& text);

  bool exportImage(const QString& path, QString* error = nullptr) const;
  /// Every graph's (x, y) and every colour map's cells, one row per point.
  bool exportCsv(const QString& path, QString* error = nullptr) const;
  /// Applies the workbench look (fonts, grid, legend) to a plot.
  /// Re-applied by itself when the application palette changes (dark theme).
  static void styleAxes(QCustomPlot* plot);
  /// The palette-dependent part of styleAxes: background, axes, grid, text, legend, placeholder.
  static void applyColors(QCustomPlot* plot);
  /// rescaleAxes() plus a margin on the value axis, so markers at the extremes are not clipped.
  void rescaleWithMargin(double fraction = 0.05);
  /// Moves the legend out of the axis rect into one row under it (busy charts).
  void placeLegendBelow();
  /// Export > Image / PDF / SVG / CSV: asks for a file name and writes it ("png", "pdf", "svg", "csv").
  void exportDialog(const QString& kind);

  QSize minimumSizeHint() const override;

 protected:
  void resizeEvent(QResizeEvent* e) override;

 private:
  /// Controls beside the title when the row has room, else on a row of their own under it.
  void arrangeControls();
  int oneRowWidth() const;

  QLabel* title_;
  QHBoxLayout* titleBar_;
  QHBoxLayout* wrapRow_;
  QWidget* controlsBox_;
  QHBoxLayout* controls_;
  QCustomPlot* plot_;
  QToolButton* exportButton_;
  QString provenance_;
  QCPItemText* placeholder_ = nullptr;
};

}  // namespace fomoe::gui
