// Smoothing for loss curves that never biases them: a centred moving average whose window
// shrinks symmetrically at both ends, so a straight trend comes out unchanged everywhere and the
// newest point of a live curve is drawn where it was measured. (A trailing EMA lags a falling
// loss and draws it 0.1-0.2 nats above the data.) `strength` is the slider's 0..0.99; the window
// matches an EMA of that alpha in span: half-width round((1 + a) / (1 - a) / 2).
#pragma once

#include <vector>

namespace fomoe::gui {

int smoothingHalfWidth(double strength);
std::vector<double> centredSmooth(const std::vector<double>& y, double strength);

}  // namespace fomoe::gui
