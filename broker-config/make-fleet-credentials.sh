#!/usr/bin/env bash
# make-fleet-credentials.sh — create everything a TinyProto fleet broker needs.
#
#   broker-config/make-fleet-credentials.sh [--force] DIR agent-1 agent-2 ...
#
# Writes into DIR:
#   ca.key, ca.crt          self-signed CA (ca.key mode 600) — distribute ca.crt to the boards
#   server.key, server.crt  broker key/cert, CN=localhost,
#                           subjectAltName DNS:localhost,IP:127.0.0.1 (+ --san extras), signed by the CA
#   passwd                  mosquitto password file (sha512-pbkdf2 hashes): aggregator + one per agent
#   credentials.json        {"aggregator": "...", "agent-1": "...", ...} plain passwords, mode 600
#   acl                     copy of broker-config/acl
#
# Passwords are random (openssl rand -hex 16). Agent ids must match [A-Za-z0-9._-]+ (they are
# MQTT usernames, client ids and topic levels, so no '/', '+', '#', spaces or quotes).
#
# Refuses to overwrite an existing CA (DIR/ca.key or DIR/ca.crt) unless --force is given.
#
# Options:
#   --force         overwrite an existing CA and all other generated files
#   --days N        certificate validity in days (default 825)
#   --san ENTRY     extra subjectAltName entry for the server cert, e.g. --san DNS:broker.lan
#                   or --san IP:192.168.1.10 (repeatable)
#   --key-type T    ec (default, P-256, cheap) or rsa (2048)
#   --broker-user U the user mosquitto runs as (default mosquitto). Run as root, the script
#                   gives server.key, passwd and acl to that user (mode 600/600/644): mosquitto
#                   started as root drops to it BEFORE it opens them ("Unable to open pwfile").
#                   ca.key and credentials.json stay root-only.
#
# Requires: bash, openssl, mosquitto_passwd (Debian/Ubuntu: apt-get install mosquitto).
set -euo pipefail

usage() {
  sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

force=0
days=825
key_type=ec
broker_user=mosquitto
extra_san=()
positional=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --force) force=1; shift ;;
    --days) days="${2:?--days needs a value}"; shift 2 ;;
    --san) extra_san+=("${2:?--san needs a value}"); shift 2 ;;
    --key-type) key_type="${2:?--key-type needs a value}"; shift 2 ;;
    --broker-user) broker_user="${2:?--broker-user needs a value}"; shift 2 ;;
    -h|--help) usage ;;
    --) shift; positional+=("$@"); break ;;
    -*) echo "error: unknown option $1" >&2; usage ;;
    *) positional+=("$1"); shift ;;
  esac
done

