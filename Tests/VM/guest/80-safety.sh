# Safety on the real kernel: the guards refuse a disk controller the guest has mounted or swaps on (bind,
# persist, attach); kill -9 at random moments of a two-function group bind, each followed by `vfioctl recover`,
# always leaves both functions on virtio-pci with an empty driver_override; SIGINT mid-bind rolls back and exits
# 130; a bind and an unbind of different devices at the same time keep both records.
# checks: 27
. /tests/lib.sh.inc

find_device() { for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = "$1" ] && echo ${d##*/}; done | head -n1; }
driver() { d=/sys/bus/pci/devices/$1/driver; [ -e "$d" ] && basename "$(readlink "$d")" || echo none; }
override() { cat /sys/bus/pci/devices/$1/driver_override; }
disk=$(find_device 0x1af4:0x1042)
blk=$(ls /sys/bus/pci/devices/$disk/virtio*/block 2>/dev/null | head -n1)
kbd=$(find_device 0x1af4:0x1052)
slot=${kbd%.*}
mouse=$slot.1
nic=$(ls /sys/bus/pci/drivers/e1000e | grep '^0000' | head -n1)
cd /tmp

# --- the guards: a mounted filesystem, then swap, on the virtio disk --------------------------------------------
check "the virtio disk is there ($disk, /dev/$blk)" test -b "/dev/$blk"
mke2fs -q "/dev/$blk" > /dev/null 2>&1
mkdir -p /mnt/data
check "the disk is mounted" mount "/dev/$blk" /mnt/data
cat > /tmp/dom.xml <<XML
<domain type='kvm'>
  <name>g</name>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
  </devices>
</domain>
XML
cp /tmp/dom.xml /tmp/dom.orig
for command in "bind $disk" "persist $disk" "attach /tmp/dom.xml --hostdev $disk --in-place"; do
    vfioctl $command > /tmp/out.txt 2> /tmp/err.txt
    same "$(echo $command | cut -d' ' -f1) of the mounted disk's controller is refused (exit 75)" 75 "$?"
    check "the refusal names the mount on one line" sh -c \
        "[ \$(grep -c '^vfioctl: refusing: ' /tmp/err.txt) = 1 ] && grep -q '$blk mounted on /mnt/data' /tmp/err.txt"
done
same "the disk stays on virtio-pci with no override" "virtio-pci (null)" "$(driver $disk) $(override $disk)"
check "persist wrote nothing" sh -c "! test -e /etc/modprobe.d/vfioctl.conf && ! test -e /etc/vfioctl/persist.json"
check "attach left the domain file as it was" cmp /tmp/dom.xml /tmp/dom.orig
check "the filesystem is still mounted" grep -q " /mnt/data " /proc/mounts
umount /mnt/data
mkswap "/dev/$blk" > /dev/null 2>&1
check "swap on the disk is on" swapon "/dev/$blk"
vfioctl bind "$disk" > /dev/null 2> /tmp/err.txt
same "bind of the swap disk's controller is refused (exit 75)" 75 "$?"
check "the refusal names the swap" grep -q "$blk as swap" /tmp/err.txt
swapoff "/dev/$blk"
clean "an unused disk is no refusal (dry run)" vfioctl bind --dry-run "$disk"

# --- kill -9 at random moments of a group bind, each followed by recover -----------------------------------------
rounds=24
clean=0
before=0
mid=0
after=0
: > /tmp/kill.log
i=0
while [ $i -lt $rounds ]; do
    i=$((i + 1))
    vfioctl bind --group "$kbd" > /dev/null 2>&1 &
    pid=$!
    if [ $((i % 2)) -eq 0 ]; then
        # Even rounds: once the bind holds the lock (its pid file is there), so most kills land among the writes.
        n=0
        while [ ! -e /run/vfioctl/lock.pid ] && [ $n -lt 3000 ] && kill -0 $pid 2>/dev/null; do
            n=$((n + 1))
            usleep 1000
        done
        usleep $(( (RANDOM % 20) * 15000 ))
    else
        usleep $(( (RANDOM % 40) * 25000 ))
    fi
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ ! -e /run/vfioctl/journal.json ]; then
        before=$((before + 1))
    elif grep -q '"binding"' /run/vfioctl/journal.json; then
        mid=$((mid + 1))
    else
        after=$((after + 1))
    fi
    vfioctl recover > /tmp/recover.out 2>&1 || echo "round $i: recover failed: $(cat /tmp/recover.out)" >> /tmp/kill.log
    state="$(driver $kbd) $(driver $mouse) $(override $kbd) $(override $mouse)"
    if [ "$state" = "virtio-pci virtio-pci (null) (null)" ] && [ ! -e /run/vfioctl/journal.json ]; then
        clean=$((clean + 1))
    else
        echo "round $i: $state" >> /tmp/kill.log
    fi
