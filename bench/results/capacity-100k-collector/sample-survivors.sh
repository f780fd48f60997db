#!/bin/bash
OUT=/tmp/cap-watch
LOG=$1
until grep -q "eventlet: storm: killing" $LOG; do sleep 2; done
T0=$(date +%s)
sleep 1
declare -A PORT
for m in $(pgrep -f "gunicorn -c python:app.gunicorn_conf" ); do
  p=$(tr '\0' '\n' < /proc/$m/environ 2>/dev/null | sed -n 's/^PORT=//p')
  w=$(pgrep -P $m | head -1)
  [ -n "$p" ] && [ -n "$w" ] && PORT[$w]=$p
done
echo "${!PORT[@]} -> ${PORT[@]}" > $OUT/workers
recorded=0
for i in $(seq 0 55); do
  now=$(( $(date +%s) - T0 ))
  for w in "${!PORT[@]}"; do
    kill -0 $w 2>/dev/null || continue
    cpu=$(ps -o pcpu= -p $w)
    m=$(curl -s -m 3 http://127.0.0.1:${PORT[$w]}/metrics | grep -E "^chat_socketio_(connections|handlers_waiting|connects_waiting) |^chat_gc_(deep_collections|frozen_objects) |^chat_gc_pause_seconds_(sum|count).generation=.2" | awk '{printf "%s ", $2}')
    echo -e "$now\t$w\t$cpu\t$m" >> $OUT/metrics.tsv
  done
  if [ $recorded = 0 ] && [ $now -ge 40 ]; then
    top=$(for w in "${!PORT[@]}"; do kill -0 $w 2>/dev/null && echo "$(ps -o pcpu= -p $w) $w"; done | sort -rn | head -1 | awk '{print $2}')
    echo $top > $OUT/recorded_pid
    /tmp/cap-final/.venv/bin/py-spy record --nonblocking --rate 50 --duration 40 --format raw -o $OUT/survivor.raw --pid $top > $OUT/pyspy.log 2>&1 &
    recorded=1
  fi
  sleep 5
done
