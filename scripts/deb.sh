#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/deb.sh OUTDIR: builds ringrelay_<version>_<arch>.deb into OUTDIR with
# dpkg-buildpackage (debian/, debhelper 13) and runs lintian on it.
#
# The build runs in a copy of this tree (OUTDIR/src), so `debian/rules clean` never touches
# the developer's build/ and uncommitted changes are packaged as they are. The version is
# debian/changelog's, which must equal VERSION; `git describe` of this tree goes into -V.
# LINTIAN=0 skips lintian; lintian's output is kept in OUTDIR/lintian.txt, and any error or
# warning fails the build (overrides, each explained, are in debian/).
set -eu

out=${1:?usage: scripts/deb.sh OUTDIR}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

version=$(cat VERSION)
deb_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
if [ "$deb_version" != "$version" ]; then
	echo "deb: debian/changelog says $deb_version but VERSION says $version;" \
		"add a changelog entry (dch -v $version)" >&2
	exit 1
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
GIT_DESCRIBE=$(git describe --always --dirty 2>/dev/null || true)
export GIT_DESCRIBE

mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/src/ringrelay-$version
rm -rf "$out/src"
mkdir -p "$src"
# Everything but build output and VCS data (git ls-files would miss new, unadded files).
tar -C "$top" --exclude=./build --exclude=./.git --exclude='./perf/results' \
	--exclude='__pycache__' -cf - . | tar -C "$src" -xf -

echo "deb: dpkg-buildpackage in $src"
(cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)" >"$out/build.log" 2>&1) || {
	tail -n 40 "$out/build.log" >&2
	echo "deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
	exit 1
}
rm -f "$out"/ringrelay*_"$version"_*.deb "$out"/ringrelay_"$version"_*.changes \
	"$out"/ringrelay_"$version"_*.buildinfo
mv "$out"/src/ringrelay*_"$version"_* "$out"/
deb=$out/ringrelay_${version}_$arch.deb
[ -f "$deb" ] || { echo "deb: $deb was not built" >&2; exit 1; }
echo "deb: $deb"

[ "${LINTIAN:-1}" = 0 ] && exit 0
# --fail-on error,warning: what the package must be clean of; info tags are shown, not fatal.
if lintian --display-info --fail-on error,warning "$out/ringrelay_${version}_$arch.changes" \
	>"$out/lintian.txt" 2>&1; then
	echo "deb: lintian: no error or warning, $(grep -c '^[IPX]: ' "$out/lintian.txt" || true)" \
		"info tag(s) ($out/lintian.txt; overrides with reasons in debian/)"
else
	cat "$out/lintian.txt" >&2
	echo "deb: lintian found errors or warnings" >&2
	exit 1
fi
