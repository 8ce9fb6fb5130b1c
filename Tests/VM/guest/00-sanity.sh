# The machine is what the suite expects: the kernel's own view, before vfioctl is asked anything.
# checks: 7
. /tests/lib.sh.inc

groups=$(ls /sys/kernel/iommu_groups | wc -l)
check "the IOMMU made groups ($groups)" test "$groups" -gt 5
check "/dev/vfio/vfio exists after loading vfio_pci" test -c /dev/vfio/vfio
check "e1000e is bound to its driver" sh -c 'ls /sys/bus/pci/drivers/e1000e | grep -q "^0000:"'
check "evdev made event nodes" sh -c 'ls /dev/input | grep -q "^event"'
check "udev made by-id links for the USB keyboard and mouse" sh -c 'ls /dev/input/by-id | grep -q -- "-event-kbd" && ls /dev/input/by-id | grep -q -- "-event-mouse"'
check "udev made by-path links for the virtio keyboard and mouse" sh -c 'ls /dev/input/by-path | grep -q "^pci-0000:03:00.0-event" && ls /dev/input/by-path | grep -q "^pci-0000:03:00.1-event"'
clean "vfioctl runs in the guest" /usr/bin/vfioctl --version
