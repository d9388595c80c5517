// bf16 autocast on CUDA for a scope; nothing on CPU (fp32 there). Training, evaluation and the
// throughput benchmark all run under it, so they measure the same precision.
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/Device.h>

namespace fomoe {

class AutocastScope {
 public:
  explicit AutocastScope(const c10::Device& device) : enabled_(device.is_cuda()) {
    if (!enabled_) return;
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
  }
  ~AutocastScope() {
    if (!enabled_) return;
    at::autocast::set_autocast_enabled(at::kCUDA, false);
    at::autocast::clear_cache();
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_;
};

}  // namespace fomoe
