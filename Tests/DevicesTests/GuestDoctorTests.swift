import Foundation
import TestSupport
import Testing

@testable import Devices

/// A domain for the guest doctor: q35 with OVMF unless `os` says otherwise.
private func domain(
    _ devices: String = "", features: String = "", cpu: String = "", extra: String = "",
    os: String = "<os firmware='efi'><type arch='x86_64' machine='q35'>hvm</type></os>",
    memory: String = "<memory unit='GiB'>8</memory>"
) throws -> XMLDocument {
    let text = """
        <domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
          <name>win11</name>
          \(memory)
          <vcpu placement='static'>4</vcpu>
          \(os)
          \(features)
          \(cpu)
          \(extra)
          <devices>
            \(devices)
          </devices>
        </domain>
        """
    return try XMLDocument(bytes: Array(text.utf8), source: "test")
}

/// A PCI hostdev of host `source`, at guest slot `slot` function `function`.
private func hostdev(
    _ source: String, slot: Int? = nil, function: Int = 0, multifunction: Bool = false, managed: Bool = true,
    rom: String? = nil
) -> String {
    let address = PCIAddress(source) ?? PCIAddress(bus: 0xff, device: 0x1f, function: 7)
    let guest =
        slot.map {
            "<address type='pci' domain='0x0000' bus='0x0\($0)' slot='0x00' function='0x\(function)'"
                + (multifunction ? " multifunction='on'" : "") + "/>"
        } ?? ""
    return """
        <hostdev mode='subsystem' type='pci' managed='\(managed ? "yes" : "no")'>
          <source><address domain='0x0000' bus='0x\(String(address.bus, radix: 16))' \
        slot='0x\(String(address.device, radix: 16))' function='0x\(address.function)'/></source>
          \(rom.map { "<rom file='\($0)'/>" } ?? "")
          \(guest)
        </hostdev>
        """
}

/// Every function of the NVIDIA card on one guest slot, function 0 multifunction.
private let nvidiaCard = (0..<4).map { function in
    hostdev("0000:01:00.\(function)", slot: 5, function: function, multifunction: function == 0)
}.joined(separator: "\n")

private let nvidiaHidden =
    "<features><acpi/><hyperv mode='custom'><vendor_id state='on' value='1234567890ab'/></hyperv>"
    + "<kvm><hidden state='on'/></kvm></features>"

@Suite struct GuestDoctorTests {
    private func statuses(_ diagnosis: GuestDiagnosis, _ id: GuestDiagnosis.CheckID) -> [Diagnosis.Status] {
        diagnosis.checks(id).map(\.status)
    }

    private func only(_ diagnosis: GuestDiagnosis, _ id: GuestDiagnosis.CheckID) throws -> GuestDiagnosis.Check {
        let checks = diagnosis.checks(id)
        try #require(checks.count == 1, "\(id): \(checks)")
        return checks[0]
    }

    @Test("a healthy guest with the whole NVIDIA card: every check OK, each id present, in the issue's order")
    func healthy() throws {
        let fake = try FakeHost.guestHost()
        try fake.write(
            "/sys/devices/pci0000:00/0000:01:00.0/rom", ROMBuilder.legacy(vendor: 0x10de, device: 0x1f08).bytes())
        try fake.write("/proc/iomem", "00000000-00000fff : Reserved\ne0000000-efffffff : 0000:01:00.0\n")
        let diagnosis = try fake.host.diagnose(guest: try domain(nvidiaCard, features: nvidiaHidden))
        let bad = diagnosis.checks.filter { $0.status != .ok }
        #expect(bad.isEmpty, "\(bad)")
        #expect(diagnosis.domain == "win11")
        var order: [GuestDiagnosis.CheckID] = []
        for check in diagnosis.checks where order.last != check.id { order.append(check.id) }
        #expect(order == GuestDiagnosis.CheckID.allCases)
        #expect(diagnosis.checks(.hostdevMissing).count == 4)
        #expect(try only(diagnosis, .companions).message == "all 4 functions passed, on one guest slot")
        // The card's other functions are judged on its line.
        #expect(diagnosis.checks(.reset).map(\.device) == [PCIAddress("0000:01:00.0")])
    }

