# LibTorch from the pip `torch` wheel (scripts/install-deps puts it in .venv/; on a GPU server
# whatever python3 has torch). Wrapped once as the INTERFACE target fomoe::torch.
#
# Why not ${TORCH_LIBRARIES}: the wheel's CUDA libraries (cudart, NCCL, cuDNN, ...) live in
# site-packages/nvidia/*/lib and libtorch_cuda.so carries no RUNPATH to them (Python preloads
# them on import). TORCH_LIBRARIES would link the system CUDA toolkit's older copies instead.
# So we link the torch libraries directly and give executables an RPATH (old dtags, so it also
# serves libtorch_cuda's own dependencies) over torch/lib and the nvidia/*/lib folders.
if(NOT Torch_DIR)
  foreach(_py "${PROJECT_SOURCE_DIR}/.venv/bin/python" python3)
    execute_process(COMMAND "${_py}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc ERROR_QUIET)
    if(_rc EQUAL 0)
      list(APPEND CMAKE_PREFIX_PATH "${_torch_prefix}")
      break()
    endif()
  endforeach()
endif()
find_package(Torch REQUIRED)

get_filename_component(_torch_root "${TORCH_INSTALL_PREFIX}" ABSOLUTE)
set(_torch_lib "${_torch_root}/lib")
get_filename_component(_site "${_torch_root}/.." ABSOLUTE)
file(GLOB _nvidia_libdirs LIST_DIRECTORIES true "${_site}/nvidia/*/lib")
set(FOMOE_TORCH_RPATH "${_torch_lib}" ${_nvidia_libdirs})

add_library(fomoe_torch INTERFACE)
add_library(fomoe::torch ALIAS fomoe_torch)
target_include_directories(fomoe_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(fomoe_torch INTERFACE ${_torch_flags})
# LibTorch >= 2.10 headers need C++20; our own code stays C++17, only torch users build as C++20.
target_compile_features(fomoe_torch INTERFACE cxx_std_20)
set(_libs "${_torch_lib}/libtorch.so" "${_torch_lib}/libtorch_cpu.so" "${_torch_lib}/libc10.so")
if(EXISTS "${_torch_lib}/libtorch_cuda.so")
  # Linked even when unused so the CUDA backend registers itself at start-up when a GPU is there.
  list(APPEND _libs "-Wl,--no-as-needed,${_torch_lib}/libtorch_cuda.so,${_torch_lib}/libc10_cuda.so,--as-needed")
  set(FOMOE_TORCH_HAS_CUDA ON)
  # Lets code use c10/cuda (allocator stats, streams, pinned memory) where the LibTorch has it.
  target_compile_definitions(fomoe_torch INTERFACE FOMOE_TORCH_CUDA=1)
  # c10/cuda and ATen/cuda headers include cuda.h / cuda_runtime.h: the toolkit's (complete), else
  # the wheel's when it ships a complete set (some lack crt/).
  find_path(FOMOE_CUDA_INCLUDE_DIR crt/host_config.h
    PATHS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include "${_site}/nvidia/cu13/include" "${_site}/nvidia/cuda_runtime/include"
    NO_DEFAULT_PATH)
  if(FOMOE_CUDA_INCLUDE_DIR)
    target_include_directories(fomoe_torch SYSTEM INTERFACE "${FOMOE_CUDA_INCLUDE_DIR}")
  endif()
  find_path(FOMOE_NCCL_INCLUDE_DIR nccl.h PATHS "${_site}/nvidia/nccl/include" "${_site}/nvidia/cu13/include" NO_DEFAULT_PATH)
endif()
# Some torch wheels (2.5 to 2.11 at least, pytorch#133437) export the std::filesystem code they
# link statically; if libtorch comes before libstdc++ in an executable's NEEDED list, calls such
# as std::filesystem::remove_all bind to torch's broken copy and crash. Naming libstdc++ first
# makes the dynamic linker find the real one.
target_link_libraries(fomoe_torch INTERFACE "-Wl,--push-state,--no-as-needed" stdc++ "-Wl,--pop-state" ${_libs} Threads::Threads)
target_link_options(fomoe_torch INTERFACE "-Wl,--disable-new-dtags")
foreach(_d ${FOMOE_TORCH_RPATH})
  target_link_options(fomoe_torch INTERFACE "-Wl,-rpath,${_d}" "-Wl,-rpath-link,${_d}")
endforeach()
# Gloo's headers (see scripts/install-deps): .deps/gloo here, or any include dir holding gloo/.
find_path(FOMOE_GLOO_INCLUDE_DIR gloo/algorithm.h PATHS "${PROJECT_SOURCE_DIR}/.deps/gloo/usr/include" NO_DEFAULT_PATH)
message(STATUS "fomoe: Gloo headers for c10d: ${FOMOE_GLOO_INCLUDE_DIR}")
message(STATUS "fomoe: LibTorch ${Torch_VERSION} from ${_torch_root} (CUDA build: ${FOMOE_TORCH_HAS_CUDA}, nccl.h: ${FOMOE_NCCL_INCLUDE_DIR})")

# One precompiled <torch/torch.h> (~25 s of parsing per translation unit on its own) shared by
# every target that compiles against LibTorch: fomoe_torch_use_pch() (called once at the end of
# the top-level CMakeLists) gives each target with a source that includes LibTorch the header
# REUSE_FROM fomoe_torch_pch, and marks its other sources SKIP_PRECOMPILE_HEADERS, so torch-free
# code keeps its fast compile. -fpch-preprocess lets ccache hash the .gch (sloppiness in
# scripts/build), so fresh clones still hit the cache.
file(WRITE "${CMAKE_BINARY_DIR}/fomoe_torch_pch.cpp" "// The precompiled <torch/torch.h> (cmake/FomoeTorch.cmake).\n")
add_library(fomoe_torch_pch STATIC "${CMAKE_BINARY_DIR}/fomoe_torch_pch.cpp")
target_link_libraries(fomoe_torch_pch PUBLIC fomoe_torch)
target_precompile_headers(fomoe_torch_pch PRIVATE <torch/torch.h>)
# The same header at -O0 for test code (fomoe_test_target_defaults): GCC refuses a header
# precompiled at another optimization level.
file(WRITE "${CMAKE_BINARY_DIR}/fomoe_torch_pch_tests.cpp" "// The precompiled <torch/torch.h> for tests, at -O0.\n")
add_library(fomoe_torch_pch_tests STATIC "${CMAKE_BINARY_DIR}/fomoe_torch_pch_tests.cpp")
target_link_libraries(fomoe_torch_pch_tests PUBLIC fomoe_torch)
target_precompile_headers(fomoe_torch_pch_tests PRIVATE <torch/torch.h>)
target_compile_options(fomoe_torch_pch_tests PRIVATE -O0)
if(CCACHE_PROGRAM)
  target_compile_options(fomoe_torch_pch PRIVATE -fpch-preprocess)
  target_compile_options(fomoe_torch_pch_tests PRIVATE -fpch-preprocess)
endif()

# Our headers that include LibTorch: a source including one of them compiles torch too.
set(FOMOE_TORCH_INCLUDE_REGEX
    "#include [<\"](torch/|ATen/|fomoe/model/(moe_options|moe_layer|transformer)\\.h|fomoe/federation/(tensor_wire|global_model)\\.h|fomoe/train/(autocast_scope|data_feed|trainer)\\.h)")

function(_fomoe_targets_below dir out)
  get_property(_targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  get_property(_subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(_sub ${_subdirs})
    _fomoe_targets_below("${_sub}" _more)
    list(APPEND _targets ${_more})
  endforeach()
  set(${out} ${_targets} PARENT_SCOPE)
endfunction()

function(fomoe_torch_use_pch)
  _fomoe_targets_below("${PROJECT_SOURCE_DIR}" _all)
  foreach(_t ${_all})
    if(_t MATCHES "^fomoe_torch_pch(_tests)?$")
      continue()
    endif()
    get_target_property(_type ${_t} TYPE)
    if(NOT _type MATCHES "^(STATIC_LIBRARY|SHARED_LIBRARY|OBJECT_LIBRARY|EXECUTABLE)$")
      continue()
    endif()
    get_target_property(_own ${_t} PRECOMPILE_HEADERS)  # CLI11's (app/CMakeLists.txt) stays
    if(_own)
      continue()
    endif()
    get_target_property(_srcs ${_t} SOURCES)
    get_target_property(_dir ${_t} SOURCE_DIR)
    set(_torch_srcs "")
    set(_plain_srcs "")
    foreach(_s ${_srcs})
      if(NOT _s MATCHES "\\.cpp$")
        continue()
      endif()
      if(NOT IS_ABSOLUTE "${_s}")
        set(_s "${_dir}/${_s}")
      endif()
      if(NOT EXISTS "${_s}")  # generated at build time (Qt resources): never LibTorch
        list(APPEND _plain_srcs "${_s}")
        continue()
      endif()
      file(STRINGS "${_s}" _hits REGEX "${FOMOE_TORCH_INCLUDE_REGEX}" LIMIT_COUNT 1)
      if(_hits)
        list(APPEND _torch_srcs "${_s}")
      else()
        list(APPEND _plain_srcs "${_s}")
      endif()
    endforeach()
    if(NOT _torch_srcs)
      continue()
    endif()
    get_target_property(_test_code ${_t} FOMOE_TEST_CODE)
    if(_test_code)
      target_precompile_headers(${_t} REUSE_FROM fomoe_torch_pch_tests)
    else()
      target_precompile_headers(${_t} REUSE_FROM fomoe_torch_pch)
    endif()
    if(CCACHE_PROGRAM)
      target_compile_options(${_t} PRIVATE -fpch-preprocess)
    endif()
    if(_plain_srcs)
      set_source_files_properties(${_plain_srcs} TARGET_DIRECTORY ${_t} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
  endforeach()
endfunction()
