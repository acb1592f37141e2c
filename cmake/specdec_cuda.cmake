# SPECDEC_ENABLE_CUDA = AUTO | ON | OFF decides whether the CUDA tests and benchmarks are built.
# The library target itself never needs CUDA: only translation units that include specdec/cuda/ do.
include_guard(GLOBAL)

macro(specdec_configure_cuda)
  set(SPECDEC_CUDA_ENABLED OFF)
  if(SPECDEC_ENABLE_CUDA STREQUAL "AUTO")
    include(CheckLanguage)
    check_language(CUDA)
    if(CMAKE_CUDA_COMPILER)
      set(SPECDEC_CUDA_ENABLED ON)
    else()
      message(STATUS "specdec: no CUDA compiler found; CUDA tests and benchmarks are off")
    endif()
  elseif(SPECDEC_ENABLE_CUDA)
    set(SPECDEC_CUDA_ENABLED ON)
  endif()

  if(SPECDEC_CUDA_ENABLED)
    # `native` fails on a machine without a GPU (CI); Ampere and Hopper cover the engines' targets.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
      set(CMAKE_CUDA_ARCHITECTURES "80;90")
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    message(STATUS "specdec: CUDA ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}")
  endif()
endmacro()

# Makes `target` compile its .cu sources as C++20. CUDA_STANDARD 20 is broken on CMake 3.25.1
# (fixed in 3.25.2), so older CMake gets the flag by hand.
function(specdec_cuda_cxx20 target)
  if(CMAKE_VERSION VERSION_LESS 3.25.2)
    target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>")
  else()
    set_target_properties(${target} PROPERTIES CUDA_STANDARD 20 CUDA_STANDARD_REQUIRED ON)
  endif()
endfunction()
