#!/usr/bin/env bash
# Installs the system packages optarc needs on Debian, idempotently: packages
# already present are left alone, and apt is touched only when one is missing.
#   - rpcbind, rpcsvc-proto (rpcgen), libtirpc-dev, gcc, make: the legacy RPC
#     side and the interop tests' C clients and servers
#   - iproute2, util-linux, mount: the port-111 interop tests run in private
#     network namespaces (unshare) so they never disturb the host's rpcbind
#   - xorriso: masters ISO images and writes them to drives (or stdio: files)
#   - libarchive-tools (bsdtar): the independent ISO 9660 reader the tests use
#   - par2: optional recovery data on discs
#   - python3, g++: node-gyp builds better-sqlite3 (the catalog) from source
#   - radosgw, ceph-mon, ceph-osd: the local S3 (a one-node Ceph RGW, infra/rgw/)
#   - postgresql, postgresql-contrib: the shared search index's database and its pg_trgm (infra/postgres/)
#   - chromium: the headless browser the search page's tests drive (playwright-core)
# Node.js >= 20.19 with npm must already be installed.
set -euo pipefail

PACKAGES=(rpcbind rpcsvc-proto libtirpc-dev gcc g++ make python3 libc6-dev procps iproute2 util-linux mount
  xorriso libarchive-tools par2 coreutils radosgw ceph-mon ceph-osd postgresql postgresql-contrib chromium)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install.sh: not root and no sudo: install ${PACKAGES[*]} by hand" >&2
    exit 1
  fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install.sh: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install.sh: system packages already installed"
fi

if ! command -v node >/dev/null 2>&1; then
  echo "install.sh: Node.js is missing: install Node.js 20.19 or later" >&2
  exit 1
fi
node -e '
  const [maj, min] = process.versions.node.split(".").map(Number);
  if (maj < 20 || (maj === 20 && min < 19)) {
    console.error(`install.sh: Node.js ${process.versions.node} is too old: optarc needs 20.19 or later`);
    process.exit(1);
  }'
