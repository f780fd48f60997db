#!/bin/bash
# Samples a capacity run's storm from outside: waits for "<target>: storm: killing" in
# the bench's log, then reads every chat instance's gauges from its /metrics every 5 s
# for about 5 minutes, and records the busiest survivor with py-spy (non-blocking,
# 40 s from 40 s after the kill).
#
#   bash bench/storm_sampler.sh OUT_DIR BENCH_LOG [TARGET]      # TARGET: eventlet
#
# OUT_DIR/gauges.tsv: seconds after the kill, worker pid, its %CPU since it started,
# then chat_socketio_connections, chat_gc_frozen_objects, chat_gc_deep_collections,
# the full collections' count and seconds, chat_socketio_handlers_waiting and
# chat_socketio_connects_waiting (an instance that does not answer in 3 s: no
# figures). OUT_DIR/survivor.raw: py-spy's collapsed stacks
# (`python -m bench.profile`'s summarize_collapsed reads them).
set -u
OUT=$1
LOG=$2
TARGET=${3:-eventlet}
PYSPY=${PYSPY:-$(dirname "$0")/../.venv/bin/py-spy}
mkdir -p "$OUT"
until grep -q "$TARGET: storm: killing" "$LOG"; do sleep 2; done
T0=$(date +%s)
sleep 1
declare -A PORT
for m in $(pgrep -f "gunicorn -c python:app.gunicorn_conf"); do
  p=$(tr '\0' '\n' < /proc/$m/environ 2>/dev/null | sed -n 's/^PORT=//p')
  w=$(pgrep -P "$m" | head -1)
  [ -n "$p" ] && [ -n "$w" ] && PORT[$w]=$p
done
recorded=0
for _ in $(seq 0 55); do
  now=$(( $(date +%s) - T0 ))
  for w in "${!PORT[@]}"; do
    kill -0 "$w" 2>/dev/null || continue
    cpu=$(ps -o pcpu= -p "$w")
    m=$(curl -s -m 3 "http://127.0.0.1:${PORT[$w]}/metrics" \
      | grep -E "^chat_socketio_(connections|handlers_waiting|connects_waiting) |^chat_gc_(deep_collections|frozen_objects) |^chat_gc_pause_seconds_(sum|count).generation=.2" \
      | awk '{printf "%s ", $2}')
    echo -e "$now\t$w\t$cpu\t$m" >> "$OUT/gauges.tsv"
  done
  if [ $recorded = 0 ] && [ "$now" -ge 40 ]; then
    top=$(for w in "${!PORT[@]}"; do kill -0 "$w" 2>/dev/null && echo "$(ps -o pcpu= -p "$w") $w"; done | sort -rn | head -1 | awk '{print $2}')
    "$PYSPY" record --nonblocking --rate 50 --duration 40 --format raw -o "$OUT/survivor.raw" --pid "$top" > "$OUT/pyspy.log" 2>&1 &
    recorded=1
  fi
  sleep 5
done
