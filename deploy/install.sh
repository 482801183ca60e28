#!/usr/bin/env bash
# Installs tinyproto as a service on a Debian / Raspberry Pi OS / Jetson (L4T) machine:
#   sudo /opt/tinyproto/deploy/install.sh agent            the board's agent
#   sudo /opt/tinyproto/deploy/install.sh server           the aggregator
#   sudo /opt/tinyproto/deploy/install.sh broker DIR       Mosquitto with the fleet files in DIR
#                                                          (broker-config/make-fleet-credentials.sh DIR agent-0 ...)
# Creates the system user `tinyproto`, /etc/tinyproto (root:tinyproto 0750) and /var/lib/tinyproto
# (tinyproto:tinyproto 0750), links /usr/local/bin/tinyproto, installs the unit; does not start it.
# Safe to rerun; never overwrites an existing config. PREFIX (default: this package) is where tinyproto lives.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${PREFIX:-$here}"
role="${1:-}"
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }
command -v node >/dev/null || { echo "install.sh: node (>= 20) is not installed" >&2; exit 1; }

user_and_dirs() {
  id tinyproto >/dev/null 2>&1 || useradd --system --home-dir /var/lib/tinyproto --shell /usr/sbin/nologin --user-group tinyproto
  getent group video >/dev/null && usermod -a -G video tinyproto || true
  install -d -o root -g tinyproto -m 0750 /etc/tinyproto
  install -d -o tinyproto -g tinyproto -m 0750 /var/lib/tinyproto
  ln -sf "$PREFIX/bin/tinyproto.mjs" /usr/local/bin/tinyproto
}
config() { # config FILE CONTENT: write once, root:tinyproto 0640
  [ -e "$1" ] || { printf '%s\n' "$2" > "$1"; chown root:tinyproto "$1"; chmod 0640 "$1"; echo "install.sh: wrote $1 (edit it)"; }
}
unit() {
  install -o root -g root -m 0644 "$PREFIX/deploy/$1" "/etc/systemd/system/$1"
  command -v systemctl >/dev/null && systemctl daemon-reload || true
  echo "install.sh: installed /etc/systemd/system/$1; start with: systemctl enable --now $1"
}

case "$role" in
  agent)
    user_and_dirs
    config /etc/tinyproto/agent.toml "$(cat "$PREFIX/deploy/agent.toml")"
    config /etc/tinyproto/agent.env 'TINYPROTO_PASSWORD='
    unit tinyproto-agent.service
    echo "install.sh: check the board with: sudo -u tinyproto tinyproto doctor --config /etc/tinyproto/agent.toml"
    ;;
  server)
    user_and_dirs
    config /etc/tinyproto/experiment.json '{ "experiment": "exp-1", "agents": ["agent-0", "agent-1"], "rounds": 50 }'
    config /etc/tinyproto/server.env "$(printf 'TINYPROTO_BROKER=mqtts://127.0.0.1:8883\nTINYPROTO_USERNAME=aggregator\nTINYPROTO_PASSWORD=\nTINYPROTO_FLEET=lab')"
    unit tinyproto-server.service
    ;;
  broker)
    dir="${2:?usage: install.sh broker DIR (made by broker-config/make-fleet-credentials.sh DIR agent-0 ...)}"
    id mosquitto >/dev/null 2>&1 || { echo "install.sh: apt-get install mosquitto first" >&2; exit 1; }
    install -d -o root -g mosquitto -m 0750 /etc/mosquitto/tinyproto
    install -o mosquitto -g mosquitto -m 0644 "$dir/ca.crt" "$dir/server.crt" /etc/mosquitto/tinyproto/
    install -o mosquitto -g mosquitto -m 0600 "$dir/server.key" "$dir/passwd" /etc/mosquitto/tinyproto/
    install -o mosquitto -g mosquitto -m 0640 "$PREFIX/broker-config/acl" /etc/mosquitto/tinyproto/acl
    install -o root -g root -m 0644 "$PREFIX/deploy/mosquitto-tinyproto.conf" /etc/mosquitto/conf.d/tinyproto.conf
    echo "install.sh: Mosquitto config in /etc/mosquitto/conf.d/tinyproto.conf; restart with: systemctl restart mosquitto"
    ;;
  *)
    echo "usage: install.sh agent | server | broker DIR" >&2
    exit 2
    ;;
esac
