// LossChart: training loss per site and the global model's held-out loss. The x axis switches
// between step, round, tokens, wall time and bytes sent; an unbiased centred smoothing
// (smoothing.h) is drawn over the faint raw series. Dead sites are drawn red and named so.
#pragma once

#include <QVector>

#include "bridge/run_data.h"
#include "chart_panel.h"

class QComboBox;
class QSlider;

namespace fomoe::gui {


class LossChart : public ChartPanel {
  Q_OBJECT
 public:
  using XAxis = fomoe::gui::XAxis;
  explicit LossChart(QWidget* parent = nullptr);

  void setData(RunData* data);
  void setXAxis(XAxis axis);
  XAxis xAxis() const { return xAxis_; }
  void setSmoothing(double alpha);  // 0 = off, 0.99 = strong
  /// Raw + smoothed graphs of one site (site -1 = held-out loss) from given points; refresh()
  /// calls it and the bench feeds it store-downsampled data directly.
  void setSiteSeries(int site, const QVector<double>& x, const QVector<double>& y, bool dead);
  /// Same with the smoothed series given (x2, y2), e.g. computed before decimation.
  void setSiteSeries(int site, const QVector<double>& x, const QVector<double>& y, const QVector<double>& x2,
                     const QVector<double>& y2, bool dead);
  /// Series longer than this are drawn as a min/max envelope of about half as many chunks.
  static constexpr int kMaxDrawnPoints = 4000;
  /// Points in the raw graph of a site (-1 = held-out), -1 if none. For tests.
  int pointCount(int site) const;

 public slots:
  void refresh();

 private:
  void fillFrom(int site, const Series& s, bool dead);
  RunData* data_ = nullptr;
  XAxis xAxis_ = XAxis::Step;
  double smoothing_ = 0.6;
  QComboBox* axisBox_;
  QSlider* smoothSlider_;
};

}  // namespace fomoe::gui