    @Test("hostdev-missing: a source address the host lacks fails, and only that line speaks of it")
    func hostdevMissing() throws {
        let fake = try FakeHost.guestHost()
        let diagnosis = try fake.host.diagnose(
            guest: try domain(hostdev("0000:09:00.0") + hostdev("0000:02:00.0", slot: 6)))
        let checks = diagnosis.checks(.hostdevMissing)
        #expect(checks.map(\.status) == [.fail, .ok])
        #expect(checks[0].device == PCIAddress("0000:09:00.0"))
        #expect(checks[0].message.contains("is not on this host"))
        #expect(checks[1].message.hasPrefix("on this host: 0000:02:00.0 (1002:67df"))
        for id in [GuestDiagnosis.CheckID.group, .rom, .reset, .configSpace, .largeBAR] {
            #expect(diagnosis.checks(id).allSatisfy { $0.device == PCIAddress("0000:02:00.0") }, "\(id)")
        }
    }

    @Test("hostdev-missing: a card swapped at the address vfioctl attached fails with both IDs; the same card is OK")
    func hostdevChanged() throws {
        let fake = try FakeHost.guestHost()
        var request = GuestRequest()
        request.hostdevs = [try #require(BindTarget("0000:02:00.0"))]
        let attached = try fake.host.attach(request, to: try domain(), source: "test")
        let document = try XMLDocument(bytes: attached.bytes, source: "test")
        #expect(String(decoding: attached.bytes, as: UTF8.self).contains("ids='1002:67df'"))
        let same = try fake.host.diagnose(guest: document)
        #expect(try only(same, .hostdevMissing).status == .ok)
        // Another card in that slot: same address, other IDs.
        try fake.write("/sys/bus/pci/devices/0000:02:00.0/device", "0x73bf\n")
        let swapped = try only(try fake.host.diagnose(guest: document), .hostdevMissing)
        #expect(swapped.status == .fail)
        #expect(swapped.device == PCIAddress("0000:02:00.0"))
        #expect(swapped.message.contains("was 1002:67df when vfioctl attached it"), "\(swapped.message)")
        #expect(swapped.message.contains("1002:73bf"), "\(swapped.message)")
        #expect(swapped.fix != nil)
        // A hostdev written by hand has no record: its IDs are not judged.
        let byHand = try fake.host.diagnose(guest: try domain(hostdev("0000:02:00.0", slot: 6)))
        #expect(try only(byHand, .hostdevMissing).status == .ok)
    }

    @Test("group: the chipset's group is not viable; half a card on host drivers is not either; the whole card is")
    func group() throws {
        let fake = try FakeHost.guestHost()
        let navi = try fake.host.diagnose(guest: try domain(hostdev("0000:03:00.0")))
        let check = try only(navi, .group)
        #expect(check.status == .fail)
        #expect(check.message.contains("0000:00:1f.0 (8086:2918) is on lpc_ich and not given to the guest"))
        #expect(check.attach == [.hostdev(PCIAddress("0000:00:1f.0")!), .hostdev(PCIAddress("0000:00:1f.3")!)])

        let half = try fake.host.diagnose(guest: try domain(hostdev("0000:01:00.0")))
        #expect(try only(half, .group).status == .fail)
        #expect(try only(half, .group).message.contains("0000:01:00.1 (10de:10f9) is on snd_hda_intel"))

        // Unmanaged: the functions must already be off their host drivers.
        let unmanaged = try fake.host.diagnose(
            guest: try domain(
                (0..<4).map { hostdev("0000:01:00.\($0)", managed: false) }.joined(separator: "\n")))
        let first = try #require(unmanaged.checks(.group).first)
        #expect(first.status == .fail)
        #expect(first.bind.count == 4)

        let whole = try fake.host.diagnose(guest: try domain(nvidiaCard))
        #expect(statuses(whole, .group) == [.ok, .ok, .ok, .ok])
        // Already on vfio-pci and unmanaged: fine.
        let polaris = try fake.host.diagnose(
            guest: try domain(hostdev("0000:02:00.0", managed: false) + hostdev("0000:02:00.1", managed: false)))
        #expect(statuses(polaris, .group) == [.ok, .ok])
    }

    @Test("companions: missing functions fail, functions on separate slots or without multifunction warn")
    func companions() throws {
        let fake = try FakeHost.guestHost()
        let half = try fake.host.diagnose(
            guest: try domain(hostdev("0000:01:00.0", slot: 5) + hostdev("0000:01:00.1", slot: 6)))
        let check = try only(half, .companions)
        #expect(check.status == .fail)
        #expect(check.message.contains("0000:01:00.2 (usb), 0000:01:00.3 (ucsi)"))
        #expect(check.attach == [.gpu(PCIAddress("0000:01:00.0")!)])

        let spread = try fake.host.diagnose(
            guest: try domain((0..<4).map { hostdev("0000:01:00.\($0)", slot: $0 + 1) }.joined(separator: "\n")))
        #expect(try only(spread, .companions).status == .warn)
        #expect(try only(spread, .companions).message.contains("4 guest slots"))

        let flat = try fake.host.diagnose(
            guest: try domain(
                (0..<4).map { hostdev("0000:01:00.\($0)", slot: 5, function: $0) }.joined(separator: "\n")))
        #expect(try only(flat, .companions).status == .warn)
        #expect(try only(flat, .companions).message.contains("multifunction='on'"))

        let whole = try fake.host.diagnose(guest: try domain(nvidiaCard))
        #expect(try only(whole, .companions).status == .ok)
    }

    @Test("rom: a missing file and another card's ROM fail, a file QEMU may not read warns, a good one is OK")
    func rom() throws {
        let fake = try FakeHost.guestHost()
        let path = "/usr/share/vgabios/tu106.rom"
        try fake.write(path, ROMBuilder.legacy(vendor: 0x10de, device: 0x1f08).bytes())
        func check(_ file: String) throws -> GuestDiagnosis.Check {
            let diagnosis = try fake.host.diagnose(
                guest: try domain(
                    hostdev("0000:01:00.0", slot: 5, multifunction: true, rom: file)
                        + (1..<4).map { hostdev("0000:01:00.\($0)", slot: 5, function: $0) }.joined()))
            return try #require(diagnosis.checks(.rom).first)
        }
        let good = try check(path)
        #expect(good.status == .ok, "\(good)")
        #expect(good.message == "\(path) is a ROM for 10de:1f08, readable by QEMU")

        let missing = try check("/usr/share/vgabios/gone.rom")
        #expect(missing.status == .fail)
        #expect(missing.message.contains("does not exist: QEMU will not start"))

        try fake.write("/usr/share/vgabios/polaris.rom", ROMBuilder.legacy(vendor: 0x1002, device: 0x67df).bytes())
        let other = try check("/usr/share/vgabios/polaris.rom")
        #expect(other.status == .fail)
        #expect(other.message.hasPrefix("/usr/share/vgabios/polaris.rom is not a ROM for 10de:1f08"))

        chmod(fake.path(path), 0o600)
        let closed = try check(path)
        #expect(closed.status == .warn)
        #expect(closed.message.contains("not readable by others"))
        chmod(fake.path(path), 0o644)

        try fake.write("/sys/fs/selinux/enforce", "1")
        try fake.write("/home/user/tu106.rom", ROMBuilder.legacy(vendor: 0x10de, device: 0x1f08).bytes())
        let labelled = try check("/home/user/tu106.rom")
        #expect(labelled.status == .warn)
        #expect(labelled.message.contains("SELinux is enforcing"))
    }

    @Test("rom: an NVIDIA boot display without a ROM file warns (its shadow copy); the card's own ROM is OK")
    func romShadow() throws {
        let fake = try FakeHost.guestHost()
        let own = try fake.host.diagnose(guest: try domain(hostdev("0000:02:00.0", slot: 5)))
        #expect(try #require(own.checks(.rom).first).status == .ok)
        try fake.write("/sys/devices/pci0000:00/0000:01:00.0/boot_vga", "1\n")
        let boot = try fake.host.diagnose(guest: try domain(nvidiaCard))
        let check = try #require(boot.checks(.rom).first)
        #expect(check.status == .warn)
        #expect(check.message.contains("shadow copy"))
    }

    @Test("x-vga: FAIL on an OVMF guest, OK on SeaBIOS and without it")
    func xVGA() throws {
        let fake = try FakeHost.guestHost()
        let arguments =
            "<qemu:commandline><qemu:arg value='-set'/><qemu:arg value='device.hostdev0.x-vga=on'/></qemu:commandline>"
        let ovmf = try fake.host.diagnose(guest: try domain(nvidiaCard, extra: arguments))
        #expect(try only(ovmf, .xVGA).status == .fail)
        let seabios = try fake.host.diagnose(
            guest: try domain(nvidiaCard, extra: arguments, os: "<os><type arch='x86_64'>hvm</type></os>"))
        #expect(try only(seabios, .xVGA).status == .ok)
        let pflash = try fake.host.diagnose(
            guest: try domain(
                nvidiaCard, extra: arguments,
                os: "<os><type arch='x86_64'>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/"
                    + "OVMF_CODE_4M.fd</loader></os>"))
        #expect(try only(pflash, .xVGA).status == .fail)
        let none = try fake.host.diagnose(guest: try domain(nvidiaCard))
        #expect(try only(none, .xVGA).status == .ok)
    }

    @Test("bootfb: BOOTFB nested in the card's BAR fails with the kernel option; elsewhere it is OK")
    func bootFramebuffer() throws {
        let fake = try FakeHost.guestHost()
        let flags64 = "0x000000000014220c"
        try fake.write(
            "/sys/devices/pci0000:00/0000:01:00.0/resource",
            "0x00000000f6000000 0x00000000f6ffffff 0x0000000000040200\n"
                + "0x00000000e0000000 0x00000000efffffff \(flags64)\n"
                + String(repeating: "0x0000000000000000 0x0000000000000000 0x0000000000000000\n", count: 11))
        let iomem = """
            00000000-00000fff : Reserved
            e0000000-f6ffffff : PCI Bus 0000:01
              e0000000-efffffff : 0000:01:00.0
                e0000000-e07e8fff : BOOTFB
              f6000000-f6ffffff : 0000:01:00.0

            """
        try fake.write("/proc/iomem", iomem)
        let failing = try fake.host.diagnose(guest: try domain(nvidiaCard))
        let check = try #require(failing.checks(.bootfb).first)
        #expect(check.status == .fail)
        #expect(check.device == PCIAddress("0000:01:00.0"))
        #expect(check.message.contains("BOOTFB sits in BAR 1 (0xe0000000-0xe07e8fff)"))
        #expect(check.fix?.contains("video=efifb:off") == true)
        #expect(check.fix?.contains("initcall_blacklist=sysfb_init") == true)

        try fake.write("/proc/iomem", iomem.replacingOccurrences(of: "e0000000-e07e8fff : BOOTFB", with: ""))
        let clear = try fake.host.diagnose(guest: try domain(nvidiaCard))
        #expect(try #require(clear.checks(.bootfb).first).status == .ok)
        // Non-GPU functions are not judged for a framebuffer.
        #expect(clear.checks(.bootfb).dropFirst().allSatisfy { $0.message == "not a GPU" })
    }

    @Test("config-space: all ones fails (header type 0x7f), a normal card is OK")
    func configSpace() throws {
        let fake = try FakeHost.guestHost()
        let normal = try fake.host.diagnose(guest: try domain(nvidiaCard))
        #expect(statuses(normal, .configSpace) == [.ok, .ok, .ok, .ok])
        try fake.write("/sys/devices/pci0000:00/0000:01:00.0/config", [UInt8](repeating: 0xFF, count: 256))
        let stuck = try fake.host.diagnose(guest: try domain(nvidiaCard))
        #expect(statuses(stuck, .configSpace) == [.fail, .ok, .ok, .ok])
        #expect(stuck.checks(.configSpace)[0].message.contains("Unknown PCI header type '127'"))
    }

    @Test("reset: Polaris without vendor-reset fails, a card without any reset warns, the NVIDIA card is OK")
    func reset() throws {
        let fake = try FakeHost.guestHost()
        let polaris = try fake.host.diagnose(guest: try domain(hostdev("0000:02:00.0") + hostdev("0000:02:00.1")))
        #expect(polaris.checks(.reset).first?.status == .fail)
        #expect(polaris.checks(.reset).first?.fix?.contains("vendor-reset") == true)
        let nvidia = try fake.host.diagnose(guest: try domain(nvidiaCard))
        #expect(nvidia.checks(.reset).first?.status == .ok)
        // The SMBus controller has no reset at all.
        let smbus = try fake.host.diagnose(guest: try domain(hostdev("0000:00:1f.3")))
        #expect(smbus.checks(.reset).first?.status == .warn)
        #expect(smbus.checks(.reset).first?.message.hasPrefix("no reset method") == true)
    }

    @Test("large-bar: small BARs OK; ReBAR grown warns with the resize bit; BARs over the window fail with the XML")
    func largeBAR() throws {
        let fake = try FakeHost.guestHost()
        let directory = "/sys/devices/pci0000:00/0000:01:00.0"
        func resource(_ bar1: UInt64) -> String {
            let end = String(0x40_0000_0000 + bar1 - 1, radix: 16)
            return "0x00000000f6000000 0x00000000f6ffffff 0x0000000000040200\n"
                + "0x0000004000000000 0x\(end) 0x000000000014220c\n"
                + String(repeating: "0x0000000000000000 0x0000000000000000 0x0000000000000000\n", count: 11)
        }
        try fake.write(directory + "/resource", resource(256 << 20))
        let small = try fake.host.diagnose(guest: try domain(nvidiaCard))
        let ok = try #require(small.checks(.largeBAR).first)
        #expect(ok.status == .ok)
        #expect(ok.message == "BAR 0 16 MiB, BAR 1 256 MiB 64-bit; the 64-bit window is about 32 GiB")

        // ReBAR: 256 MiB to 16 GiB supported (bits 8–14), grown to 16 GiB.
        try fake.write(directory + "/resource", resource(16 << 30))
        try fake.write(directory + "/resource1_resize", "0000000000007f00\n")
        let bars = try fake.host.bars(of: PCIAddress("0000:01:00.0")!)
        #expect(bars.map(\.size) == [16 << 20, 16 << 30])
        #expect(bars[1].resizable?.supportedSizes.first == 256 << 20)
        #expect(bars[1].resizable?.supportedSizes.last == 16 << 30)
        let grown = try fake.host.diagnose(guest: try domain(nvidiaCard))
        let warn = try #require(grown.checks(.largeBAR).first)
        #expect(warn.status == .warn)
        #expect(warn.message.hasPrefix("Resizable BAR is on: BAR 1 is 16 GiB"))
        #expect(warn.fix?.hasSuffix("echo 8 > /sys/bus/pci/devices/0000:01:00.0/resource1_resize") == true)

        // 64 GiB does not fit OVMF's default 32 GiB window.
        try fake.write(directory + "/resource", resource(64 << 30))
        let huge = try fake.host.diagnose(guest: try domain(nvidiaCard))
        let fail = try #require(huge.checks(.largeBAR).first)
        #expect(fail.status == .fail)
        #expect(fail.message.contains("need 64 GiB and its 64-bit MMIO window is about 32 GiB"))
        #expect(fail.fix?.contains("<pcihole64 unit='GiB'>128</pcihole64>") == true)
        let passthrough = try fake.host.diagnose(
            guest: try domain(nvidiaCard, cpu: "<cpu mode='host-passthrough'/>"))
        #expect(passthrough.checks(.largeBAR).first?.fix?.contains("<maxphysaddr mode='passthrough'/>") == true)

        // With the host's 46 address bits passed through, the window is 8 TiB: only the ReBAR warning stays.
        try fake.write(
            "/proc/cpuinfo",
            "processor\t: 0\nvendor_id\t: GenuineIntel\naddress sizes\t: 46 bits physical, 48 bits virtual\n\n")
        let fits = try fake.host.diagnose(
            guest: try domain(
                nvidiaCard, cpu: "<cpu mode='host-passthrough'><maxphysaddr mode='passthrough'/></cpu>"))
        #expect(fits.checks(.largeBAR).first?.status == .warn)
    }

    @Test("hugepages: 8 GiB fit the host's free 2 MiB pages; 32 GiB do not; 1 GiB pages the host lacks fail")
    func hugepages() throws {
        let fake = try FakeHost.guestHost()
        let backing = "<memoryBacking><hugepages/></memoryBacking>"
        let fits = try fake.host.diagnose(guest: try domain(extra: backing))
        #expect(try only(fits, .hugepages).status == .ok)
        #expect(try only(fits, .hugepages).message == "the guest's 4096 pages of 2048 KiB fit in the host's 8192 free")
        let none = try fake.host.diagnose(guest: try domain())
        #expect(try only(none, .hugepages).message == "the guest asks for no hugepages")

        let big = try fake.host.diagnose(guest: try domain(extra: backing, memory: "<memory unit='GiB'>32</memory>"))
        let check = try only(big, .hugepages)
        #expect(check.status == .fail)
        #expect(
            check.fix == "echo 16384 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages (or "
                + "hugepages=16384 on the kernel command line)")

        let gigantic = try fake.host.diagnose(
            guest: try domain(
                extra: "<memoryBacking><hugepages><page size='1' unit='GiB'/></hugepages></memoryBacking>"))
        #expect(try only(gigantic, .hugepages).status == .fail)
        #expect(try only(gigantic, .hugepages).fix?.contains("(hugepagesz=1G hugepages=8)") == true)
    }

