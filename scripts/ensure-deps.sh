#!/usr/bin/env bash
# Installs what herd's demo and tests need on a Debian machine: OpenSSH's
# server (the test hosts), client tools (ssh-keygen, ssh-agent, ssh), the
# `age` CLI (tests check that herd's secrets are standard age files), sudo
# (for `become`), ping (collect probes), chromium (tests open
# `herd report --html` and `herd serve` pages in it, headless),
# prometheus (promtool checks `herd serve`'s /metrics, and a real
# Prometheus scrapes it) and util-linux's unshare and nsenter (isolated
# test hosts), python3 with venv (the parity tests' pinned ansible-core,
# scripts/ensure-ansible.sh).
# Idempotent; quiet when everything is there.
set -euo pipefail

need=()
[[ -x /usr/sbin/sshd ]] || need+=(openssh-server)
command -v ssh-keygen >/dev/null && command -v ssh-agent >/dev/null || need+=(openssh-client)
command -v age >/dev/null || need+=(age)
# become (sudo) is part of the conformance suite and playbook tests.
command -v sudo >/dev/null || need+=(sudo)
# `script` gives the -K masking test (tests/it/secrets.rs) a terminal.
command -v script >/dev/null || need+=(bsdutils)
command -v chromium >/dev/null || need+=(chromium)
command -v promtool >/dev/null && command -v prometheus >/dev/null || need+=(prometheus)
# herd collect's ping probes run ping on the test hosts.
command -v ping >/dev/null || need+=(iputils-ping)
# Isolated test hosts: unshare/nsenter (namespaces), dpkg-deb (the fleet's
# local apt repository index).
command -v unshare >/dev/null && command -v nsenter >/dev/null || need+=(util-linux)
# Host tools the conformance suite's targets use (see its README): crontab
# (cron), unarchive's zip/unzip/zstd, chattr (file), python3 (get_url/uri
# serve files with http.server; group runs Python scripts).
command -v crontab >/dev/null || need+=(cron)
command -v zip >/dev/null || need+=(zip)
command -v unzip >/dev/null || need+=(unzip)
command -v zstd >/dev/null || need+=(zstd)
command -v chattr >/dev/null || need+=(e2fsprogs)
command -v python3 >/dev/null || need+=(python3)
# Isolated test hosts are copies of this machine: the timezone and
# locale_gen tests (tests/it/system_modules.rs) need its zone files and glibc's
# locale sources and locale-gen.
[[ -f /usr/share/zoneinfo/Asia/Tokyo ]] || need+=(tzdata)
command -v locale-gen >/dev/null && [[ -f /usr/share/i18n/SUPPORTED ]] || need+=(locales)
# The git and pip modules' tests run git on the hosts (clones of a local
# bare repository) and pip in a venv (python3-venv below brings pip).
command -v git >/dev/null || need+=(git)
# The parity tests run ansible-playbook from a venv (ansible-core needs
# python >= 3.11: Debian 12's python3); the hosts run its modules with
# /usr/bin/python3.

/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
  echo "installing ${need[*]}..." >&2
  sudo_cmd=()
  [[ $(id -u) == 0 ]] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
    || { "${sudo_cmd[@]}" apt-get update -qq && "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
# The isolated fleet's apt repository is built from .debs fetched once with
# `apt-get download` (tests/it/fleet/apt.rs): the package lists must know them.
if [[ $(id -u) == 0 ]] && ! apt-cache show hello tree cowsay figlet >/dev/null 2>&1; then
  echo "apt-get update (the isolated test fleet downloads hello, tree, cowsay, figlet)..." >&2
  apt-get update -qq
fi
# The pinned ansible-core the parity tests compare with (never skipped in CI).
HERD_PYTHON=${HERD_PYTHON:-/usr/bin/python3} "$(dirname "$0")/ensure-ansible.sh"
if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install a Rust toolchain >= 1.89 (https://rustup.rs), then run this again" >&2
  exit 1
fi
