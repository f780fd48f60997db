#!/bin/bash
# Waits for the eventlet storm in the bench log, then samples the instances' gauges
# and records one survivor with py-spy (non-blocking) for 30 s from 45 s after the kill.
OUT=/tmp/storm-watch2
until grep -q "eventlet: storm: killing" the bench log; do sleep 2; done
T0=$(date +%s)
date -u +%T > $OUT/killed_at
sleep 1
declare -A PORT
for m in $(pgrep -f "gunicorn -c python:app.gunicorn_conf" ); do
  p=$(tr '\0' '\n' < /proc/$m/environ 2>/dev/null | sed -n 's/^PORT=//p')
  w=$(pgrep -P $m | head -1)
  [ -n "$p" ] && [ -n "$w" ] && PORT[$w]=$p
done
echo "${!PORT[@]} -> ${PORT[@]}" > $OUT/workers
recorded=0
for i in $(seq 0 60); do
  now=$(( $(date +%s) - T0 ))
  for w in "${!PORT[@]}"; do
    kill -0 $w 2>/dev/null || continue
    cpu=$(ps -o pcpu= -p $w)
    m=$(curl -s -m 3 http://127.0.0.1:${PORT[$w]}/metrics | grep -E "^chat_socketio_(connections|direct_websockets|handlers_waiting) " | awk '{printf "%s ", $2}')
    echo -e "$now\t$w\t$cpu\t$m" >> $OUT/metrics.tsv
  done
  if [ $recorded = 0 ] && [ $now -ge 45 ]; then
    top=$(for w in "${!PORT[@]}"; do kill -0 $w 2>/dev/null && echo "$(ps -o pcpu= -p $w) $w"; done | sort -rn | head -1 | awk '{print $2}')
    echo $top > $OUT/recorded_pid
    /tmp/cap-fix/.venv/bin/py-spy record --nonblocking --rate 50 --duration 30 --format raw -o $OUT/survivor.raw --pid $top > $OUT/pyspy.log 2>&1 &
    recorded=1
  fi
  sleep 5
done
