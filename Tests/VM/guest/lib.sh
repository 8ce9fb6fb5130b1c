# Shared by the guest tests (copied into the guest as /tests/lib.sh.inc): TAP-like results the host counts.
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: ok when the command succeeds.
check() {
    description=$1
    shift
    if "$@" >/tmp/check.out 2>&1; then ok "$description"; else not_ok "$description ($(head -c 300 /tmp/check.out | tr '\n' ' '))"; fi
}
# same DESCRIPTION EXPECTED ACTUAL: ok when equal.
same() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}
# skipped REASON: this script cannot run on this machine (a missing package, no 9p); the host counts it as a
# failure unless the run allows skipping (VFIOCTL_ALLOW_VM_SKIP=1).
skipped() {
    echo "SKIPPED - $*"
    exit 0
}
