#!/usr/bin/env bash
# dist.sh builds Attesta's release artifacts into $DIST ('make dist' runs it):
#
#   attesta-{hub,collector}_VERSION_linux_{amd64,arm64}   programs (cgo, glibc)
#   attesta-{hub,collector}_VERSION_{amd64,arm64}.deb      Debian packages
#   attesta-collector_VERSION_windows_amd64.zip            signed exe, install.ps1, attesta-kiosk.ps1
#   SHA256SUMS
#
# Usage: installers/dist.sh [STEP...]
#   steps: linux-amd64 linux-arm64 deb-amd64 deb-arm64 windows sums
#   none:  all of them into an emptied $DIST
#
# Environment:
#   VERSION         default: installers/version.sh, from 'git describe' (vX.Y.Z tags)
#   DIST, BUILD     output and scratch folders (dist, build)
#   DEB_MAINTAINER  the packages' Maintainer field
#   ATTESTA_SIGN_CERT, ATTESTA_SIGN_KEY, ATTESTA_SIGN_PASS, ATTESTA_SIGN_TIMESTAMP
#                   Authenticode certificate (PEM), key (PEM), key password and
#                   RFC 3161 timestamp URL; without them a throwaway test CA is
#                   made in $BUILD/sign and the exe is signed with it.
# Cross builds need gcc-aarch64-linux-gnu (linux/arm64) and
# gcc-mingw-w64-x86-64-win32 (windows/amd64): SQLite is built with cgo.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
DIST=${DIST:-dist}
BUILD=${BUILD:-build}
DEB_MAINTAINER=${DEB_MAINTAINER:-Attesta <packages@attesta.invalid>}

VERSION=${VERSION:-$(installers/version.sh)}
# Debian and the file names below both need this shape.
if [[ ! $VERSION =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; then
	echo "dist.sh: VERSION $VERSION must start with a digit and hold only letters, digits and . + ~" >&2
	exit 2
fi

LDFLAGS="-s -w -X github.com/attesta/attesta/hub.Version=$VERSION -X github.com/attesta/attesta/collector.Version=$VERSION"

# compiler is the C compiler for a target: SQLite is C, so every build uses cgo.
compiler() {
	case $1/$2 in
	linux/"$($GO env GOHOSTARCH)") echo "${CC:-gcc}" ;;
	linux/arm64) echo aarch64-linux-gnu-gcc ;;
	linux/amd64) echo x86_64-linux-gnu-gcc ;;
	windows/amd64) echo x86_64-w64-mingw32-gcc ;;
	*) echo "dist.sh: no C compiler known for $1/$2" >&2; return 1 ;;
	esac
}

gobuild() { # GOOS GOARCH OUT PACKAGE
	local c
	c=$(compiler "$1" "$2")
	command -v "$c" >/dev/null || { echo "dist.sh: $c is missing (see the comment at the top)" >&2; return 1; }
	echo "  go build $1/$2 $4"
	CGO_ENABLED=1 GOOS=$1 GOARCH=$2 CC=$c \
		$GO build -trimpath -ldflags "$LDFLAGS" -o "$3" "$4"
}

linux() { # ARCH
	local out=$BUILD/linux-$1 p
	mkdir -p "$out" "$DIST"
	for p in hub collector; do
		gobuild linux "$1" "$out/attesta-$p" "./$p/cmd/attesta-$p"
		cp "$out/attesta-$p" "$DIST/attesta-${p}_${VERSION}_linux_$1"
	done
}

# libc_min is the newest glibc symbol version a binary needs, for the
# packages' libc6 dependency.
libc_min() {
	readelf --dyn-syms --wide "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1
}

deb() { # ARCH
	local bin=$BUILD/linux-$1 p libc
	[ -x "$bin/attesta-hub" ] && [ -x "$bin/attesta-collector" ] ||
		{ echo "dist.sh: deb-$1 needs the linux-$1 step first" >&2; return 1; }
	mkdir -p "$DIST"
	for p in hub collector; do
		echo "  nfpm attesta-${p}_${VERSION}_$1.deb"
		libc=$(libc_min "$bin/attesta-$p")
		DEB_ARCH=$1 DEB_VERSION=$VERSION DEB_MAINTAINER=$DEB_MAINTAINER BIN_DIR=$bin LIBC_MIN=$libc \
			$GO tool nfpm package --config "installers/deb/attesta-$p.yaml" --packager deb \
			--target "$DIST/attesta-${p}_${VERSION}_$1.deb" >/dev/null
	done
}

windows() {
	local out=$BUILD/windows zip
	zip=$(realpath -m "$DIST/attesta-collector_${VERSION}_windows_amd64.zip")
	rm -rf "$out"
	mkdir -p "$out" "$DIST"
	gobuild windows amd64 "$out/attesta-collector.exe" ./collector/cmd/attesta-collector
	cp installers/windows/install.ps1 installers/windows/attesta-kiosk.ps1 "$out/"
	installers/windows/sign.sh "$out/attesta-collector.exe" "$out/install.ps1" "$out/attesta-kiosk.ps1"
	rm -f "$zip"
	(cd "$out" && zip -q -X "$zip" attesta-collector.exe install.ps1 attesta-kiosk.ps1)
	echo "  zip $(basename "$zip")"
}

sums() {
	(cd "$DIST" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs -r sha256sum -- >SHA256SUMS)
	echo "  $DIST/SHA256SUMS"
}

export BUILD
steps=("$@")
if [ ${#steps[@]} -eq 0 ]; then
	rm -rf "$DIST"
	steps=(linux-amd64 linux-arm64 deb-amd64 deb-arm64 windows sums)
fi
echo "dist.sh: version $VERSION into $DIST"
for s in "${steps[@]}"; do
	case $s in
	linux-amd64 | linux-arm64) linux "${s#linux-}" ;;
	deb-amd64 | deb-arm64) deb "${s#deb-}" ;;
	windows) windows ;;
	sums) sums ;;
	*) echo "dist.sh: unknown step $s" >&2; exit 2 ;;
	esac
done
