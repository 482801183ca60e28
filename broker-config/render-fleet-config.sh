#!/usr/bin/env bash
# render-fleet-config.sh — render broker-config/mosquitto.fleet.conf into DIR/mosquitto.conf
# with absolute paths (mosquitto resolves relative paths against its cwd).
#
#   broker-config/render-fleet-config.sh DIR [--tls-port 8883] [--bind 0.0.0.0]
#                                            [--plain-port PORT] [--user USER] [--stdout]
#
#   DIR            fleet directory created by make-fleet-credentials.sh
#   --tls-port N   TLS listener port (default 8883)
#   --bind ADDR    TLS listener bind address (default 0.0.0.0)
#   --plain-port N also open a plain listener on 127.0.0.1:N (auth + ACL still apply)
#   --user USER    set mosquitto's `user` option (user to drop to when started as root)
#   --stdout       print the config instead of writing DIR/mosquitto.conf
#
# Also creates DIR/data (persistence); run as root, gives it to the broker user (--user, default
# mosquitto: started as root, mosquitto drops to that user and must write data/). Same substitution as renderFleetConfig() in
# mqtt/mosquitto.ts (a test checks that both produce identical output).
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

tls_port=8883
bind=0.0.0.0
plain_port=""
run_user=""
to_stdout=0
dir=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tls-port) tls_port="${2:?}"; shift 2 ;;
    --bind) bind="${2:?}"; shift 2 ;;
    --plain-port) plain_port="${2:?}"; shift 2 ;;
    --user) run_user="${2:?}"; shift 2 ;;
    --stdout) to_stdout=1; shift ;;
    -h|--help) usage ;;
    -*) echo "error: unknown option $1" >&2; usage ;;
    *) [[ -z "$dir" ]] || usage; dir="$1"; shift ;;
  esac
done
[[ -n "$dir" ]] || usage
[[ -d "$dir" ]] || { echo "error: $dir is not a directory (run make-fleet-credentials.sh first)" >&2; exit 2; }
dir="$(cd "$dir" && pwd)"
bad_chars='[[:space:]@&\\]'
if [[ "$dir" =~ $bad_chars ]]; then
  echo "error: fleet dir must not contain whitespace, @, & or backslash: $dir" >&2; exit 2
fi
for p in "$tls_port" ${plain_port:+"$plain_port"}; do
  [[ "$p" =~ ^[0-9]+$ ]] || { echo "error: bad port '$p'" >&2; exit 2; }
done

template="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/mosquitto.fleet.conf"

render() {
  printf '# Rendered from broker-config/mosquitto.fleet.conf — edit the template and re-render.\n'
  awk -v dir="$dir" -v tls_port="$tls_port" -v bind="$bind" \
      -v plain_port="${plain_port:-1883}" -v plain_on="${plain_port:+1}" \
      -v run_user="${run_user:-mosquitto}" -v user_on="${run_user:+1}" '
    function subst(s) {
      gsub(/@FLEET_DIR@/, dir, s); gsub(/@TLS_PORT@/, tls_port, s); gsub(/@TLS_BIND@/, bind, s)
      gsub(/@PLAIN_PORT@/, plain_port, s); gsub(/@RUN_AS_USER@/, run_user, s)
      return s
    }
    /^#@IF_PLAIN@/ { s = substr($0, 12); print (plain_on ? "" : "#") subst(s); next }
    /^#@IF_USER@/  { s = substr($0, 11); print (user_on ? "" : "#") subst(s); next }
    /^#/ || /^[[:space:]]*$/ { print; next }
    { print subst($0) }
  ' "$template"
}

if [[ $to_stdout -eq 1 ]]; then
  render
else
  mkdir -p "$dir/data"
  if [[ "$(id -u)" -eq 0 ]] && id -u "${run_user:-mosquitto}" >/dev/null 2>&1; then
    chown "${run_user:-mosquitto}:" "$dir/data"
  fi
  render >"$dir/mosquitto.conf"
  echo "$dir/mosquitto.conf" >&2
fi
