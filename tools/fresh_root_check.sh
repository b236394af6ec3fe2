#!/usr/bin/env bash
# Proves the README's two commands on a truly fresh Debian 12 machine: makes a clean bookworm root
# with mmdebstrap (variant apt, plus only ca-certificates, git, sudo, xvfb and xauth), clones this
# repository's committed HEAD into it, and runs inside it, as root, exactly the README's commands:
#   xvfb-run -a bash tools/dev.sh run --startup-benchmark    the app starts on the bundled model, exit 0
#   bash tools/dev.sh test                                   every test must run and pass
# `run` goes first, so it alone must install and build everything the app needs.
# Needs root (chroot, mounts) and Debian's package mirror; installs mmdebstrap on the host if missing.
#   tools/fresh_root_check.sh [WORK_DIR]     (default: a new folder under /var/tmp; removed at the end)
# Prints how long each command took; exits non-zero if either fails.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "fresh_root_check: run as root (it uses chroot and mounts)" >&2; exit 2; }
if ! command -v mmdebstrap >/dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap
fi

work=${1:-$(mktemp -d /var/tmp/latentchat-fresh-root.XXXXXX)}
mkdir -p "$work"
root="$work/root"
mounted=()
cleanup() {
    # Processes started inside the root (an X server, an agent) would keep its mounts busy.
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill "${p#/proc/}" 2>/dev/null
    done
    sleep 1
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -R "${mounted[$i]}" 2>/dev/null || umount -R -l "${mounted[$i]}" 2>/dev/null || true
    done
    # Never delete through a mount that is still there (the host's /dev is bound inside).
    if grep -q " $root/" /proc/self/mounts; then
        echo "fresh_root_check: mounts remain under $root; not removing it" >&2
    elif [ -z "${KEEP_ROOT:-}" ]; then
        rm -rf "$work"
    fi
}
trap cleanup EXIT

t0=$(date +%s)
echo "== mmdebstrap: clean Debian 12 root in $root"
mmdebstrap --variant=apt --include=ca-certificates,git,sudo,xvfb,xauth bookworm "$root" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" >"$work/mmdebstrap.log" 2>&1 ||
    { tail -30 "$work/mmdebstrap.log"; exit 1; }
t1=$(date +%s)
echo "   $((t1 - t0)) s"

echo "== cloning the committed HEAD of $src"
git clone -q --no-local "$src" "$root/root/latentchat"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# This machine's network trust, as any machine on its network has it: the extra CA certificates
# (a TLS-inspecting egress proxy) and pip's setting to use them. Nothing of the project's.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1
fi
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$root/etc/pip.conf"
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount -t sysfs sys "$root/sys" && mounted+=("$root/sys")
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev" && mounted+=("$root/dev")
mount -t tmpfs tmpfs "$root/tmp" && mounted+=("$root/tmp")

# A login-like root environment inside the root: nothing of this machine's PATH or variables.
in_root() {
    chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        bash -c "cd /root/latentchat && $1"
}

echo "== inside: xvfb-run -a bash tools/dev.sh run --startup-benchmark"
s=$(date +%s)
set +e
in_root "xvfb-run -a bash tools/dev.sh run --startup-benchmark" >"$work/run.log" 2>&1
run_status=$?
set -e
tail -5 "$work/run.log" | sed 's/^/   | /'
run_secs=$(($(date +%s) - s))
echo "   exit $run_status after ${run_secs} s"
[ "$run_status" -eq 0 ] || exit 1
grep -q "model ready after" "$work/run.log" || { echo "fresh_root_check: the app did not report a loaded model" >&2; exit 1; }

echo "== inside: bash tools/dev.sh test"
s=$(date +%s)
set +e
in_root "bash tools/dev.sh test" >"$work/test.log" 2>&1
test_status=$?
set -e
tail -40 "$work/test.log" | sed 's/^/   | /'
test_secs=$(($(date +%s) - s))
echo "   exit $test_status after ${test_secs} s"
[ "$test_status" -eq 0 ] || exit 1
grep -q "100% tests passed" "$work/test.log" || { echo "fresh_root_check: ctest did not pass every test" >&2; exit 1; }

echo "fresh_root_check: both README commands passed on a clean Debian 12 root" \
     "(root $((t1 - t0)) s, run ${run_secs} s, then test ${test_secs} s; $(nproc) cores)"
