# `vfioctl sriov` against the real kernel: QEMU's NVMe controller with SR-IOV gets two virtual functions (each in its
# own IOMMU group, no host driver on them), list shows the PF with its VFs and each VF's PF, a VF goes to vfio-pci,
# removing the VFs is refused while it is there and accepted once it is back, and --persist writes the udev rule
# that persist --remove takes out. The answers come from sysfs, never from vfioctl's own output.
# checks: 26
. /tests/lib.sh.inc

driver() { d=/sys/bus/pci/devices/$1/driver; [ -e "$d" ] && basename "$(readlink "$d")" || echo none; }
group() { basename "$(readlink /sys/bus/pci/devices/$1/iommu_group)"; }
pf=$(for d in /sys/bus/pci/devices/*; do [ -e "$d/sriov_totalvfs" ] && [ "$(cat $d/device)" = 0x0010 ] && echo ${d##*/}; done | head -n1)
[ -n "$pf" ] || skipped "no SR-IOV NVMe controller (QEMU older than 7.1?)"
dir=/sys/bus/pci/devices/$pf
vfs() { for link in "$dir"/virtfn*; do [ -e "$link" ] && basename "$(readlink "$link")"; done | sort | tr '\n' ' ' | sed 's/ $//'; }

same "the PF is on nvme with 2 VFs offered and none made" "nvme 2 0" "$(driver $pf) $(cat $dir/sriov_totalvfs) $(cat $dir/sriov_numvfs)"
same "list --json has the kernel's totals for the PF" "2 0" \
    "$(out vfioctl list --json | jq -r --arg a "$pf" '.devices[] | select(.address == $a) | "\(.sharing.sriov.totalVFs) \(.sharing.sriov.numVFs)"')"

# --dry-run prints the writes and changes nothing.
same "sriov --dry-run prints autoprobe off, then the count" \
    "echo 0 > $dir/sriov_drivers_autoprobe|echo 2 > $dir/sriov_numvfs" \
    "$(out vfioctl sriov $pf --vfs 2 --dry-run | tr '\n' '|' | sed 's/|$//')"
same "dry-run changed nothing" "0 1" "$(cat $dir/sriov_numvfs) $(cat $dir/sriov_drivers_autoprobe)"

clean "sriov --vfs 2" vfioctl sriov "$pf" --vfs 2
same "the kernel has 2 VFs" 2 "$(cat $dir/sriov_numvfs)"
same "sriov --vfs 2 leaves sriov_drivers_autoprobe off" 0 "$(cat $dir/sriov_drivers_autoprobe)"
set -- $(vfs)
vf0=${1:-none}
vf1=${2:-none}
same "no host driver took the VFs" "none none" "$(driver $vf0) $(driver $vf1)"
check "each VF has its own IOMMU group, not the PF's" sh -c "[ '$(group $vf0)' != '$(group $vf1)' ] && [ '$(group $vf0)' != '$(group $pf)' ]"
json=/tmp/sriov.json
out vfioctl list --json > $json
same "list --json lists the kernel's VFs under the PF" "$(vfs)" \
    "$(jq -r --arg a "$pf" '.devices[] | select(.address == $a) | .sharing.sriov.virtualFunctions | map(.address) | sort | join(" ")' $json)"
same "list --json gives each VF the kernel's group" "$(group $vf0) $(group $vf1)" \
    "$(jq -r --arg a "$vf0" --arg b "$vf1" '[.devices[] | select(.address == $a or .address == $b) | .iommuGroup | tostring] | join(" ")' $json)"
same "list --json names the PF of each VF" "$pf $pf" \
    "$(jq -r --arg a "$vf0" --arg b "$vf1" '[.devices[] | select(.address == $a or .address == $b) | .sharing.physicalFunction] | join(" ")' $json)"
check "list shows the PF with 2/2 VFs and each VF's PF" sh -c \
    "vfioctl list > /tmp/sriov.txt && grep -q '^$pf  SR-IOV PF .*2/2 VFs' /tmp/sriov.txt && grep -q '^$vf1  SR-IOV VF .*of $pf' /tmp/sriov.txt"

# A VF to vfio-pci: removing the VFs is refused until it is back.
clean "bind the first VF to vfio-pci" vfioctl bind "$vf0"
same "the VF is on vfio-pci" vfio-pci "$(driver $vf0)"
check "/dev/vfio/$(group $vf0) appeared" test -c /dev/vfio/$(group $vf0)
vfioctl sriov "$pf" --vfs 0 > /dev/null 2> /tmp/refused.err
same "--vfs 0 is refused with exit 75, in one line naming the VF" "75 1 1" \
    "$? $(wc -l < /tmp/refused.err) $(grep -c "virtual function $vf0 is on vfio-pci" /tmp/refused.err)"
same "the kernel still has 2 VFs" 2 "$(cat $dir/sriov_numvfs)"
clean "unbind the VF" vfioctl unbind "$vf0"
clean "sriov --vfs 0" vfioctl sriov "$pf" --vfs 0
same "the VFs are gone" "0 " "$(cat $dir/sriov_numvfs) $(vfs)"
vfioctl sriov "$pf" --vfs 3 > /dev/null 2> /tmp/bad.err
same "3 VFs are refused as bad input (exit 64), in one line" "64 1" "$? $(wc -l < /tmp/bad.err)"

# --persist: the rule that makes them at boot, and persist --remove.
clean "sriov --vfs 2 --persist" vfioctl sriov "$pf" --vfs 2 --persist
same "the rule sets autoprobe and the count on the PF's bind" \
    "ACTION==\"bind\", SUBSYSTEM==\"pci\", KERNEL==\"$pf\", ATTR{sriov_drivers_autoprobe}=\"0\", ATTR{sriov_numvfs}=\"2\"" \
    "$(grep -v '^#' /etc/udev/rules.d/70-vfioctl-sriov.rules)"
check "persist --remove takes the rule out" sh -c "vfioctl persist --remove $pf >/dev/null && test ! -e /etc/udev/rules.d/70-vfioctl-sriov.rules"
clean "sriov --vfs 0 leaves the machine as it was" vfioctl sriov "$pf" --vfs 0
