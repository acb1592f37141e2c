# Sourced by the scripts: finds nvcc in its default location when it is not on PATH, so that
# SPECDEC_ENABLE_CUDA=AUTO sees it (CI runs with a minimal environment).
if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi
