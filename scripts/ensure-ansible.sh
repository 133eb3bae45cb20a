#!/usr/bin/env bash
# Installs the pinned ansible-core the parity tests compare herd with
# (tests/it/ansible_parity.rs, tests/it/role_parity.rs) into a virtualenv of its
# own, outside the repository:
#   $HERD_ANSIBLE_VENV, else ${XDG_CACHE_HOME:-~/.cache}/herd-tests/ansible-venv-<version>
# The tests look in the same place. Idempotent: a rerun with the venv in
# place only reads its stamp file. Needs python3 >= 3.11 with venv (Debian:
# python3-venv, which scripts/ensure-deps.sh installs) and PyPI.
set -euo pipefail

version=2.19.14
# ansible.posix (sysctl, mount, authorized_key) is not in ansible-core, and
# Galaxy is not always reachable: it comes from the `ansible` package of the
# same release line on PyPI, whose wheel bundles the community collections.
bundle=12.3.0
venv=${HERD_ANSIBLE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/herd-tests/ansible-venv-$version}
stamp="$venv/.herd-ansible-core"

if [[ -x $venv/bin/ansible-playbook && $(cat "$stamp" 2>/dev/null) == "$version $bundle" ]]; then
  exit 0
fi
python=${HERD_PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "ansible-core $version needs python >= 3.11; $python is $("$python" --version 2>&1)" >&2
  exit 1
fi
echo "installing ansible-core $version into $venv (parity tests)..." >&2
# The stamp is written last: an interrupted install is redone from scratch.
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "ansible-core==$version"
# Only ansible.posix out of the 50 MB wheel, into the venv's site-packages
# (ansible-core finds collections under ansible_collections on sys.path).
"$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$venv/.download" "ansible==$bundle"
"$venv/bin/python" - "$venv/.download/ansible-$bundle-py3-none-any.whl" <<'PY'
import sys, sysconfig, zipfile
prefix = "ansible_collections/ansible/posix/"
with zipfile.ZipFile(sys.argv[1]) as wheel:
    wheel.extractall(sysconfig.get_paths()["purelib"],
                     [n for n in wheel.namelist() if n.startswith(prefix)])
PY
rm -rf "$venv/.download"
"$venv/bin/ansible-playbook" --version | head -1 >&2
echo "$version $bundle" > "$stamp"
