# `vfioctl persist` on the real kernel's devices: --dry-run writes nothing; a real persist writes vfio-pci's options
# for the second VGA's IDs as the kernel reports them, adds its block to the user's initramfs module list and records
# the function; --remove puts /etc and /boot back byte for byte. The boot VGA is refused, with nothing written.
# checks: 12
. /tests/lib.sh.inc

find_device() { for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = "$1" ] && echo ${d##*/}; done | head -n1; }
std=$(find_device 0x1234:0x1111)
ati=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor)" = 0x1002 ] && echo ${d##*/}; done | head -n1)
ids="$(cut -c3- /sys/bus/pci/devices/$std/vendor):$(cut -c3- /sys/bus/pci/devices/$std/device)"
# Every file and folder under /etc and /boot, with the hash of each file's bytes.
snapshot() {
    find /etc /boot -type f 2>/dev/null | sort | while read -r f; do sha256sum "$f"; done
    find /etc /boot -type d 2>/dev/null | sort
}
mkdir -p /etc/initramfs-tools
printf '# the user'"'"'s list\nloop' > /etc/initramfs-tools/modules
snapshot > /tmp/before.txt

vfioctl persist "$std" --dry-run > /tmp/dry.out 2> /tmp/dry.err
status=$?
# This guest has no GRUB: the one line on stderr is the note saying where the IOMMU options go instead.
same "persist --dry-run exits 0; stderr is only the no-GRUB note" "0|note: no GRUB found" "$status|$(cut -d: -f1-2 /tmp/dry.err)"
check "the dry run shows vfio-pci's options with the kernel's IDs ($ids)" grep -qF "ids=$ids" /tmp/dry.out
same "the dry run changed nothing under /etc and /boot" "" "$(snapshot | diff /tmp/before.txt - | grep '^[<>]')"

vfioctl persist "$std" > /tmp/persist.out 2> /tmp/persist.err
status=$?
same "persist exits 0; stderr is only the no-GRUB note" "0|note: no GRUB found" "$status|$(cut -d: -f1-2 /tmp/persist.err)"
check "modprobe.d gives vfio-pci the kernel's IDs ($ids)" grep -q "^options vfio-pci ids=$ids" /etc/modprobe.d/vfioctl.conf
check "the user's initramfs module list keeps its lines and gains vfio_pci" sh -c \
    "grep -qx loop /etc/initramfs-tools/modules && grep -qx vfio_pci /etc/initramfs-tools/modules"
check "the state file records the function" grep -qF "$std" /etc/vfioctl/persist.json

vfioctl persist --remove > /tmp/remove.out 2> /tmp/remove.err
status=$?
same "persist --remove exits 0 with nothing on stderr" "0|" "$status|$(cat /tmp/remove.err)"
same "--remove put /etc and /boot back byte for byte" "" "$(snapshot | diff /tmp/before.txt - | grep '^[<>]')"

vfioctl persist "$ati" > /tmp/boot.out 2> /tmp/boot.err
status=$?
same "persist refuses the boot VGA with exit 75, in one line" "75 1" "$status $(wc -l < /tmp/boot.err)"
check "the refusal names the boot GPU ($(head -c 200 /tmp/boot.err))" grep -qi "boot" /tmp/boot.err
same "and nothing under /etc and /boot changed" "" "$(snapshot | diff /tmp/before.txt - | grep '^[<>]')"
rm -rf /etc/initramfs-tools
