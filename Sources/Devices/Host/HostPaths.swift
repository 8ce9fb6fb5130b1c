import SystemPackage

/// The one table of host paths the library reads and writes; every entry is resolved under a `Sysroot`.
public enum HostPaths {
    /// `/sys/bus/pci/devices`: one entry per PCI function.
    public static let pciDevices = FilePath("/sys/bus/pci/devices")
    /// `/sys/bus/pci/drivers`: one directory per PCI driver.
    public static let pciDrivers = FilePath("/sys/bus/pci/drivers")
    /// `/sys/bus/pci/drivers_probe`: writing an address reprobes it, honouring `driver_override`.
    public static let pciDriversProbe = FilePath("/sys/bus/pci/drivers_probe")
    /// `/sys/bus/pci`: libpci's `sysfs.path` parameter.
    public static let pciBus = FilePath("/sys/bus/pci")
    /// `/sys/kernel/iommu_groups`: one directory per IOMMU group; empty when the IOMMU is off.
    public static let iommuGroups = FilePath("/sys/kernel/iommu_groups")
    /// `/sys/class/iommu`: one entry per IOMMU unit (dmar0, ivhd0).
    public static let iommuClass = FilePath("/sys/class/iommu")
    /// `/sys/firmware/acpi/tables`: the firmware's ACPI tables (DMAR on Intel, IVRS on AMD).
    public static let acpiTables = FilePath("/sys/firmware/acpi/tables")
    /// `/sys/module`: one directory per loaded module.
    public static let modules = FilePath("/sys/module")
    /// `/sys/class/input`: one entry per input device and event node.
    public static let inputClass = FilePath("/sys/class/input")
    /// `/sys/devices`: the device tree every class entry links into.
    public static let sysDevices = FilePath("/sys/devices")
    /// `/sys/devices/virtual`: devices without hardware (uinput, remappers).
    public static let virtualDevices = FilePath("/sys/devices/virtual")
    /// `/dev/input`: event nodes.
    public static let inputNodes = FilePath("/dev/input")
    /// `/dev/input/by-id`: udev's stable links named after the device (USB only).
    public static let inputByID = FilePath("/dev/input/by-id")
    /// `/dev/input/by-path`: udev's stable links named after the port.
    public static let inputByPath = FilePath("/dev/input/by-path")
    /// `/etc/libvirt/qemu.conf`: libvirt's QEMU driver settings (`cgroup_device_acl`).
    public static let libvirtQEMUConf = FilePath("/etc/libvirt/qemu.conf")
    /// `/etc/group`: group membership (the `input` group).
    public static let groups = FilePath("/etc/group")
    /// `/usr/share/vgabios`: where QEMU may read ROM files under libvirt's AppArmor and SELinux policies.
    public static let vgaBIOS = FilePath("/usr/share/vgabios")
    /// `/dev/vfio`: the vfio container and one node per group owned by vfio.
    public static let vfioDevices = FilePath("/dev/vfio")
    /// `/dev/dri/by-path`: DRM nodes named after their PCI address.
    public static let driByPath = FilePath("/dev/dri/by-path")
    /// `/proc/cmdline`: the running kernel's command line.
    public static let kernelCmdline = FilePath("/proc/cmdline")
    /// `/proc/cpuinfo`: CPU vendor and flags.
    public static let cpuinfo = FilePath("/proc/cpuinfo")
    /// `/proc/sys/kernel/osrelease`: the running kernel's release, for example `6.1.0-26-amd64`.
    public static let kernelRelease = FilePath("/proc/sys/kernel/osrelease")
    /// `/proc`: one directory per process.
    public static let processes = FilePath("/proc")
    /// `/etc/modprobe.d`: module options.
    public static let modprobeConfig = FilePath("/etc/modprobe.d")
    /// `/proc/mounts`: mounted filesystems.
    public static let mounts = FilePath("/proc/mounts")
    /// `/proc/swaps`: active swap devices.
    public static let swaps = FilePath("/proc/swaps")
    /// `/proc/net/route`: the IPv4 routing table (the default route's interface).
    public static let routes = FilePath("/proc/net/route")
    /// `/proc/self/mountinfo`: mounted filesystems with the device number each one lives on.
    public static let mountinfo = FilePath("/proc/self/mountinfo")
    /// `/proc/net/ipv6_route`: the IPv6 routing table (the default route's interface).
    public static let ipv6Routes = FilePath("/proc/net/ipv6_route")
    /// `/sys/class/net`: network interfaces, with `master` and `upper_*` links to bridges, bonds and VLANs.
    public static let netClass = FilePath("/sys/class/net")
    /// `/sys/class/graphics`: framebuffers (`fb0` is the console's), linked to their PCI device.
    public static let graphicsClass = FilePath("/sys/class/graphics")
    /// `/run/udev/data`: udev's database, one `b<major>:<minor>` file per block device (`ID_FS_TYPE`).
    public static let udevData = FilePath("/run/udev/data")
    /// `/dev`: device nodes.
    public static let deviceNodes = FilePath("/dev")
    /// `/run/vfioctl/journal.json`: every device vfioctl moved and every step it is taking, written before the
    /// step.
    public static let journal = FilePath("/run/vfioctl/journal.json")
    /// `/run/libvirt/qemu`: libvirt's `<guest>.pid` for every running QEMU guest.
    public static let libvirtQEMURun = FilePath("/run/libvirt/qemu")
    /// `/sys/class/block`: block devices, linked into the device tree.
    public static let blockClass = FilePath("/sys/class/block")
    /// `/dev/dri`: DRM device nodes.
    public static let driNodes = FilePath("/dev/dri")
    /// `/etc/udev/rules.d`: local udev rules.
    public static let udevRules = FilePath("/etc/udev/rules.d")
    /// `/etc/initramfs-tools/modules`: modules Debian's initramfs loads early (the user's file).
    public static let initramfsModules = FilePath("/etc/initramfs-tools/modules")
    /// `/etc/dracut.conf.d`: dracut drop-ins.
    public static let dracutConfig = FilePath("/etc/dracut.conf.d")
    /// `/etc/mkinitcpio.conf.d`: mkinitcpio drop-ins.
    public static let mkinitcpioConfig = FilePath("/etc/mkinitcpio.conf.d")
    /// `/etc/default/grub`: GRUB's settings (the user's file, never edited).
    public static let grubDefaults = FilePath("/etc/default/grub")
    /// `/etc/default/grub.d/vfioctl.cfg`: vfioctl's GRUB drop-in.
    public static let grubDropIn = FilePath("/etc/default/grub.d/vfioctl.cfg")
    /// `/run/vfioctl`: state that lives until reboot.
    public static let runState = FilePath("/run/vfioctl")
    /// `/proc/interrupts`: interrupt chips; `IR-` in a chip name means interrupt remapping is on.
    public static let interrupts = FilePath("/proc/interrupts")
    /// `/proc/meminfo`: memory and the default hugepage size.
    public static let meminfo = FilePath("/proc/meminfo")
    /// `/sys/kernel/mm/hugepages`: one directory per hugepage size (`hugepages-2048kB`).
    public static let hugepages = FilePath("/sys/kernel/mm/hugepages")
    /// `/sys/kernel/mm/transparent_hugepage/enabled`: `always [madvise] never`.
    public static let transparentHugepages = FilePath("/sys/kernel/mm/transparent_hugepage/enabled")
    /// `/lib/modules`: one directory per installed kernel, with `modules.dep` and `modules.builtin`.
    public static let kernelModules = FilePath("/lib/modules")
    /// `/dev/kvm`: KVM's device node.
    public static let kvm = FilePath("/dev/kvm")
    /// `/dev/vfio/vfio`: the vfio container node.
    public static let vfioContainer = FilePath("/dev/vfio/vfio")
    /// `/etc/os-release`: the distribution (`ID`, `ID_LIKE`), for install commands.
    public static let osRelease = FilePath("/etc/os-release")
    /// Where programs are installed, searched in order.
    public static let programDirectories = [
        FilePath("/usr/local/sbin"), FilePath("/usr/local/bin"), FilePath("/usr/sbin"), FilePath("/usr/bin"),
        FilePath("/usr/libexec"), FilePath("/sbin"), FilePath("/bin"),
    ]
    /// Where distributions install OVMF (UEFI firmware for x86-64 guests).
    public static let ovmfDirectories = [
        FilePath("/usr/share/OVMF"), FilePath("/usr/share/edk2/ovmf"), FilePath("/usr/share/edk2/x64"),
        FilePath("/usr/share/edk2-ovmf/x64"), FilePath("/usr/share/edk2-ovmf"), FilePath("/usr/share/qemu"),
    ]
    /// `/sys/devices/system/cpu`: one `cpuN` directory per logical CPU, with topology and caches.
    public static let cpus = FilePath("/sys/devices/system/cpu")
    /// `/sys/class/dmi/id`: the firmware's SMBIOS strings (some only readable by root).
    public static let dmi = FilePath("/sys/class/dmi/id")
    /// `/etc/libvirt/hooks/qemu`: the script libvirt's QEMU driver runs at every guest's start and stop.
    public static let libvirtQEMUHook = FilePath("/etc/libvirt/hooks/qemu")
    /// `/etc/libvirt/hooks/qemu.d`: scripts libvirt (6.5 and later) runs for every guest, besides `hooks/qemu`.
    public static let libvirtQEMUHookDirectory = FilePath("/etc/libvirt/hooks/qemu.d")
    /// `/usr/local/sbin/vfioctl`: where `hooks install` puts the copy of vfioctl that libvirt's hook runs as root.
    public static let hookBinary = FilePath("/usr/local/sbin/vfioctl")
    /// `/etc/vfioctl/hooks`: one `<guest>.conf` per guest whose hook vfioctl runs.
    public static let hookConfigs = FilePath("/etc/vfioctl/hooks")
    /// `/run/vfioctl/hooks`: what a guest's prepare did, for its release to undo.
    public static let hookState = FilePath("/run/vfioctl/hooks")
    /// `/sys/class/vtconsole`: virtual consoles bound to framebuffers.
    public static let vtconsoles = FilePath("/sys/class/vtconsole")
    /// `/sys/bus/platform/drivers`: the EFI and simple framebuffer drivers.
    public static let platformDrivers = FilePath("/sys/bus/platform/drivers")
    /// `/proc/sys/vm/drop_caches`: writing 3 frees the page cache.
    public static let dropCaches = FilePath("/proc/sys/vm/drop_caches")
    /// `/proc/sys/vm/compact_memory`: writing 1 compacts memory so large pages can be found.
    public static let compactMemory = FilePath("/proc/sys/vm/compact_memory")
}
