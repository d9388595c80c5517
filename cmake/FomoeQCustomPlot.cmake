# Debian's QCustomPlot built for Qt 6 (CMake package QCustomPlotQt6), wrapped once.
find_package(QCustomPlotQt6 REQUIRED)
add_library(fomoe_qcustomplot INTERFACE)
add_library(fomoe::qcustomplot ALIAS fomoe_qcustomplot)
target_link_libraries(fomoe_qcustomplot INTERFACE QCustomPlotQt6::QCustomPlotQt6)
target_compile_definitions(fomoe_qcustomplot INTERFACE QCUSTOMPLOT_USE_LIBRARY)
