#!/usr/bin/env bash
# Installs the Debian packages Pronghorn's tests and tools use, only when missing.
# Called by 'make setup'; safe to run again. Needs root (or sudo) when anything is missing.
set -euo pipefail

declare -A want=(
  [nbdinfo]=libnbd-bin [nbdcopy]=libnbd-bin [nbdfuse]=libnbd-bin
  [nbdkit]=nbdkit [qemu-img]=qemu-utils [qemu-io]=qemu-utils [fio]=fio
  [mkfs.ext4]=e2fsprogs [mkfs.xfs]=xfsprogs [losetup]=mount [ip]=iproute2
)
missing=()
for cmd in "${!want[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${want[$cmd]}")
done
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
echo "installing Debian packages: $pkgs" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
