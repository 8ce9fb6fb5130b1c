# `vfioctl list --json` agrees with the kernel: every group and its members, every device's IDs, class, driver,
# group, boot_vga and reset methods, the viability of the shared virtio group and of the bridge group, the GPUs.
# checks: 29
. /tests/lib.sh.inc

json=/tmp/list.json
if ! vfioctl list --json > "$json" 2>/tmp/list.err || [ -s /tmp/list.err ]; then
    not_ok "vfioctl list --json exits 0 with nothing on stderr ($(head -c 300 /tmp/list.err))"
    exit 0
fi
ok "vfioctl list --json exits 0 with nothing on stderr"
clean "vfioctl list (table) exits 0" vfioctl list
same "no warnings on a real kernel" "" "$(cat /tmp/list.err)"

same "iommu.enabled" true "$(jq -r .iommu.enabled $json)"
same "iommu.groupCount is the number of /sys/kernel/iommu_groups" "$(ls /sys/kernel/iommu_groups | wc -l)" "$(jq -r .iommu.groupCount $json)"
same "iommu.advice is empty" 0 "$(jq '.iommu.advice | length' $json)"

# Every group, with exactly the kernel's members.
mismatch=""
for dir in /sys/kernel/iommu_groups/*; do
    id=${dir##*/}
    expected=$(ls "$dir/devices" | sort | tr '\n' ' ')
    actual=$(jq -r --argjson id "$id" '.groups[] | select(.id == $id) | .devices[]' $json | sort | tr '\n' ' ')
    [ "$expected" = "$actual" ] || mismatch="$mismatch group $id: kernel '$expected' vfioctl '$actual';"
done
same "every group has the kernel's members" "" "$mismatch"
same "no extra groups" "$(ls /sys/kernel/iommu_groups | wc -l)" "$(jq '.groups | length' $json)"

# Every PCI function, field by field: one line per device from sysfs, the same line from vfioctl's JSON.
for dir in /sys/bus/pci/devices/*; do
    address=${dir##*/}
    driver=null
    [ -e "$dir/driver" ] && driver=$(basename "$(readlink "$dir/driver")")
    boot=false
    [ "$(cat "$dir/boot_vga" 2>/dev/null)" = 1 ] && boot=true
    methods=$(cat "$dir/reset_method" 2>/dev/null | tr ' ' ',')
    bridge=false
    [ $(( $(od -An -tu1 -j14 -N1 "$dir/config") & 127 )) -ne 0 ] && bridge=true
    echo "$address $(cut -c3- "$dir/vendor") $(cut -c3- "$dir/device") $(cat "$dir/class") $driver" \
        "$(basename "$(readlink "$dir/iommu_group")") $boot [$methods] $bridge"
done > /tmp/kernel.txt
jq -r '.devices[] | "\(.address) \(.vendorID) \(.deviceID) \(.class) \(.driver) \(.iommuGroup) \(.isBootVGA)" +
    " [\(.resetMethods | join(","))] \(.isBridge)"' $json > /tmp/vfioctl.txt
check "every PCI function matches sysfs (IDs, class, driver, group, boot_vga, reset_method, header type)" \
    diff /tmp/kernel.txt /tmp/vfioctl.txt
check "the kernel lists reset methods for some devices (the comparison is not vacuous)" grep -q '\[[a-z]' /tmp/kernel.txt

