# `vfioctl input list` on a real kernel with udev: libudev enumerates, libevdev reads the event nodes; then the sysfs
# reader (used under --sysroot) on the same kernel. Each reader's answer is judged on its own against the kernel and
# udev: /dev/input, /sys/class/input, `udevadm info` and the links in /dev/input/by-id and by-path. Nothing compares
# vfioctl with vfioctl.
# checks: 22
. /tests/lib.sh.inc

# The oracles, one node at a time.
sysdev() { echo "/sys/class/input/${1##*/}/device"; }
prop() { udevadm info -q property -n "$1" | sed -n "s/^$2=//p"; }
udev_kinds() {  # the ID_INPUT_* kinds udev set to 1, lowercase, sorted, space-separated
    udevadm info -q property -n "$1" \
        | sed -nE 's/^ID_INPUT_(KEYBOARD|MOUSE|TOUCHPAD|TABLET|TOUCHSCREEN|JOYSTICK|KEY|SWITCH)=1$/\1/p' \
        | tr 'A-Z' 'a-z' | sort | tr '\n' ' ' | sed 's/ $//'
}
field() { jq -r --arg n "$2" --arg f "$3" '.devices[] | select(.eventPath == $n) | .[$f] // "null" | if type == "array" then sort | join(" ") else tostring end' "$1"; }
by_id_kbd=$(ls -d /dev/input/by-id/usb-*-event-kbd | head -n1)
by_id_mouse=$(ls -d /dev/input/by-id/usb-*-event-mouse | head -n1)

