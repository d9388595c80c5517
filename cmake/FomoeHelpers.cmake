# Project-wide compile flags and the one test helper.

function(fomoe_target_defaults target)
  target_compile_features(${target} PUBLIC cxx_std_17)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
    if(FOMOE_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
    if(FOMOE_SANITIZE)
      target_compile_options(${target} PRIVATE -fsanitize=${FOMOE_SANITIZE} -fno-omit-frame-pointer)
      target_link_options(${target} PRIVATE -fsanitize=${FOMOE_SANITIZE})
    endif()
  endif()
endfunction()

# The Qt side (bridge, widgets, gui tests, the workbench) can be built under a sanitizer of its
# own while the engine keeps its normal flags (FOMOE_SANITIZE_GUI=address, used by
# scripts/test-gui-asan): a heap corruption in the window fails CI, and the engine's objects
# still come from ccache.
set(FOMOE_SANITIZE_GUI "" CACHE STRING "Sanitizer for the Qt targets only: empty, address or undefined")
function(fomoe_gui_target_defaults target)
  fomoe_target_defaults(${target})
  if(FOMOE_SANITIZE_GUI AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -fsanitize=${FOMOE_SANITIZE_GUI} -fno-omit-frame-pointer -g)
    target_link_options(${target} PRIVATE -fsanitize=${FOMOE_SANITIZE_GUI})
  endif()
endfunction()

# Test code compiles at -O0: it only drives the engine's libraries (built -O3), and -O3 on
# gtest + LibTorch templates doubles each test's compile (39 s -> 22 s for test_compression.cpp),
# the largest part of a cold CI build. Marked so fomoe_torch_use_pch() gives it the -O0 header.
# -fPIC too, matching that header (at -O0 GCC rejects a -fPIC header in a -fPIE compile).
function(fomoe_test_target_defaults target)
  target_compile_options(${target} PRIVATE -O0 -fPIC)
  set_property(TARGET ${target} PROPERTY FOMOE_TEST_CODE ON)
endfunction()

# fomoe_add_test(name SOURCES ... LIBS ... LABELS unit|net|gpu|slow|gui [TIMEOUT s] [PREFIX p])
# One executable per module; each TEST becomes a CTest entry with the given labels, named
# PREFIX + Suite.Test (e.g. `cli/RunsCommand.ShowJson`, so `ctest -R cli` picks a group).
function(fomoe_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT;PREFIX" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_executable(${name} ${T_SOURCES})
  fomoe_target_defaults(${name})
  fomoe_test_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
  target_compile_definitions(${name} PRIVATE
    FOMOE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    FOMOE_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${name}
    TEST_PREFIX "${T_PREFIX}"
    PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    DISCOVERY_TIMEOUT 120)
endfunction()
