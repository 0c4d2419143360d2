#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with Rust: installs what the tests need where it is
# missing, then format check, clippy (warnings are errors) and every test of the workspace.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -- NAME    # only tests whose name contains NAME (passed to cargo test)
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the suite needs, as "command:package" pairs: a C compiler (rusqlite builds SQLite from
# source), prlimit (the open-file limit test), setpriv (every test starts watchpost under --pdeathsig, so a
# failing test leaves no process behind), kill (stopping processes by pid) and influxd (Debian's
# InfluxDB 1.6, for the store tests), chromium (headless, renders and prints the HTML report), prometheus
# (scrapes a real watchpost for the health dashboard's queries), docker-compose (validates
# docker-compose.yml offline; no engine needed), systemd-analyze (verifies the unit file) and chattr (makes a
# database file immutable: read-only even for root, who runs the tests), dnsmasq (the DNS server the dns
# probe tests ask), nginx (the HTTP/2 server of the http probe's h2 test), and Dovecot and OpenLDAP's slapd
# (the IMAP, POP3 and LDAP servers the tls probe's STARTTLS tests upgrade; a program outside PATH is named
# by its full path).
REQUIRED=("cc:gcc" "prlimit:util-linux" "setpriv:util-linux" "kill:procps" "influxd:influxdb" "chromium:chromium" "prometheus:prometheus"
  "docker-compose:docker-compose" "systemd-analyze:systemd" "chattr:e2fsprogs" "dnsmasq:dnsmasq-base" "nginx:nginx"
  "dovecot:dovecot-imapd" "/usr/lib/dovecot/pop3:dovecot-pop3d" "slapd:slapd")
missing=()
for pair in "${REQUIRED[@]}"; do
  program=${pair%%:*}
  if [[ $program == /* ]]; then
    [[ -x $program ]] || missing+=("${pair#*:}")
  else
    type -P "$program" >/dev/null || missing+=("${pair#*:}")  # a program on PATH, not a shell builtin
  fi
done
if ((${#missing[@]})); then
  echo "==> installing: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# Python packages from PyPI, pinned: aRez, a client written for Atlassian Statuspage's public API (the
# status page tests check that it reads our JSON unchanged), and aiosmtpd, the SMTP server the email
# tests send to (and the tls probe's STARTTLS test upgrades), websockets, the WebSocket server the
# websocket probe tests talk to, and grpcio with its health service, the gRPC server of the grpc probe tests.
PY_REQUIRED=("arez:arez==0.2.4" "aiosmtpd:aiosmtpd==1.4.6" "websockets:websockets==13.1" "grpc:grpcio==1.85.3"
  "grpc_health.v1.health:grpcio-health-checking==1.85.1")
for pair in "${PY_REQUIRED[@]}"; do
  if ! python3 -c "import ${pair%%:*}" 2>/dev/null; then
    echo "==> installing Python package ${pair#*:}"
    python3 -m pip install --quiet --disable-pip-version-check "${pair#*:}"
  fi
done

for tool in rustfmt clippy-driver; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is missing: run 'rustup component add rustfmt clippy'" >&2; exit 1; }
done

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> dependency policy (licenses, bans, duplicates: scripts/deps.py)"
python3 scripts/deps.py
echo "==> cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' "$log"
