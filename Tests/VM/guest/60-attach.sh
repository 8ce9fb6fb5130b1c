# `vfioctl attach` against the real kernel's devices: the second VGA's real address in <hostdev>, the ROM that
# the vbios test installed, the real keyboard and mouse links udev made; detach gives back the file byte for byte.
# checks: 14
. /tests/lib.sh.inc

find_device() { for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = "$1" ] && echo ${d##*/}; done | head -n1; }
std=$(find_device 0x1234:0x1111)
bus=$(echo "$std" | cut -d: -f2)
slot=$(echo "$std" | cut -d: -f3 | cut -d. -f1)
cd /tmp
cat > guest.xml <<'XML'
<domain type='kvm'>
  <!-- a guest defined by hand -->
  <name>guest</name>
  <memory unit='GiB'>4</memory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
  </os>
  <devices>
    <controller type='pci' index='0' model='pcie-root'/>
  </devices>
</domain>
XML
cp guest.xml original.xml

noted "attach the second VGA, Looking Glass, Scream and evdev" vfioctl attach guest.xml --gpu "$std" --looking-glass --scream --evdev auto -o merged.xml
check "the hostdev names the kernel's address of the second VGA" \
    grep -q "<address domain='0x0000' bus='0x$bus' slot='0x$slot' function='0x0'/>" merged.xml
check "it sits on a new root port (bus 1)" grep -q "<address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>" merged.xml
installed=$(ls /usr/share/vgabios/1234-1111-*.rom 2>/dev/null | head -n1)
if [ -n "$installed" ]; then
    check "the ROM installed by vbios install (30-vbios) is used" grep -qF "<rom file='$installed'/>" merged.xml
else
    check "no ROM element without an installed ROM (30-vbios not run)" sh -c "! grep -q '<rom' merged.xml"
fi
# udev's own links, not vfioctl's answer: the USB keyboard and mouse are the by-id links of this machine.
keyboard=$(ls -d /dev/input/by-id/usb-*-event-kbd | head -n1)
mouse=$(ls -d /dev/input/by-id/usb-*-event-mouse | head -n1)
check "udevadm info calls the by-id keyboard a keyboard" sh -c "udevadm info -q property -n '$keyboard' | grep -qx ID_INPUT_KEYBOARD=1"
check "the keyboard is udev's by-id link, with grab_all and the toggle" \
    grep -qF "evdev=$(echo "$keyboard" | sed 's/,/,,/g'),grab_all=on,repeat=on,grab-toggle=ctrl-ctrl" merged.xml
check "the mouse is udev's by-id link" grep -qF "evdev=$(echo "$mouse" | sed 's/,/,,/g')'" merged.xml
check "the user's comment is still there" grep -q "<!-- a guest defined by hand -->" merged.xml
vfioctl attach merged.xml --gpu "$std" --looking-glass --scream --evdev auto --print-diff > /tmp/again.out 2> /tmp/again.err
again=$?
# stderr carries advice (the installed ROM, Looking Glass, qemu.conf): notes only, never an error or a warning.
same "a second attach changes nothing: exit 0, no diff, no error or warning on stderr" "0||0" \
    "$again|$(cat /tmp/again.out)|$(grep -cE '^(vfioctl:|warning|error)' /tmp/again.err)"
cp merged.xml inplace.xml
noted "detach everything in place" vfioctl detach inplace.xml --gpu "$std" --looking-glass --scream --evdev auto --in-place
check "detach gives back the original byte for byte" cmp inplace.xml original.xml
check "the in-place run kept a backup of what it replaced" cmp inplace.xml.bak merged.xml
if vfioctl attach guest.xml --gpu 0000:42:00.0 --print-xml > /tmp/bad.out 2> /tmp/bad.err; then
    not_ok "a device the kernel does not have is refused"
else
    same "a device the kernel does not have is refused in one line" 1 "$(wc -l < /tmp/bad.err)"
fi
check "and the file is untouched" cmp guest.xml original.xml
