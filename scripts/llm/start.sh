#!/usr/bin/env bash
# Starts the local LLM server (OpenAI-compatible API, SmolLM2-135M, deterministic at
# temperature 0) on 127.0.0.1:<port>, installing it first if needed. Prints the base URL
# (http://127.0.0.1:<port>/v1) once it answers; writes its pid to <stack>/llm.pid.
#
# Usage: scripts/llm/start.sh [port]   (default: a free port)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STACK=${DL_STACK_DIR:-$ROOT/.stack}
MODEL=$("$HERE/install.sh")
PORT=${1:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')}
nohup "$STACK/llm-venv/bin/python" -m llama_cpp.server --model "$MODEL" --model_alias smollm2-135m \
  --host 127.0.0.1 --port "$PORT" --n_ctx 2048 --n_threads 2 --chat_format chatml \
  >"$STACK/llm-$PORT.log" 2>&1 &
echo $! >"$STACK/llm.pid"
for _ in $(seq 600); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/v1/models', timeout=1)" 2>/dev/null; then
    echo "http://127.0.0.1:$PORT/v1"; exit 0
  fi
  sleep 0.1
done
echo "the LLM server did not answer; see $STACK/llm-$PORT.log" >&2
exit 1