[[ ${#positional[@]} -ge 1 ]] || usage
dir="${positional[0]}"
agents=("${positional[@]:1}")

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# --- prerequisites ---------------------------------------------------------
if ! command -v openssl >/dev/null 2>&1; then
  echo "error: openssl not found in PATH (Debian/Ubuntu: apt-get install openssl)" >&2
  exit 3
fi
MOSQUITTO_PASSWD="${MOSQUITTO_PASSWD:-}"
if [[ -z "$MOSQUITTO_PASSWD" ]]; then
  if command -v mosquitto_passwd >/dev/null 2>&1; then
    MOSQUITTO_PASSWD="$(command -v mosquitto_passwd)"
  elif [[ -x /usr/bin/mosquitto_passwd ]]; then
    MOSQUITTO_PASSWD=/usr/bin/mosquitto_passwd
  else
    echo "error: mosquitto_passwd not found (it ships with the 'mosquitto' package:" >&2
    echo "       apt-get install mosquitto; or set MOSQUITTO_PASSWD=/path/to/mosquitto_passwd)" >&2
    exit 3
  fi
fi
case "$key_type" in ec|rsa) ;; *) echo "error: --key-type must be ec or rsa" >&2; exit 2 ;; esac

# --- validate agent ids ----------------------------------------------------
declare -A seen=()
for a in "${agents[@]}"; do
  if [[ ! "$a" =~ ^[A-Za-z0-9._-]+$ ]]; then
    echo "error: invalid agent id '$a' (allowed: A-Z a-z 0-9 . _ -)" >&2
    exit 2
  fi
  if [[ "$a" == "aggregator" ]]; then
    echo "error: 'aggregator' is reserved for the aggregator account" >&2
    exit 2
  fi
  if [[ -n "${seen[$a]:-}" ]]; then
    echo "error: duplicate agent id '$a'" >&2
    exit 2
  fi
  seen[$a]=1
done

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

if [[ $force -eq 0 && ( -e "$dir/ca.key" || -e "$dir/ca.crt" ) ]]; then
  echo "error: $dir already contains a CA (ca.key/ca.crt); refusing to overwrite it." >&2
  echo "       Re-run with --force to regenerate the CA, server certificate and all passwords" >&2
  echo "       (every board then needs the new ca.crt and its new password)." >&2
  exit 4
fi

umask 077
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

genkey() { # genkey OUT
  if [[ "$key_type" == ec ]]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  else
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
  fi
}

# --- CA --------------------------------------------------------------------
cat >"$tmp/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = tinyproto fleet CA
O = tinyproto
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
genkey "$tmp/ca.key"
openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days "$days" \
  -config "$tmp/ca.cnf" -out "$tmp/ca.crt"

# --- server certificate ------------------------------------------------------
san="DNS:localhost,IP:127.0.0.1"
for s in "${extra_san[@]}"; do san="$san,$s"; done
cat >"$tmp/server.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
O = tinyproto
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
subjectAltName = $san
EOF
genkey "$tmp/server.key"
openssl req -new -key "$tmp/server.key" -config "$tmp/server.cnf" -out "$tmp/server.csr"
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" \
  -CAcreateserial -CAserial "$tmp/ca.srl" -sha256 -days "$days" \
  -extfile "$tmp/server.cnf" -extensions v3_server -out "$tmp/server.crt" 2>/dev/null
openssl verify -CAfile "$tmp/ca.crt" "$tmp/server.crt" >/dev/null

# --- passwords ---------------------------------------------------------------
: >"$tmp/passwd"
json="{"
sep=""
for user in aggregator "${agents[@]}"; do
  pw="$(openssl rand -hex 16)"
  "$MOSQUITTO_PASSWD" -b "$tmp/passwd" "$user" "$pw"
  json="$json$sep"$'\n'"  \"$user\": \"$pw\""
  sep=","
done
json="$json"$'\n'"}"
printf '%s\n' "$json" >"$tmp/credentials.json"

# --- install -----------------------------------------------------------------
install -m 600 "$tmp/ca.key" "$dir/ca.key"
install -m 644 "$tmp/ca.crt" "$dir/ca.crt"
install -m 600 "$tmp/server.key" "$dir/server.key"
install -m 644 "$tmp/server.crt" "$dir/server.crt"
install -m 600 "$tmp/passwd" "$dir/passwd"
install -m 600 "$tmp/credentials.json" "$dir/credentials.json"
install -m 644 "$script_dir/acl" "$dir/acl"
# The directory must be traversable by the broker user (mkdir under umask 077 would not be).
chmod 755 "$dir"
# server.key / passwd / acl are opened by the broker AFTER it dropped privileges: started as
# root, mosquitto switches to the `mosquitto` user (or `user` in mosquitto.conf) first.
if [[ "$(id -u)" -eq 0 ]]; then
  if id -u "$broker_user" >/dev/null 2>&1; then
    chown "$broker_user:" "$dir/server.key" "$dir/passwd" "$dir/acl"
  else
    echo "warning: user '$broker_user' does not exist; server.key, passwd and acl stay owned by root" >&2
    echo "         (a broker started as root that drops to another user cannot read them; see --broker-user)" >&2
  fi
fi

echo "fleet credentials written to $dir:" >&2
echo "  ca.crt server.crt server.key passwd acl credentials.json (users: aggregator ${agents[*]})" >&2
