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
# clean DESCRIPTION COMMAND...: ok when the command exits 0 and writes nothing to stderr (stdout in /tmp/check.out).
clean() {
    description=$1
    shift
    "$@" >/tmp/check.out 2>/tmp/check.err
    status=$?
    if [ "$status" -eq 0 ] && [ ! -s /tmp/check.err ]; then ok "$description (exit 0, nothing on stderr)"; else
        not_ok "$description (exit $status, stderr: $(head -c 300 /tmp/check.err | tr '\n' ' '))"
    fi
}
# noted DESCRIPTION COMMAND...: ok when the command exits 0 and its stderr holds notes only (no vfioctl:, warning or
# error line).
noted() {
    description=$1
    shift
    "$@" >/tmp/check.out 2>/tmp/check.err
    status=$?
    if [ "$status" -eq 0 ] && ! grep -qE '^(vfioctl:|warning|error)' /tmp/check.err; then ok "$description (exit 0, notes only on stderr)"; else
        not_ok "$description (exit $status, stderr: $(head -c 300 /tmp/check.err | tr '\n' ' '))"
    fi
}
# out COMMAND...: the command's stdout when it exits 0 with nothing on stderr; otherwise one line saying how it
# failed, which no comparison expects (so `same "…" X "$(out vfioctl … | jq …)"` also asserts the status and stderr).
out() {
    "$@" >/tmp/out.out 2>/tmp/out.err
    status=$?
    if [ "$status" -eq 0 ] && [ ! -s /tmp/out.err ]; then cat /tmp/out.out; else
        echo "exit $status, stderr: $(head -c 200 /tmp/out.err | tr '\n' ' ')"
    fi
}
# said DESCRIPTION PATTERN COMMAND...: ok when the command exits 0 and says something on stderr, every line of it
# matching the extended regular expression PATTERN (the notes that run is expected to give).
said() {
    description=$1
    pattern=$2
    shift 2
    "$@" >/tmp/check.out 2>/tmp/check.err
    status=$?
    if [ "$status" -eq 0 ] && [ -s /tmp/check.err ] && ! grep -vqE "$pattern" /tmp/check.err; then
        ok "$description (exit 0, stderr as expected)"
    else
        not_ok "$description (exit $status, stderr: $(head -c 300 /tmp/check.err | tr '\n' ' '))"
    fi
}
# skipped REASON: this script cannot run on this machine (a missing package, no 9p); the host counts it as a
# failure unless the run allows skipping (VFIOCTL_ALLOW_VM_SKIP=1).
skipped() {
    echo "SKIPPED - $*"
    exit 0
}
