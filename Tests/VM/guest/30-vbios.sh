# `vfioctl vbios dump` on a real kernel: the second VGA's ROM comes back byte for byte as QEMU was given it; the
# boot VGA (the firmware's shadow copy) and the e1000e's iPXE ROM are dumped and checked; the ROM switch is
# always off afterwards.
# checks: 19
. /tests/lib.sh.inc

find_device() { for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = "$1" ] && echo ${d##*/}; done | head -n1; }
std=$(find_device 0x1234:0x1111)
ati=$(find_device 0x1002:0x5159)
[ -n "$ati" ] || ati=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor)" = 0x1002 ] && echo ${d##*/}; done | head -n1)
nic=$(ls /sys/bus/pci/drivers/e1000e | grep '^0000' | head -n1)
cd /tmp

clean "dump the second VGA's ROM" vfioctl vbios dump "$std" -o /tmp/std.rom
check "the dump is byte for byte the ROM QEMU was given" cmp /tmp/std.rom /expected/vga-1234-1111.rom
clean "vbios check --for accepts it" vfioctl vbios check /tmp/std.rom --for "$std"
same "its image is x86, 1234:1111, last, checksum ok" "x86 1234 1111 true true" \
    "$(out vfioctl vbios check /tmp/std.rom --json | jq -r '.images[0] | "\(.codeType) \(.vendorID) \(.deviceID) \(.isLast) \(.checksumOK)"')"
same "the std VGA's ROM is switched off again" 0 "$(od -An -tu1 -N1 /sys/bus/pci/devices/$std/rom 2>/dev/null | tr -d ' ' | grep -c . )"

# vbios install: the checked ROM lands where QEMU reads ROMs, byte for byte, and the <rom> line names that file.
installed=/usr/share/vgabios/1234-1111-$(echo "$std" | tr ':' '-').rom
vfioctl vbios install /tmp/std.rom --for "$std" > /tmp/install.out 2> /tmp/install.err
status=$?
same "vbios install exits 0 with nothing on stderr" "0|" "$status|$(cat /tmp/install.err)"
check "the installed file is QEMU's ROM byte for byte" cmp "$installed" /expected/vga-1234-1111.rom
check "install prints the <rom> line naming the installed file" grep -qF "<rom file='$installed'/>" /tmp/install.out

clean "dump the e1000e's ROM (QEMU's iPXE)" vfioctl vbios dump "$nic" -o /tmp/nic.rom
clean "the e1000e ROM checks valid for the e1000e" vfioctl vbios check /tmp/nic.rom --for "$nic"
same "the e1000e ROM's first image is for 8086:10d3" "8086:10d3" \
    "$(out vfioctl vbios check /tmp/nic.rom --json | jq -r '.images[0] | "\(.vendorID):\(.deviceID)"')"

vfioctl vbios install /tmp/nic.rom --for "$std" > /tmp/wrong.out 2> /tmp/wrong.err
status=$?
check "installing the e1000e's ROM for the second VGA is refused (exit $status, $(head -c 200 /tmp/wrong.err))" \
    test "$status" -ne 0 -a -s /tmp/wrong.err
check "and the installed ROM is unchanged" cmp "$installed" /expected/vga-1234-1111.rom

# The boot VGA: the kernel serves the firmware's shadow copy. Either it is dumped and checks out, or vfioctl
# explains the boot-GPU case in one line.
if vfioctl vbios dump "$ati" -o /tmp/ati.rom > /tmp/ati.out 2> /tmp/ati.err; then
    clean "the boot VGA's shadow ROM checks valid" vfioctl vbios check /tmp/ati.rom
    same "the boot VGA's shadow ROM is for the ATI device" "1002" "$(out vfioctl vbios check /tmp/ati.rom --json | jq -r '.images[0].vendorID')"
else
    status=$?
    check "a refused boot-VGA dump explains the shadow copy (status $status)" grep -q "boot GPU" /tmp/ati.err
    same "the refusal is one line" 1 "$(wc -l < /tmp/ati.err)"
fi

# Bad input on the real host.
vfioctl vbios dump 0000:00:1f.7 -o /tmp/none.rom > /dev/null 2> /tmp/none.err
same "dumping a device that does not exist exits 66" 66 "$?"
check "and says so" grep -q "no PCI device matches 0000:00:1f.7" /tmp/none.err
kbd=$(find_device 0x1af4:0x1052)
vfioctl vbios dump "$kbd" > /dev/null 2> /tmp/norom.err
same "dumping a device without a ROM BAR exits 66" 66 "$?"
check "and says there is no ROM BAR" grep -q "has no ROM BAR" /tmp/norom.err
