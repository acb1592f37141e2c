# Warning flags for the project's own targets (tests, benchmarks, examples); never for consumers.
include_guard(GLOBAL)

add_library(specdec_warnings INTERFACE)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(specdec_warnings INTERFACE
    "$<$<COMPILE_LANGUAGE:CXX>:-Wall;-Wextra;-Wpedantic>"
    "$<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${SPECDEC_WARNINGS_AS_ERRORS}>>:-Werror>")
endif()
# nvcc's generated host code trips -Wpedantic, so CUDA sources get their own set: the host compiler's
# -Wall -Wextra, and nvcc's own diagnostics promoted to errors.
target_compile_options(specdec_warnings INTERFACE
  "$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>"
  "$<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${SPECDEC_WARNINGS_AS_ERRORS}>>:--Werror=all-warnings>")

add_library(specdec_sanitizers INTERFACE)
if(SPECDEC_SANITIZE)
  target_compile_options(specdec_sanitizers INTERFACE
    "$<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined;-fno-sanitize-recover=all;-fno-omit-frame-pointer>")
  target_link_options(specdec_sanitizers INTERFACE "-fsanitize=address,undefined")
  # Statistical tests shrink their sample counts under the sanitizers: that tier checks memory safety.
  target_compile_definitions(specdec_sanitizers INTERFACE SPECDEC_SANITIZE_BUILD=1)
endif()