# The virtio keyboard and mouse: two functions of one slot, one group, on virtio-pci: not viable.
kbd=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = "0x1af4:0x1052" ] && echo ${d##*/}; done | head -n1)
slot=${kbd%.*}
vgroup=$(basename "$(readlink /sys/bus/pci/devices/$kbd/iommu_group)")
same "the virtio functions share a group" "$slot.0 $slot.1" "$(jq -r --argjson id "$vgroup" '.groups[] | select(.id == $id) | .devices[]' $json | sort | tr '\n' ' ' | sed 's/ $//')"
same "the virtio group is not viable" false "$(jq -r --argjson id "$vgroup" '.groups[] | select(.id == $id) | .viable' $json)"
same "both virtio functions block it, on virtio-pci" "$slot.0:virtio-pci $slot.1:virtio-pci" \
    "$(jq -r --argjson id "$vgroup" '.groups[] | select(.id == $id) | .blockers[] | "\(.address):\(.driver)"' $json | sort | tr '\n' ' ' | sed 's/ $//')"

# The PCIe-to-PCI bridge on shpchp blocks its group (DMA ownership since 5.19).
bridge=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = "0x1b36:0x000e" ] && echo ${d##*/}; done | head -n1)
bgroup=$(basename "$(readlink /sys/bus/pci/devices/$bridge/iommu_group)")
same "the bridge is on shpchp" shpchp "$(basename "$(readlink /sys/bus/pci/devices/$bridge/driver)")"
same "the bridge's group is not viable" false "$(jq -r --argjson id "$bgroup" '.groups[] | select(.id == $id) | .viable' $json)"
same "the bridge blocks it, on shpchp" "$bridge:shpchp" "$(jq -r --argjson id "$bgroup" '.groups[] | select(.id == $id) | .blockers[] | select(.address == "'$bridge'") | "\(.address):\(.driver)"' $json)"
behind=$(ls /sys/kernel/iommu_groups/$bgroup/devices | wc -l)
check "the device behind the bridge shares its group ($behind members)" test "$behind" -ge 2

# A group holding only a driverless device is viable (the ATI VGA, the ivshmem device).
ati=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor)" = 0x1002 ] && echo ${d##*/}; done | head -n1)
agroup=$(basename "$(readlink /sys/bus/pci/devices/$ati/iommu_group)")
same "the ATI VGA has no driver" "" "$(readlink /sys/bus/pci/devices/$ati/driver)"
same "its group is viable" true "$(jq -r --argjson id "$agroup" '.groups[] | select(.id == $id) | .viable' $json)"

# GPUs.
same "the ATI VGA is an AMD GPU" amd "$(jq -r --arg a "$ati" '.gpus[] | select(.address == $a) | .vendor' $json)"
boot=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/boot_vga 2>/dev/null)" = 1 ] && echo ${d##*/}; done)
check "the kernel has a boot VGA ($boot)" test -n "$boot"
same "the kernel's boot VGA is vfioctl's boot GPU" "$boot" "$(jq -r '.gpus[] | select(.isBootVGA) | .address' $json)"
same "the boot GPU's status is boot GPU" "boot GPU" "$(jq -r '.gpus[] | select(.isBootVGA) | .status' $json)"
std=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = "0x1234:0x1111" ] && echo ${d##*/}; done | head -n1)
same "the std VGA is a GPU of vendor other" other "$(jq -r --arg a "$std" '.gpus[] | select(.address == $a) | .vendor' $json)"
same "two GPUs" 2 "$(jq '.gpus | length' $json)"
same "the root ports and the PCIe-to-PCI bridge are bridges" \
    "$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/class | cut -c1-6)" = 0x0604 ] && echo ${d##*/}; done | tr '\n' ' ')" \
    "$(jq -r '.devices[] | select(.isBridge) | .address' $json | tr '\n' ' ')"
same "the e1000e's NIC reports FLR as the kernel lists it" \
    "$(grep -qw flr /sys/bus/pci/devices/$(ls /sys/bus/pci/drivers/e1000e | grep ^0000 | head -n1)/reset_method && echo true || echo false)" \
    "$(jq -r --arg a "$(ls /sys/bus/pci/drivers/e1000e | grep ^0000 | head -n1)" '.devices[] | select(.address == $a) | .supportsFLR' $json)"
clean "show ADDR answers for the std VGA" vfioctl show "$std"
clean "list --group N answers for the virtio group" vfioctl list --group "$vgroup"
