// TopologyView: the coordinator in the middle, the sites around it; each edge's width and
// label give the bytes of the last round and the cumulative bytes of that link. Dead sites red.
#pragma once

#include <QVector>
#include <QWidget>

namespace fomoe::gui {

class RunData;

class TopologyView : public QWidget {
  Q_OBJECT
 public:
  explicit TopologyView(QWidget* parent = nullptr);
  void setData(RunData* data);
  QSize sizeHint() const override { return {420, 360}; }

 public slots:
  void refresh();

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  RunData* data_ = nullptr;
  struct Link {
    double lastRound = 0, total = 0;
    bool dead = false;
  };
  QVector<Link> links_;
  int lastRound_ = -1;
};

}  // namespace fomoe::gui
