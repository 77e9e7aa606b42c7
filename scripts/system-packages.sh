#!/usr/bin/env bash
# Installs the Debian packages the tests need (real servers, not mocks) when they are missing.
set -euo pipefail

need=()
# PostgreSQL server: the state store must also work on Postgres.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null || need+=(postgresql)
# Chromium: the web app's browser tests drive Debian's build through Playwright (never a
# downloaded browser: this machine's network reaches only the package registries).
[ -x /usr/bin/chromium ] || need+=(chromium)
# OpenSSH server: the SFTP destinations are tested against a real sshd on loopback.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need these Debian packages: ${need[*]}. Install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "Installing Debian packages for the tests: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
