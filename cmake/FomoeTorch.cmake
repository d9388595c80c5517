# LibTorch from the project's virtual environment (scripts/install-deps puts the pip `torch`
# wheel there). Wrapped once as the INTERFACE target fomoe::torch.
if(NOT Torch_DIR AND NOT CMAKE_PREFIX_PATH MATCHES "torch")
  set(_fomoe_py "${PROJECT_SOURCE_DIR}/.venv/bin/python")
  if(EXISTS "${_fomoe_py}")
    execute_process(COMMAND "${_fomoe_py}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc)
    if(_rc EQUAL 0)
      list(APPEND CMAKE_PREFIX_PATH "${_torch_prefix}")
    endif()
  endif()
endif()
find_package(Torch REQUIRED)
add_library(fomoe_torch INTERFACE)
add_library(fomoe::torch ALIAS fomoe_torch)
target_link_libraries(fomoe_torch INTERFACE ${TORCH_LIBRARIES})
separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(fomoe_torch INTERFACE ${_torch_flags})