# judge JSON LABEL: seven checks of one reader's answer against the kernel and udev.
judge() {
    json=$1
    label=$2
    same "$label: every event node in /dev/input is listed, once" \
        "$(ls /dev/input | grep '^event' | sort | sed 's|^|/dev/input/|' | tr '\n' ' ')" \
        "$(jq -r '.devices[].eventPath' "$json" | sort | tr '\n' ' ')"
    kinds="" ids="" buses="" links="" physical=""
    for node in /dev/input/event*; do
        # Keyboards and mice are what udev's input_id says.
        udev=$(udev_kinds "$node" | tr ' ' '\n' | grep -xE 'keyboard|mouse' | tr '\n' ' ' | sed 's/ $//')
        ours=$(jq -r --arg n "$node" '.devices[] | select(.eventPath == $n) | [.kinds[] | select(. == "keyboard" or . == "mouse")] | sort | join(" ")' "$json")
        [ "$udev" = "$ours" ] || kinds="$kinds $node vfioctl='$ours' udev='$udev';"
        # Name and IDs are the kernel's (/sys/class/input/eventN/device).
        d=$(sysdev "$node")
        expected="$(cat "$d/name")|$(cat "$d/id/vendor")|$(cat "$d/id/product")"
        got="$(field "$json" "$node" name)|$(field "$json" "$node" vendorID)|$(field "$json" "$node" productID)"
        [ "$expected" = "$got" ] || ids="$ids $node expected '$expected' got '$got';"
        # The bus is udev's ID_BUS; a node without one under a virtio device is on virtio.
        bus=$(prop "$node" ID_BUS)
        [ -z "$bus" ] && case "$(readlink -f "$d")" in */virtio*) bus=virtio ;; esac
        [ -z "$bus" ] || [ "$bus" = "$(field "$json" "$node" bus)" ] || buses="$buses $node udev '$bus' got '$(field "$json" "$node" bus)';"
        # The stable path is a link udev made for this node: its by-id link when it has one, else its by-path link.
        udev_links=$(udevadm info -q symlink -n "$node" | tr ' ' '\n' | sed '/^$/d; s|^|/dev/|')
        want=$(echo "$udev_links" | grep '^/dev/input/by-id/' | head -n1)
        [ -n "$want" ] || want=$(echo "$udev_links" | grep '^/dev/input/by-path/' | head -n1)
        stable=$(field "$json" "$node" stablePath)
        if [ -n "$want" ]; then
            { echo "$udev_links" | grep -qxF "$stable" && [ "$(readlink -f "$stable")" = "$node" ] && [ "${stable%/*}" = "${want%/*}" ]; } \
                || links="$links $node udev '$want' got '$stable';"
        else
            [ "$stable" = null ] || links="$links $node udev made no link, got '$stable';"
        fi
        # The physical device holds the node's sysfs device and lies under the PCI function udev's ID_PATH names.
        phys=$(field "$json" "$node" physicalDevice)
        pci=$(prop "$node" ID_PATH | sed -nE 's/^pci-([0-9a-f:.]+).*/\1/p')
        case "$(readlink -f "$d")" in "$phys"/*) ;; *) physical="$physical $node '$phys' does not hold $(readlink -f "$d");" ;; esac
        [ -z "$pci" ] || case "$phys" in */"$pci"/*) ;; *) physical="$physical $node '$phys' is not under $pci;" ;; esac
    done
    same "$label: a node is a keyboard or mouse exactly when udevadm info says ID_INPUT_KEYBOARD or ID_INPUT_MOUSE" "" "$kinds"
    same "$label: every node's name, vendor and product are /sys/class/input/eventN/device's" "" "$ids"
    same "$label: every node's bus is udev's ID_BUS (virtio under a virtio device)" "" "$buses"
    same "$label: every stable path is udev's own link to that node, by-id when udev made one" "" "$links"
    same "$label: every physical device holds its node and sits under the PCI function of udev's ID_PATH" "" "$physical"
    same "$label: auto takes exactly the nodes of udev's by-id -event-kbd and -event-mouse links" \
        "$(printf '%s\n%s\n' "$(readlink -f "$by_id_kbd")" "$(readlink -f "$by_id_mouse")" | sort | tr '\n' ' ')" \
        "$(jq -r '.devices[] | select(.autoSelected) | .eventPath' "$json" | sort | tr '\n' ' ')"
}

json=/tmp/input.json
vfioctl input list --json > "$json" 2>/tmp/input.err
same "vfioctl input list --json exits 0 with nothing on stderr (every event node opened)" "0|" "$?|$(cat /tmp/input.err)"
same "libevdev read every node" "libevdev" "$(jq -r '[.devices[].capabilitiesFrom] | unique | join(",")' $json)"
disagree=""
for node in /dev/input/event*; do
    [ "$(udev_kinds "$node")" = "$(field "$json" "$node" udevKinds)" ] \
        || disagree="$disagree $node udev='$(udev_kinds "$node")' got '$(field "$json" "$node" udevKinds)';"
done
same "udevKinds is every ID_INPUT_* udevadm info sets on the node" "" "$disagree"
judge "$json" "libudev+libevdev"
check "the USB keyboard, USB mouse and virtio keyboard and mouse each have an event node (the machine is as built)" \
    sh -c "[ -e '$by_id_kbd' ] && [ -e '$by_id_mouse' ] && [ \$(grep -lx 'QEMU Virtio Keyboard' /sys/class/input/event*/device/name | wc -l) = 1 ] && [ \$(grep -lx 'QEMU Virtio Mouse' /sys/class/input/event*/device/name | wc -l) = 1 ]"

vfioctl input list > /tmp/input.txt 2> /tmp/input-table.err
same "vfioctl input list (table) exits 0 with nothing on stderr" "0|" "$?|$(cat /tmp/input-table.err)"
check "the table's QEMU arguments name udev's by-id keyboard with grab_all and the ctrl-ctrl toggle" \
    grep -qF "input-linux,id=kbd0,evdev=$(echo "$by_id_kbd" | sed 's/,/,,/g'),grab_all=on,repeat=on,grab-toggle=ctrl-ctrl" /tmp/input.txt

# The sysfs implementation (used under --sysroot), judged by the same oracles.
mkdir -p /tmp/root/sys /tmp/root/dev /tmp/root/etc /tmp/root/proc
mount -o bind /sys /tmp/root/sys && mount -o bind /dev /tmp/root/dev
vfioctl input list --json --sysroot /tmp/root > /tmp/input-sysfs.json 2>/tmp/input-sysfs.err
same "input list --sysroot exits 0 with nothing on stderr" "0|" "$?|$(cat /tmp/input-sysfs.err)"
same "the sysfs reader read the kernel's bitmaps" sysfs "$(jq -r '[.devices[].capabilitiesFrom] | unique | join(",")' /tmp/input-sysfs.json)"
judge /tmp/input-sysfs.json "sysfs"
umount /tmp/root/sys /tmp/root/dev