    @Test("pinning: CPUs the host lacks fail; shared CPUs, an overlapping emulator and a split L3 warn")
    func pinning() throws {
        let fake = try FakeHost.guestHost()
        func tune(_ pins: [Int], emulator: String = "8") -> String {
            "<cputune>" + pins.enumerated().map { "<vcpupin vcpu='\($0.offset)' cpuset='\($0.element)'/>" }.joined()
                + "<emulatorpin cpuset='\(emulator)'/></cputune>"
        }
        let good = try fake.host.diagnose(guest: try domain(extra: tune([1, 2, 9, 10])))
        #expect(try only(good, .pinning).status == .ok)
        #expect(try only(good, .pinning).message == "4 vCPUs pinned to 1-2,9-10")
        let missing = try fake.host.diagnose(guest: try domain(extra: tune([1, 2, 99, 10])))
        #expect(try only(missing, .pinning).status == .fail)
        #expect(try only(missing, .pinning).message.hasSuffix("does not have: 99"))
        let shared = try fake.host.diagnose(guest: try domain(extra: tune([1, 1, 2, 3])))
        #expect(try only(shared, .pinning).status == .warn)
        let overlap = try fake.host.diagnose(guest: try domain(extra: tune([1, 2, 3, 4], emulator: "4")))
        #expect(try only(overlap, .pinning).message.contains("shares host CPU 4"))

        let split = try FakeHost.preparedWorkstation()
        try split.addTopology(groups: 2, cores: 4, threads: 2)
        let across = try split.host.diagnose(guest: try domain(extra: tune([2, 3, 4, 5], emulator: "0")))
        #expect(try only(across, .pinning).status == .warn)
        #expect(try only(across, .pinning).message.contains("span 2 L3 caches"))
        let inside = try split.host.diagnose(guest: try domain(extra: tune([1, 2, 3, 9], emulator: "0")))
        #expect(try only(inside, .pinning).status == .ok)
    }