done
same "after $rounds kill -9 rounds and recover, both functions are on virtio-pci with no override ($before before the journal, $mid mid-bind, $after after)" \
    "$rounds" "$clean"
check "the kills landed mid-bind in some rounds ($mid)" test "$mid" -gt 0
same "nothing was left for recover after the last round" "nothing to recover" "$(out vfioctl recover --dry-run)"
[ -s /tmp/kill.log ] && head -n 5 /tmp/kill.log

# --- SIGINT mid-bind: rolled back, exit 130 --------------------------------------------------------------------
interrupted=0
consistent=0
attempt=0
while [ $attempt -lt 10 ] && [ $interrupted -eq 0 ]; do
    attempt=$((attempt + 1))
    vfioctl bind --group "$kbd" > /dev/null 2> /tmp/int.err &
    pid=$!
    # Wait (bounded) until the journal exists: the bind has started moving devices.
    n=0
    while [ ! -e /run/vfioctl/journal.json ] && [ $n -lt 2000 ] && kill -0 $pid 2>/dev/null; do
        n=$((n + 1))
        usleep 1000
    done
    kill -INT "$pid" 2>/dev/null
    wait "$pid"
    status=$?
    if [ $status -eq 130 ]; then
        interrupted=1
        [ "$(driver $kbd) $(driver $mouse) $(override $kbd) $(override $mouse)" = "virtio-pci virtio-pci (null) (null)" ] \
            && [ ! -e /run/vfioctl/journal.json ] && grep -q "interrupted by SIGINT" /tmp/int.err && consistent=1
    else
        vfioctl unbind "$kbd" "$mouse" > /dev/null 2>&1
    fi
done
same "SIGINT during a bind exits 130" 1 "$interrupted"
same "after SIGINT both functions are back on virtio-pci with no override and no record" 1 "$consistent"

# --- a bind and an unbind of different devices at the same time -------------------------------------------------
clean "bind the e1000e first" vfioctl bind "$nic"
vfioctl bind --group "$kbd" > /tmp/a.out 2> /tmp/a.err &
a=$!
vfioctl unbind "$nic" > /tmp/b.out 2> /tmp/b.err &
b=$!
wait $a
sa=$?
wait $b
sb=$?
same "both runs exit 0; the bind notes the second function, the unbind says nothing on stderr" \
    "0 0|note: $mouse comes along with IOMMU group $(basename "$(readlink /sys/bus/pci/devices/$kbd/iommu_group)")|" \
    "$sa $sb|$(cat /tmp/a.err)|$(cat /tmp/b.err)"
check "the journal keeps both functions of the group" sh -c \
    "jq -e '[.records[].address] == [\"$kbd\", \"$mouse\"]' /run/vfioctl/journal.json"
same "the e1000e is back on e1000e and the group on vfio-pci" "e1000e vfio-pci vfio-pci" \
    "$(driver $nic) $(driver $kbd) $(driver $mouse)"
clean "unbind the group" vfioctl unbind "$kbd" "$mouse"
check "the journal is gone" test ! -e /run/vfioctl/journal.json
