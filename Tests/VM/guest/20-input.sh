# `vfioctl input list` on a real kernel with udev: libudev enumerates, libevdev reads the event nodes; the virtio
# and USB keyboards and mice are found, classified as udev classifies them, with udev's own links.
# checks: 28
. /tests/lib.sh.inc

json=/tmp/input.json
if ! vfioctl input list --json > "$json" 2>/tmp/input.err; then
    not_ok "vfioctl input list --json exits 0 ($(head -c 300 /tmp/input.err))"
    exit 0
fi
ok "vfioctl input list --json exits 0"
same "no warnings (every event node opened)" "" "$(cat /tmp/input.err)"
check "vfioctl input list (table) exits 0" vfioctl input list

same "every event node is listed" "$(ls /dev/input | grep '^event' | sort | sed 's|^|/dev/input/|' | tr '\n' ' ')" \
    "$(jq -r '.[].eventPath' $json | sort | tr '\n' ' ')"
same "libevdev read every node" "libevdev" "$(jq -r '[.[].capabilitiesFrom] | unique | join(",")' $json)"
same "libudev gave udev's classification for every node" 0 "$(jq '[.[] | select(.udevKinds == null)] | length' $json)"

# Keyboards and mice are what udev's input_id says: ID_INPUT_KEYBOARD / ID_INPUT_MOUSE from `udevadm info`, per node.
disagree=""
for node in /dev/input/event*; do
    props=$(udevadm info -q property -n "$node")
    udev=""
    echo "$props" | grep -qx 'ID_INPUT_KEYBOARD=1' && udev="keyboard"
    echo "$props" | grep -qx 'ID_INPUT_MOUSE=1' && udev="${udev:+$udev }mouse"
    ours=$(jq -r --arg n "$node" '.[] | select(.eventPath == $n) | [.kinds[] | select(. == "keyboard" or . == "mouse")] | sort | join(" ")' $json)
    [ "$udev" = "$ours" ] || disagree="$disagree $node vfioctl='$ours' udevadm='$udev';"
done
same "every node is a keyboard or mouse exactly when udevadm info says ID_INPUT_KEYBOARD or ID_INPUT_MOUSE" "" "$disagree"

by_name() { jq -c --arg n "$1" '[.[] | select(.name == $n)][0]' $json; }
usbkbd=$(jq -c '[.[] | select(.bus == "usb" and (.kinds | index("keyboard")))][0]' $json)
usbmouse=$(jq -c '[.[] | select(.bus == "usb" and (.kinds | index("mouse")))][0]' $json)
vkbd=$(by_name "QEMU Virtio Keyboard")
vmouse=$(by_name "QEMU Virtio Mouse")
check "the USB keyboard is found" test "$usbkbd" != null
check "the USB mouse is found" test "$usbmouse" != null
check "the virtio keyboard is found" test "$vkbd" != null
check "the virtio mouse is found" test "$vmouse" != null
same "the virtio keyboard is a keyboard on virtio" "keyboard virtio" "$(echo "$vkbd" | jq -r '"\(.kinds | join(",")) \(.bus)"')"
same "the virtio mouse is a mouse on virtio" "mouse virtio" "$(echo "$vmouse" | jq -r '"\(.kinds | join(",")) \(.bus)"')"

stable_matches() {  # the stable path is one of udev's links to this very node
    device=$1
    path=$(echo "$device" | jq -r .stablePath)
    node=$(echo "$device" | jq -r .eventPath)
    [ -L "$path" ] && [ "$(readlink -f "$path")" = "$node" ]
}
same "the USB keyboard's path is the -event-kbd link in /dev/input/by-id" \
    "$(ls -d /dev/input/by-id/usb-*-event-kbd | head -n1)" "$(echo "$usbkbd" | jq -r .stablePath)"
same "the USB mouse's path is the -event-mouse link in /dev/input/by-id" \
    "$(ls -d /dev/input/by-id/usb-*-event-mouse | head -n1)" "$(echo "$usbmouse" | jq -r .stablePath)"
same "the virtio keyboard's path is its by-path link (virtio has no by-id)" \
    "$(ls /dev/input/by-path | grep -- '-event-kbd$' | grep -v usb | sed 's|^|/dev/input/by-path/|' | head -n1)" \
    "$(echo "$vkbd" | jq -r .stablePath)"
check "the virtio mouse's path is a by-path link" sh -c "echo '$vmouse' | jq -r .stablePath | grep -q '^/dev/input/by-path/pci-'"
for name in usbkbd usbmouse vkbd vmouse; do
    eval "device=\$$name"
    check "$name: its stable path resolves to its event node" stable_matches "$device"
done
check "the virtio keyboard and mouse are separate physical devices" test \
    "$(echo "$vkbd" | jq -r .physicalDevice)" != "$(echo "$vmouse" | jq -r .physicalDevice)"

same "auto selects one keyboard and one mouse" "1 1" \
    "$(jq '[.[] | select(.autoSelected and (.kinds | index("keyboard")))] | length' $json) $(jq '[.[] | select(.autoSelected and (.kinds | index("mouse")))] | length' $json)"
same "auto takes the USB keyboard (the node udev's by-id -event-kbd link points at)" \
    "$(readlink -f "$(ls -d /dev/input/by-id/usb-*-event-kbd | head -n1)")" \
    "$(jq -r '.[] | select(.autoSelected and (.kinds | index("keyboard"))) | .eventPath' $json)"
check "nothing without a keyboard or mouse kind is taken" test \
    "$(jq '[.[] | select(.autoSelected and ((.kinds | index("keyboard")) == null) and ((.kinds | index("mouse")) == null))] | length' $json)" = 0
check "the table prints the QEMU arguments with grab_all and the ctrl-ctrl toggle" sh -c \
    "vfioctl input list | grep -q 'input-linux,id=kbd0,evdev=/dev/input/by-id/.*,grab_all=on,repeat=on,grab-toggle=ctrl-ctrl'"

# The sysfs implementation (used under --sysroot) gives the same answer on the same real kernel.
mkdir -p /tmp/root/sys /tmp/root/dev /tmp/root/etc /tmp/root/proc
mount -o bind /sys /tmp/root/sys && mount -o bind /dev /tmp/root/dev
if vfioctl input list --json --sysroot /tmp/root > /tmp/input-sysfs.json 2>/tmp/input-sysfs.err; then
    summary='[.[] | {eventPath, kinds, stablePath, physicalDevice, autoSelected, bus, name, vendorID, productID}]'
    same "the sysfs reader agrees with libudev+libevdev on every node" \
        "$(jq -c "$summary" $json)" "$(jq -c "$summary" /tmp/input-sysfs.json)"
    same "the sysfs reader read the kernel's bitmaps" sysfs "$(jq -r '[.[].capabilitiesFrom] | unique | join(",")' /tmp/input-sysfs.json)"
else
    not_ok "vfioctl input list --sysroot exits 0 ($(head -c 300 /tmp/input-sysfs.err))"
fi
umount /tmp/root/sys /tmp/root/dev
