# `vfioctl bind` / `unbind` against the real kernel: a NIC taken from its driver and given back, the driverless
# boot VGA (refused without --force), the two-function virtio group (refused without --group), /dev/vfio/N
# appearing and going, and a failure after the first function rolled back.
# checks: 33
. /tests/lib.sh.inc

find_device() { for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = "$1" ] && echo ${d##*/}; done | head -n1; }
driver() { d=/sys/bus/pci/devices/$1/driver; [ -e "$d" ] && basename "$(readlink "$d")" || echo none; }
group() { basename "$(readlink /sys/bus/pci/devices/$1/iommu_group)"; }
override() { cat /sys/bus/pci/devices/$1/driver_override; }
nic=$(ls /sys/bus/pci/drivers/e1000e | grep '^0000' | head -n1)
ati=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor)" = 0x1002 ] && echo ${d##*/}; done | head -n1)
kbd=$(find_device 0x1af4:0x1052)
slot=${kbd%.*}
mouse=$slot.1

# --dry-run prints the writes and changes nothing.
vfioctl bind --dry-run "$nic" > /tmp/dry.txt 2> /tmp/dry.err
same "dry-run exits 0 with nothing on stderr" "0|" "$?|$(cat /tmp/dry.err)"
same "dry-run prints the override, unbind and probe writes" \
    "echo vfio-pci > /sys/bus/pci/devices/$nic/driver_override|echo $nic > /sys/bus/pci/drivers/e1000e/unbind|echo $nic > /sys/bus/pci/drivers_probe" \
    "$(grep '^echo' /tmp/dry.txt | tr '\n' '|' | sed 's/|$//')"
same "dry-run changed nothing" "e1000e (null)" "$(driver $nic) $(override $nic)"

# A NIC on its driver: to vfio-pci and back.
clean "bind the e1000e" vfioctl bind "$nic"
same "the e1000e is on vfio-pci" vfio-pci "$(driver $nic)"
check "/dev/vfio/$(group $nic) appeared" test -c /dev/vfio/$(group $nic)
check "the journal remembers the original driver (e1000e)" grep -q e1000e /run/vfioctl/journal.json
vfioctl bind "$nic" > /tmp/again.out 2> /tmp/again.err
same "binding it again is a no-op: exit 0, says already bound, nothing on stderr" "0|1|" \
    "$?|$(grep -c 'already bound' /tmp/again.out)|$(cat /tmp/again.err)"
clean "unbind the e1000e" vfioctl unbind "$nic"
same "the e1000e is back on e1000e with no override" "e1000e (null)" "$(driver $nic) $(override $nic)"
check "/dev/vfio/$(group $nic) went away" test ! -e /dev/vfio/$(group $nic)

# The driverless boot VGA: refused, then forced, then given back to no driver.
vfioctl bind "$ati" > /dev/null 2> /tmp/boot.err
same "binding the boot GPU is refused (exit 75)" 75 "$?"
check "the refusal says it is the boot GPU" grep -q "is the boot GPU" /tmp/boot.err
same "still driverless" none "$(driver $ati)"
said "bind the boot VGA with --force warns, in one line, that it is the boot GPU" "^warning: forced: $ati is the boot GPU" \
    vfioctl bind --force "$ati"
same "the ATI VGA is on vfio-pci" vfio-pci "$(driver $ati)"
clean "unbind it" vfioctl unbind "$ati"
same "the ATI VGA is driverless again" "none (null)" "$(driver $ati) $(override $ati)"

# The two-function virtio group.
vfioctl bind "$kbd" > /dev/null 2> /tmp/group.err
same "binding one function of the virtio group is refused (exit 75)" 75 "$?"
check "the refusal names the other function and --group" sh -c "grep -q '$mouse' /tmp/group.err && grep -q -- '--group' /tmp/group.err"
same "both still on virtio-pci" "virtio-pci virtio-pci" "$(driver $kbd) $(driver $mouse)"
said "bind the virtio group with --group notes that $mouse comes along" "^note: $mouse comes along with IOMMU group $(group $kbd)\$" \
    vfioctl bind --group "$kbd"
same "both functions on vfio-pci" "vfio-pci vfio-pci" "$(driver $kbd) $(driver $mouse)"
check "/dev/vfio/$(group $kbd) appeared" test -c /dev/vfio/$(group $kbd)
same "list says the group is viable now" true "$(out vfioctl list --json | jq '.groups[] | select(.id == '"$(group $kbd)"') | .viable')"
clean "unbind both" vfioctl unbind "$kbd" "$mouse"
same "both back on virtio-pci" "virtio-pci virtio-pci" "$(driver $kbd) $(driver $mouse)"
check "/dev/vfio/$(group $kbd) went away" test ! -e /dev/vfio/$(group $kbd)

# A failure after the first function: the kernel refuses the second override (a read-only file over it).
echo "(null)" > /tmp/ro-override
mount -o bind,ro /tmp/ro-override /sys/bus/pci/devices/$mouse/driver_override
vfioctl bind --group "$kbd" > /dev/null 2> /tmp/fail.err
status=$?
umount /sys/bus/pci/devices/$mouse/driver_override
check "the failed bind exits non-zero ($status)" test "$status" -ne 0
check "the error is one line naming what happened to each function" sh -c "[ \$(wc -l < /tmp/fail.err) -le 3 ] && grep -q 'restored' /tmp/fail.err"
same "every function is back on its original driver" "virtio-pci virtio-pci" "$(driver $kbd) $(driver $mouse)"
same "the first function's override was cleared" "(null)" "$(override $kbd)"
check "no vfio group node is left" test ! -e /dev/vfio/$(group $kbd)
