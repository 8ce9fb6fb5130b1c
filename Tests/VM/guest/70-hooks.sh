# The hook pair on the real kernel: libvirt's hooks/qemu script (as `hooks install` writes it) run by sh with a
# guest definition on stdin binds the second VGA to vfio-pci and reserves the guest's hugepages at prepare, and
# gives both back at release; a guest that cannot be prepared is refused with nothing left changed; a hook script
# in another language is refused and left byte for byte.
# checks: 24
. /tests/lib.sh.inc

find_device() { for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = "$1" ] && echo ${d##*/}; done | head -n1; }
std=$(find_device 0x1234:0x1111)
bus=$(echo "$std" | cut -d: -f2)
slot=$(echo "$std" | cut -d: -f3 | cut -d. -f1)
group=$(basename "$(readlink /sys/bus/pci/devices/$std/iommu_group)")
pages=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
driver_of() { [ -e /sys/bus/pci/devices/$1/driver ] && basename "$(readlink /sys/bus/pci/devices/$1/driver)" || echo none; }
cd /tmp
guest_xml() {
    cat <<XML
<domain type='kvm'>
  <name>guest</name>
  <memory unit='MiB'>$1</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x$bus' slot='0x$slot' function='0x0'/></source>
    </hostdev>
  </devices>
</domain>
XML
}

before_driver=$(driver_of "$std")
before_pages=$(cat $pages)
noted "hooks install writes libvirt's hook script" vfioctl hooks install guest --single-gpu --hugepages
check "the hook script is executable" test -x /etc/libvirt/hooks/qemu
check "the hook calls vfioctl by its quoted path, with -- before the guest" \
    grep -qF "'$(readlink -f "$(command -v vfioctl)")' hooks run -- \"\$1\"" /etc/libvirt/hooks/qemu
guest_xml 64 > guest.xml
said "prepare begin succeeds, each step told on stderr" "^vfioctl hook: guest: " sh -c "/etc/libvirt/hooks/qemu guest prepare begin - < guest.xml"
same "the second VGA is on vfio-pci" vfio-pci "$(driver_of "$std")"
check "/dev/vfio/$group appeared" test -e /dev/vfio/$group
same "32 hugepages more are reserved" "$((before_pages + 32))" "$(cat $pages)"
clean "a started hook does nothing" sh -c "/etc/libvirt/hooks/qemu guest started begin - < guest.xml"
said "release end succeeds and says the host is restored" "^vfioctl hook: guest: host restored$" sh -c "/etc/libvirt/hooks/qemu guest release end - < guest.xml"
same "the second VGA is back to $before_driver" "$before_driver" "$(driver_of "$std")"
check "/dev/vfio/$group is gone" sh -c "! test -e /dev/vfio/$group"
same "the hugepages are returned" "$before_pages" "$(cat $pages)"
said "a second release is harmless: nothing to release" "^vfioctl hook: guest: nothing to release$" sh -c "/etc/libvirt/hooks/qemu guest release end - < guest.xml"

# 64 GiB of hugepages do not fit in this machine: the start is refused and nothing stays changed.
guest_xml 65536 > big.xml
if sh -c "/etc/libvirt/hooks/qemu guest prepare begin - < big.xml" > /tmp/big.out 2>&1; then
    not_ok "a guest whose hugepages do not fit is refused"
else
    ok "a guest whose hugepages do not fit is refused"
fi
check "the refusal says why" grep -q "could reserve only" /tmp/big.out
same "no hugepages stay reserved" "$before_pages" "$(cat $pages)"
same "the second VGA was not touched" "$before_driver" "$(driver_of "$std")"
said "hooks install --remove takes the script away, naming what it removed" "^removed /etc/(vfioctl/hooks/guest.conf|libvirt/hooks/qemu)$" \
    vfioctl hooks install guest --remove
check "the hook script is gone" sh -c "! test -e /etc/libvirt/hooks/qemu"

# A Python hook script: vfioctl's shell block cannot go into it, so it is refused and left as it was.
printf '#!/usr/bin/env python3\nimport sys\nprint(sys.argv)\n' > /etc/libvirt/hooks/qemu
chmod 0700 /etc/libvirt/hooks/qemu
cp -p /etc/libvirt/hooks/qemu /tmp/qemu.python
if vfioctl hooks install guest --hugepages > /tmp/python.out 2>&1; then
    not_ok "installing over a Python hook script is refused"
else
    ok "installing over a Python hook script is refused"
fi
check "the refusal gives the way out" grep -q "qemu.d" /tmp/python.out
check "the Python script is left byte for byte" cmp /etc/libvirt/hooks/qemu /tmp/qemu.python
same "and keeps its mode" 700 "$(stat -c %a /etc/libvirt/hooks/qemu)"
check "no configuration was written" sh -c "! test -e /etc/vfioctl/hooks/guest.conf"
rm -f /etc/libvirt/hooks/qemu /tmp/qemu.python
