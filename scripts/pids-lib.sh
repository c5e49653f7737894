# shellcheck shell=bash
# Stopping the processes a script started, by PID and by nothing broader:
# shared by scripts/netns-lib.sh and scripts/engine-syscalls.sh (sourced,
# not run).

# stop_pids "SIGNAL..." TENTHS PID...: sends each signal in turn to the
# PIDs still running, and after each waits up to TENTHS tenths of a second
# for all of them to end (e.g. "INT TERM KILL" 30: Ctrl-C's orderly stop,
# then TERM, then KILL, 3 s apart). A PID that has ended is left alone.
stop_pids() {
  local signals="$1" tenths="$2" signal pid alive _
  shift 2
  for signal in $signals; do
    alive=()
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    [ ${#alive[@]} -eq 0 ] && return 0
    kill -"$signal" "${alive[@]}" 2>/dev/null || true
    for _ in $(seq "$tenths"); do
      pids_running "${alive[@]}" || break
      sleep 0.1
    done
  done
}

# pids_running PID...: true while any of them runs (`kill -0 A B` alone
# fails as soon as one has ended).
pids_running() {
  local pid
  for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}

# stop_started_on_exit: from now on the array `started` holds every
# process the script starts (it appends their PIDs), and on exit, Ctrl-C
# or TERM those are stopped ("INT TERM KILL", 3 s apart), and no other.
stop_started_on_exit() {
  started=()
  trap '[ ${#started[@]} -eq 0 ] || stop_pids "INT TERM KILL" 30 "${started[@]}"' EXIT
  trap 'exit 130' INT TERM
}