    @Test("evdev: a path that is gone fails, a command-line path qemu.conf lacks fails, present inputs are OK")
    func evdev() throws {
        let fake = try FakeHost.guestHost()
        let keyboard = "/dev/input/by-id/usb-Cherry_USB_keyboard-event-kbd"
        let native = "<input type='evdev'><source dev='\(keyboard)' grab='all' repeat='on'/></input>"
        let present = try fake.host.diagnose(guest: try domain(native))
        #expect(try only(present, .evdev).status == .ok)
        let gone = try fake.host.diagnose(
            guest: try domain("<input type='evdev'><source dev='/dev/input/by-id/usb-Gone-event-kbd'/></input>"))
        #expect(try only(gone, .evdev).status == .fail)
        #expect(try only(gone, .evdev).message.contains("usb-Gone-event-kbd does not exist"))

        let mouse = "/dev/input/by-id/usb-Logitech_USB_Optical_Mouse-event-mouse"
        let commandLine =
            "<qemu:commandline><qemu:arg value='-object'/><qemu:arg value='input-linux,id=mouse1,evdev=\(mouse)'/>"
            + "</qemu:commandline>"
        let allowed = try fake.host.diagnose(guest: try domain(extra: commandLine))
        #expect(try only(allowed, .evdev).status == .ok)
        try fake.write("/etc/libvirt/qemu.conf", "cgroup_device_acl = [ \"/dev/null\", \"/dev/kvm\" ]\n")
        let denied = try fake.host.diagnose(guest: try domain(extra: commandLine))
        #expect(try only(denied, .evdev).status == .fail)
        #expect(try only(denied, .evdev).message.contains("does not allow \(mouse)"))
        #expect(
            GuestDoctor.evdevPaths("{'qom-type':'input-linux','id':'k','evdev':'/dev/input/event3'}") == [
                "/dev/input/event3"
            ])
    }

    @Test("shmem: too small warns (fails for a given resolution), not a power of two or two of one size fail")
    func shmem() throws {
        let fake = try FakeHost.guestHost()
        func memory(_ name: String, _ size: Int) -> String {
            "<shmem name='\(name)'><model type='ivshmem-plain'/><size unit='M'>\(size)</size></shmem>"
        }
        let good = try fake.host.diagnose(guest: try domain(memory("looking-glass", 32) + memory("scream-ivshmem", 2)))
        #expect(try only(good, .shmem).status == .ok)
        let small = try fake.host.diagnose(guest: try domain(memory("looking-glass", 16)))
        #expect(try only(small, .shmem).status == .warn)
        #expect(try only(small, .shmem).attach == [.lookingGlass])
        let fourK = try fake.host.diagnose(
            guest: try domain(memory("looking-glass", 32)), resolution: (width: 3840, height: 2160))
        #expect(try only(fourK, .shmem).status == .fail)
        #expect(try only(fourK, .shmem).message.contains("needs 128 MiB for 3840x2160"))
        let odd = try fake.host.diagnose(guest: try domain(memory("looking-glass", 48)))
        #expect(try only(odd, .shmem).status == .fail)
        let twins = try fake.host.diagnose(guest: try domain(memory("looking-glass", 32) + memory("other", 32)))
        #expect(try only(twins, .shmem).status == .fail)
        #expect(try only(twins, .shmem).message.hasPrefix("two IVSHMEM devices of 32 MiB"))
    }

    @Test("hidden: an NVIDIA GeForce-class card without KVM hidden and vendor_id warns; with both it is OK")
    func hidden() throws {
        let fake = try FakeHost.guestHost()
        let bare = try fake.host.diagnose(guest: try domain(nvidiaCard))
        #expect(try only(bare, .hidden).status == .warn)
        #expect(try only(bare, .hidden).attach == [.hidden])
        let set = try fake.host.diagnose(guest: try domain(nvidiaCard, features: nvidiaHidden))
        #expect(try only(set, .hidden).status == .ok)
        let amd = try fake.host.diagnose(guest: try domain(hostdev("0000:02:00.0") + hostdev("0000:02:00.1")))
        #expect(try only(amd, .hidden).message == "no NVIDIA consumer card passed")
    }

    @Test("iommu: remapping off fails, the IOMMU off fails, both on is OK")
    func iommu() throws {
        let prepared = try FakeHost.guestHost()
        #expect(try only(try prepared.host.diagnose(guest: try domain()), .iommu).status == .ok)
        let noRemapping = try FakeHost.workstation()
        let check = try only(try noRemapping.host.diagnose(guest: try domain()), .iommu)
        #expect(check.status == .fail)
        #expect(check.message.hasPrefix("interrupt remapping off"))
        let off = try FakeHost()
        try off.add(FakePCIDevice("0000:01:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000))
        let offCheck = try only(try off.host.diagnose(guest: try domain(hostdev("0000:01:00.0"))), .iommu)
        #expect(offCheck.status == .fail)
        #expect(offCheck.message.hasPrefix("IOMMU off"))
    }

    @Test("a remote host: every check that needs the host says so; the XML's own checks still judge")
    func remote() throws {
        let document = try domain(
            nvidiaCard
                + "<shmem name='looking-glass'><model type='ivshmem-plain'/><size unit='M'>48</size></shmem>",
            extra: "<qemu:commandline><qemu:arg value='-set'/><qemu:arg value='device.hostdev0.x-vga=on'/>"
                + "</qemu:commandline>")
        let diagnosis = try GuestDiagnosis.domainOnly(document, reason: "the host h is remote")
        #expect(try only(diagnosis, .xVGA).status == .fail)
        #expect(try only(diagnosis, .shmem).status == .fail)
        let hostSide = diagnosis.checks.filter { $0.id != .xVGA && $0.id != .shmem }
        #expect(hostSide.allSatisfy { $0.status == .warn && $0.message == "not checked: the host h is remote" })
        #expect(diagnosis.checks(.group).count == 4)
    }
}
