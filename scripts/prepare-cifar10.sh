#!/usr/bin/env bash
# Prepares CIFAR-10 (binary version) in data/cifar-10-batches-bin/ of the repository.
# Source, first found: $FLASHMC_CIFAR10_TARBALL; ../shared/data/cifar-10-binary.tar.gz beside the
# repository; else the official tarball is downloaded. Idempotent: checked files are left alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/data/cifar-10-batches-bin"
files=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin)
record=3073

check() {
  for f in "${files[@]}"; do
    [ -f "$dest/$f" ] || return 1
    [ "$(stat -c %s "$dest/$f")" -eq $((10000 * record)) ] || { echo "prepare-cifar10: $dest/$f has the wrong size" >&2; return 1; }
  done
}

if check 2>/dev/null; then
  echo "prepare-cifar10: $dest is ready"
  exit 0
fi

tarball="${FLASHMC_CIFAR10_TARBALL:-}"
if [ -z "$tarball" ] && [ -f "$root/../shared/data/cifar-10-binary.tar.gz" ]; then
  tarball="$root/../shared/data/cifar-10-binary.tar.gz"
fi
mkdir -p "$root/data"
if [ -z "$tarball" ]; then
  url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
  echo "prepare-cifar10: no local tarball; downloading $url"
  tarball="$root/data/cifar-10-binary.tar.gz"
  curl -fL --retry 3 -o "$tarball.part" "$url"
  mv "$tarball.part" "$tarball"
fi
[ -f "$tarball" ] || { echo "prepare-cifar10: $tarball: no such file" >&2; exit 1; }
echo "prepare-cifar10: unpacking $tarball"
tmp=$(mktemp -d "$root/data/.unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tarball" -C "$tmp"
[ -d "$tmp/cifar-10-batches-bin" ] || { echo "prepare-cifar10: $tarball has no cifar-10-batches-bin/" >&2; exit 1; }
sums="$(dirname "$tarball")/SHA256SUMS"
if [ -f "$sums" ]; then
  (cd "$tmp/cifar-10-batches-bin" && grep -v 'tar.gz' "$sums" | sha256sum -c --quiet) \
    || { echo "prepare-cifar10: checksum mismatch against $sums" >&2; exit 1; }
  echo "prepare-cifar10: checksums match $sums"
fi
rm -rf "$dest"
mv "$tmp/cifar-10-batches-bin" "$dest"
check || exit 1
echo "prepare-cifar10: $dest is ready"
