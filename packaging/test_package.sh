#!/usr/bin/env bash
# The packaging test: builds the .deb from a configured build folder, checks it with lintian,
# desktop-file-validate and appstreamcli, installs it into a clean root with dpkg --root, and runs
# the installed programs from there (they must find the bundled model under the install prefix).
#   packaging/test_package.sh BUILD_DIR
# Exit 77 (a skip for ctest) when a tool is missing: apt-get install lintian desktop-file-utils
# appstream dpkg-dev fakeroot; exit 1 instead under LATENTCHAT_REQUIRE_TEST_TOOLS=1 (tools/dev.sh
# test sets it, having installed them, so a missing one is an install step to fix, not a skip).
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
app_id=io.github.latentchat.LatentChat
for tool in cpack lintian desktop-file-validate appstreamcli dpkg-shlibdeps dpkg; do
    if ! command -v "$tool" >/dev/null; then
        [ "${LATENTCHAT_REQUIRE_TEST_TOOLS:-0}" = 1 ] && { echo "FAIL: $tool is not installed"; exit 1; }
        echo "SKIP: $tool is not installed"
        exit 77
    fi
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== desktop file and AppStream metainfo"
desktop-file-validate "$src/packaging/$app_id.desktop"
appstreamcli validate --no-net --pedantic "$src/packaging/$app_id.metainfo.xml"

echo "== building the .deb"
(cd "$build" && cpack -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/pkg/*.deb)
echo "$(basename "$deb"): $(du -h "$deb" | cut -f1)"

echo "== lintian"
lintian --tag-display-limit 0 --suppress-tags-from-file "$src/packaging/lintian-explained" "$deb" \
    >"$work/lintian.log" 2>&1 || true
cat "$work/lintian.log"
if grep -q '^E:' "$work/lintian.log"; then
    echo "lintian reported errors"
    exit 1
fi
if grep -q '^W:' "$work/lintian.log"; then
    echo "lintian reported warnings that packaging/lintian-explained does not explain"
    exit 1
fi

echo "== installing into a clean root"
root=$work/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
# The root holds only our package; its libraries (Qt, SentencePiece, SQLite) come from the host,
# which is what --force-depends allows.
dpkg --root="$root" --force-depends --log=/dev/null -i "$deb" >"$work/dpkg.log" 2>&1 ||
    { cat "$work/dpkg.log"; exit 1; }
cli=$root/usr/bin/latentchat-cli
test -x "$cli" && test -x "$root/usr/bin/latentchat"
test -f "$root/usr/share/applications/$app_id.desktop"
test -f "$root/usr/share/icons/hicolor/256x256/apps/latentchat.png"
test -f "$root/usr/share/man/man1/latentchat-cli.1.gz"

echo "== running the installed programs"
# Nothing from the build or source tree: an empty environment, a fresh home, another folder.
run() { (cd "$work" && env -i HOME="$work/home" PATH=/usr/bin:/bin "$@"); }
model_dir=$(run "$cli" info --json | sed -n 's/.*"model_dir": "\(.*\)".*/\1/p')
case "$model_dir" in
    "$root"/usr/share/latentchat/models/*) echo "bundled model found at $model_dir" ;;
    *) echo "the installed CLI used $model_dir, not the installed model"; exit 1 ;;
esac
story=$(run "$cli" generate --chat --prompt "Tell me a story about a cat." --max-tokens 60 --seed 1)
echo "$story"
test "$(echo "$story" | wc -w)" -gt 20
run QT_QPA_PLATFORM=offscreen "$root/usr/bin/latentchat" --version
# The desktop app loads the installed model too (it reports once the model is ready).
ready=$(run QT_QPA_PLATFORM=offscreen timeout 60 "$root/usr/bin/latentchat" --startup-benchmark 2>/dev/null)
echo "$ready"
case "$ready" in *"model ready"*) ;; *) echo "the installed app did not load its model"; exit 1 ;; esac
echo "packaging test passed"
