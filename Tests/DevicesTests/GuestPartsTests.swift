import Foundation
import TestSupport
import Testing

@testable import Devices

@Suite struct GuestPartsTests {
    private func document(_ text: String) throws -> XMLDocument {
        try XMLDocument(bytes: Array(text.utf8), source: "test.xml")
    }

    private func text(_ change: DomainChange) -> String { String(decoding: change.bytes, as: UTF8.self) }

    private let q35 = """
        <domain type='kvm'>
          <name>g</name>
          <memory unit='GiB'>8</memory>
          <vcpu>4</vcpu>
          <os>
            <type arch='x86_64' machine='q35'>hvm</type>
          </os>
          <devices>
            <controller type='pci' index='0' model='pcie-root'/>
          </devices>
        </domain>

        """

    @Test(
        "Looking Glass sizes follow the current formula and B7's, as powers of two",
        arguments: [
            (1920, 1080, 32, 32, 64), (1920, 1200, 32, 32, 64), (2560, 1440, 64, 64, 128), (3440, 1440, 64, 64, 128),
            (3840, 2160, 128, 128, 256), (5120, 1440, 128, 128, 128), (5120, 2880, 256, 128, 256),
            (7680, 4320, 512, 512, 1024),
        ])
    func lookingGlassSizes(_ width: Int, _ height: Int, _ current: Int, _ b7: Int, _ b7HDR: Int) {
        #expect(SharedMemory.lookingGlassMiB(width: width, height: height, hdr: false) == current)
        #expect(SharedMemory.lookingGlassMiB(width: width, height: height, hdr: true) == current)
        #expect(SharedMemory.lookingGlassMiB(width: width, height: height, hdr: false, formula: .b7) == b7)
        #expect(SharedMemory.lookingGlassMiB(width: width, height: height, hdr: true, formula: .b7) == b7HDR)
    }

    @Test(
        "a resolution that is not WxH is refused with the form to use",
        arguments: ["1920", "1920x", "x1080", "axb", "0x0", "1920*1080", "99999x1080"])
    func badResolution(_ text: String) {
        #expect {
            try SharedMemory.resolution(text)
        } throws: { error in
            (error as? DevicesError)?.message
                == "'\(text)' is not a resolution: give WIDTHxHEIGHT, for example 2560x1440"
        }
    }

    @Test("Scream never shares a size with another IVSHMEM device, and says so")
    func screamSize() throws {
        let fake = try FakeHost.guestHost()
        let domain = try document(
            q35.replacingOccurrences(
                of: "  </devices>",
                with:
                    "    <shmem name='other'>\n      <model type='ivshmem-plain'/>\n      <size unit='M'>2</size>\n    </shmem>\n  </devices>"
            ))
        var request = GuestRequest()
        request.scream = true
        let change = try fake.host.attach(request, to: domain, source: "t")
        #expect(
            text(change).contains(
                "<shmem name='scream-ivshmem'>\n      <model type='ivshmem-plain'/>\n      <size unit='M'>4</size>"))
        #expect(change.notes.contains { $0.contains("using 4 MiB; set UseIVSHMEM to 4") })
    }

    @Test("kvmfr: JSON -device/-object with the size in bytes, the namespace added, /dev/kvmfr0 for qemu.conf")
    func kvmfr() throws {
        let fake = try FakeHost.guestHost()
        var request = GuestRequest()
        request.lookingGlass = .init(width: 2560, height: 1440, kvmfr: true)
        let change = try fake.host.attach(request, to: try document(q35), source: "t")
        let result = text(change)
        #expect(result.hasPrefix("<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"))
        #expect(result.contains("'mem-path':'/dev/kvmfr0','size':67108864,'share':true}"))
        #expect(result.contains("<qemu:arg value='-device'/>"))
        #expect(change.qemuConf?.contains("\"/dev/kvmfr0\"") == true)
        #expect(change.notes.contains { $0.contains("static_size_mb=64") })
    }

    @Test("a GPU on i440fx gets the first free slot of bus 0 for all its functions")
    func i440fx() throws {
        let fake = try FakeHost.guestHost()
        let domain = try DomainFixtures.document("i440fx")
        var request = GuestRequest()
        request.gpus = [.gpu(2)]
        let result = text(try fake.host.attach(request, to: domain, source: "t"))
        // Slots 0x03 and 0x08 are taken by the NIC and the disk.
        #expect(result.contains("bus='0x00' slot='0x09' function='0x0' multifunction='on'/>"))
        #expect(result.contains("bus='0x00' slot='0x09' function='0x3'/>"))
        #expect(!result.contains("pcie-root-port"))
    }

    @Test("an existing hostdev is updated in place: the ROM after <source>, the user's boot order and address kept")
    func updateHostdev() throws {
        let fake = try FakeHost.guestHost()
        let rom = ROMBuilder.hybrid(vendor: 0x10de, device: 0x1f08).bytes()
        let romPath = fake.path("/tmp/turing.rom")
        try fake.write("/tmp/turing.rom", rom)
        var request = GuestRequest()
        request.gpus = [BindTarget("01:00.0")].compactMap { $0 }
        request.romFile = romPath
        request.romBar = true
        let domain = try DomainFixtures.document("existing-passthrough")
        let change = try fake.host.attach(request, to: domain, source: "t")
        let result = text(change)
        #expect(
            result.contains(
                """
                      <source>
                        <address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
                      </source>
                      <rom bar='on' file='\(romPath)'/>
                      <boot order='2'/>
                      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0' multifunction='on'/>
                """))
        #expect(result.contains("<address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x3'/>"))
        #expect(!result.contains("pcie-root-port'>"), "no new port: the card stays on the user's bus 5")
        #expect(result.components(separatedBy: "function='0x0'/>\n      </source>").count == 2)
        #expect(change.notes.contains { $0.contains("AppArmor") })
    }

    @Test("a ROM for another card is refused before anything is written")
    func wrongROM() throws {
        let fake = try FakeHost.guestHost()
        try fake.write("/tmp/other.rom", ROMBuilder.legacy(vendor: 0x1002, device: 0x67df).bytes())
        var request = GuestRequest()
        request.gpus = [.gpu(2)]
        request.romFile = fake.path("/tmp/other.rom")
        #expect {
            try fake.host.attach(request, to: try document(q35), source: "t")
        } throws: { error in
            let message = (error as? DevicesError)?.message ?? ""
            return message.hasPrefix("\(fake.path("/tmp/other.rom")) is not a usable ROM for 0000:01:00.0")
        }
    }

    @Test("a ROM installed with vbios install is used on its own")
    func installedROM() throws {
        let fake = try FakeHost.guestHost()
        try fake.write(
            "/usr/share/vgabios/10de-1f08-0000-01-00.0.rom", ROMBuilder.hybrid(vendor: 0x10de, device: 0x1f08).bytes())
        var request = GuestRequest()
        request.gpus = [.gpu(2)]
        let result = text(try fake.host.attach(request, to: try document(q35), source: "t"))
        #expect(result.contains("<rom file='/usr/share/vgabios/10de-1f08-0000-01-00.0.rom'/>"))
    }

    @Test("evdev: a device the user already passes is not added twice; commas in paths are doubled")
    func evdevDuplicates() throws {
        let fake = try FakeHost.guestHost()
        let withUser = q35.replacingOccurrences(
            of: "<domain type='kvm'>", with: "<domain type='kvm' xmlns:q='http://libvirt.org/schemas/domain/qemu/1.0'>"
        )
        .replacingOccurrences(
            of: "</domain>",
            with:
                "  <q:commandline>\n    <q:arg value='-object'/>\n    <q:arg value='input-linux,id=kbd,evdev=/dev/input/by-id/usb-Cherry_USB_keyboard-event-kbd'/>\n  </q:commandline>\n</domain>"
        )
        var request = GuestRequest()
        request.evdev = .init()
        let change = try fake.host.attach(request, to: try document(withUser), source: "t")
        let result = text(change)
        #expect(!result.contains("id=vfioctl-kbd"))
        #expect(
            result.contains(
                "<q:arg value='input-linux,id=vfioctl-mouse,evdev=/dev/input/by-id/usb-Logitech_USB_Optical_Mouse-event-mouse'/>"
            ))
        #expect(!result.contains("xmlns:qemu"), "the user's own prefix is used")
        #expect(change.notes.contains { $0.contains("already given to the guest by the <qemu:arg> id=kbd") })

        try fake.link("/dev/input/by-id/usb-Odd,Name-event-kbd", to: "../event3")
        request.evdev = .init(paths: ["/dev/input/by-id/usb-Odd,Name-event-kbd"])
        let odd = text(try fake.host.attach(request, to: try document(q35), source: "t"))
        #expect(
            odd.contains("evdev=/dev/input/by-id/usb-Odd,,Name-event-kbd,grab_all=on,repeat=on,grab-toggle=ctrl-ctrl"))
    }

    @Test("evdev: qemu.conf advice only while its cgroup_device_acl lacks a chosen device")
    func evdevACLAdvice() throws {
        let fake = try FakeHost.guestHost()
        var request = GuestRequest()
        request.evdev = .init()
        let keyboard = "/dev/input/by-id/usb-Cherry_USB_keyboard-event-kbd"
        let mouse = "/dev/input/by-id/usb-Logitech_USB_Optical_Mouse-event-mouse"
        // The fixture's qemu.conf allows both: no block, no advice.
        let allowed = try fake.host.attach(request, to: try document(q35), source: "t")
        #expect(allowed.qemuConf == nil)
        #expect(!allowed.notes.contains { $0.contains("cgroup_device_acl") })
        #expect(allowed.notes.contains { $0.contains("ctrl-ctrl") })
        // One that allows only the keyboard, then one without the setting: the block names both devices.
        for conf in ["cgroup_device_acl = [ \"/dev/null\", \"\(keyboard)\" ]\n", "# user = \"root\"\n"] {
            try fake.write("/etc/libvirt/qemu.conf", conf)
            let change = try fake.host.attach(request, to: try document(q35), source: "t")
            let block = try #require(change.qemuConf)
            #expect(block.contains("\"\(keyboard)\"") && block.contains("\"\(mouse)\""))
            #expect(change.notes.contains { $0.contains("cgroup_device_acl") })
        }
    }

    @Test("evdev: switching style replaces vfioctl's objects with native inputs, and back")
    func evdevStyles() throws {
        let fake = try FakeHost.guestHost()
        var request = GuestRequest()
        request.evdev = .init()
        let commandline = try fake.host.attach(request, to: try document(q35), source: "t")
        request.evdev = .init(style: .native, grabToggle: "scrolllock")
        let native = try fake.host.attach(
            request, to: try XMLDocument(bytes: commandline.bytes, source: "t"), source: "t")
        let result = text(native)
        #expect(!result.contains("qemu:commandline"))
        #expect(!result.contains("xmlns:qemu"))
        #expect(
            result.contains(
                "<source dev='/dev/input/by-id/usb-Cherry_USB_keyboard-event-kbd' grab='all' repeat='on' grabToggle='scrolllock'/>"
            ))
        #expect(result.contains("<alias name='ua-vfioctl-mouse'/>"))
        request.evdev = .init()
        let back = try fake.host.attach(request, to: try XMLDocument(bytes: native.bytes, source: "t"), source: "t")
        #expect(back.bytes == commandline.bytes)
    }

    @Test("an unknown grab toggle, a path outside /dev/input and a missing device are refused")
    func evdevErrors() throws {
        let fake = try FakeHost.guestHost()
        let domain = try document(q35)
        for (evdev, expected) in [
            (GuestRequest.Evdev(grabToggle: "ctrl-alt"), "'ctrl-alt' is not a grab toggle QEMU knows"),
            (GuestRequest.Evdev(paths: ["/tmp/kbd"]), "'/tmp/kbd' is not an input device path"),
            (GuestRequest.Evdev(paths: ["/dev/input/by-id/nothing"]), "no input device /dev/input/by-id/nothing"),
        ] {
            var request = GuestRequest()
            request.evdev = evdev
            #expect {
                try fake.host.attach(request, to: domain, source: "t")
            } throws: { error in
                (error as? DevicesError)?.message.hasPrefix(expected) == true
            }
        }
    }

    @Test("pinning keeps the guest inside the larger L3 (the V-Cache CCD) and the host on core 0 and 1")
    func pinningX3D() throws {
        let fake = try FakeHost()
        try fake.setCPU(vendor: "AuthenticAMD")
        try fake.addTopology(groups: 2, cores: 8, threads: 2, l3KiB: [32768, 98304])
        let topology = try fake.host.topology()
        #expect(topology.groups.count == 2)
        #expect(topology.groups[1].sizeKiB == 98304)
        let plan = try PinningPlan(topology: topology, vcpus: 8)
        // Cores 8-11 of the V-Cache group, siblings adjacent (CPU n and n+16).
        #expect(plan.vcpus == [8, 24, 9, 25, 10, 26, 11, 27])
        #expect(plan.host == [0, 1, 16, 17])
        #expect(plan.emulator == [1, 17])
        #expect(plan.threadsPerCore == 2)
        let all = try PinningPlan(topology: topology, vcpus: nil)
        #expect(all.vcpus.count == 16)
        let odd = try PinningPlan(topology: topology, vcpus: 5)
        #expect(odd.threadsPerCore == 1)
        #expect {
            try PinningPlan(topology: topology, vcpus: 29)
        } throws: { error in
            (error as? DevicesError)?.message
                == "29 vCPUs are more than the 28 CPUs left after the host keeps 0-1,16-17"
        }
    }

    @Test("AMD hosts get topoext and never evmcs; Intel hosts get evmcs")
    func vendorFeatures() throws {
        let fake = try FakeHost.guestHost()
        var request = GuestRequest()
        request.tuning = .init(pin: true, hyperv: true)
        var result = text(try fake.host.attach(request, to: try document(q35), source: "t"))
        #expect(result.contains("<evmcs state='on'/>"))
        #expect(!result.contains("topoext"))
        #expect(result.contains("<timer name='hypervclock' present='yes'/>"))
        #expect(result.contains("<vcpu>4</vcpu>"), "the user's <vcpu> stays as written when the count fits")
        try fake.setCPU(vendor: "AuthenticAMD")
        result = text(try fake.host.attach(request, to: try document(q35), source: "t"))
        #expect(!result.contains("evmcs"))
        #expect(result.contains("<feature policy='require' name='topoext'/>"))
    }

    @Test("not a domain, not XML, truncated, empty: one line naming the file, with line and column for XML")
    func badDocuments() throws {
        let fake = try FakeHost.guestHost()
        var request = GuestRequest()
        request.scream = true
        #expect {
            try fake.host.attach(
                request, to: try document("<network><name>default</name></network>\n"), source: "net.xml")
        } throws: { error in
            (error as? DevicesError)?.message
                == "net.xml: the root element is <network>, not a libvirt <domain> (`virsh dumpxml NAME` prints one)"
        }
        #expect {
            try document("<domain type='kvm'>\n  <name>x</name>\n  <devices>\n")
        } throws: { error in
            let message = (error as? DevicesError)?.message ?? ""
            return message.hasPrefix("test.xml:4:1: ") && message.hasSuffix("(not well-formed XML)")
                && !message.contains("\n")
        }
        #expect {
            try document("this is not xml")
        } throws: { error in
            (error as? DevicesError)?.message.hasPrefix("test.xml:1:1: ") == true
        }
        #expect {
            try XMLDocument(bytes: [], source: "empty.xml")
        } throws: { error in
            (error as? DevicesError)?.message == "empty.xml: empty file, not XML"
        }
    }

    @Test("unknown devices and wrong kinds are refused by name")
    func badTargets() throws {
        let fake = try FakeHost.guestHost()
        let domain = try document(q35)
        let cases: [(GuestRequest, String)] = [
            (
                {
                    var r = GuestRequest()
                    r.gpus = [.gpu(9)]
                    return r
                }(), "there is no gpu:9: this host has 4 GPUs"
            ),
            (
                {
                    var r = GuestRequest()
                    r.gpus = [BindTarget("0000:00:1f.3")].compactMap { $0 }
                    return r
                }(),
                "0000:00:1f.3 is not a GPU"
            ),
            (
                {
                    var r = GuestRequest()
                    r.hostdevs = [BindTarget("0000:00:01.0")].compactMap { $0 }
                    return r
                }(),
                "0000:00:01.0 is a bridge"
            ),
            (
                {
                    var r = GuestRequest()
                    r.hostdevs = [BindTarget("0000:42:00.0")].compactMap { $0 }
                    return r
                }(),
                "no PCI device matches 0000:42:00.0"
            ),
            (GuestRequest(), "nothing to attach"),
        ]
        for (request, expected) in cases {
            #expect {
                try fake.host.attach(request, to: domain, source: "t")
            } throws: { error in
                (error as? DevicesError)?.message.hasPrefix(expected) == true
            }
        }
    }

    @Test("inserting into an empty and a self-closing element, comments and quoting kept")
    func editorShapes() throws {
        let fake = try FakeHost.guestHost()
        var request = GuestRequest()
        request.scream = true
        for (devices, expected) in [
            ("<devices/>", "<devices>\n    <shmem name='scream-ivshmem'>"),
            ("<devices></devices>", "<devices>\n    <shmem name='scream-ivshmem'>"),
            ("<devices><!-- keep --></devices>", "<devices><!-- keep -->\n    <shmem name='scream-ivshmem'>"),
        ] {
            let source =
                "<domain type='kvm'>\n  <name>x</name>\n  <memory>1048576</memory>\n  <os>\n    <type>hvm</type>\n  </os>\n  \(devices)\n</domain>\n"
            let change = try fake.host.attach(request, to: try document(source), source: "t")
            let result = text(change)
            #expect(result.contains(expected), "\(devices) → \(result)")
            #expect(result.hasSuffix("    </shmem>\n  </devices>\n</domain>\n"), "\(devices) → \(result)")
            #expect(try DomainFile.schemaProblem(change.bytes, source: "t") == nil)
        }
    }

    @Test(
        "empty and self-closing elements attach fills come back as they were, with LF or CR LF line endings",
        arguments: ["\n", "\r\n"])
    func emptyElements(_ newline: String) throws {
        let fake = try FakeHost.guestHost()
        let source = [
            "<domain type='kvm'>", "  <name>g</name>", "  <metadata/>", "  <memory unit='GiB'>8</memory>",
            "  <memoryBacking/>", "  <vcpu>4</vcpu>", "  <cputune></cputune>", "  <os>",
            "    <type arch='x86_64' machine='q35'>hvm</type>", "  </os>", "  <features/>",
            "  <cpu mode='host-passthrough'/>", "  <clock offset='localtime'/>", "  <pm/>", "  <devices/>", "</domain>",
            "",
        ].joined(separator: newline)
        let original = try document(source)
        var request = GuestRequest()
        request.tuning = .all
        request.scream = true
        request.evdev = .init(style: .native)
        let change = try fake.host.attach(request, to: original, source: "t")
        #expect(try DomainFile.schemaProblem(change.bytes, source: "t") == nil)
        let result = text(change)
        if newline == "\r\n" {
            #expect(!result.replacingOccurrences(of: "\r\n", with: "").contains("\n"), "a bare LF in a CR LF file")
        }
        let merged = try XMLDocument(bytes: change.bytes, source: "t")
        let detached = try fake.host.detach(request, from: merged, source: "t")
        #expect(
            detached.bytes == original.bytes,
            "\(UnifiedDiff.make(old: original.bytes, new: detached.bytes, oldName: "original", newName: "detached"))")
        // One part at a time gives the original back as well.
        var current = merged
        for part in GuestRequests.tuningParts {
            current = try XMLDocument(bytes: try fake.host.detach(part, from: current, source: "t").bytes, source: "t")
        }
        var rest = GuestRequest()
        rest.scream = true
        rest.evdev = .init(style: .native)
        let last = try fake.host.detach(rest, from: current, source: "t")
        #expect(last.bytes == original.bytes)
    }

    @Test("detach puts back a value attach changed, unless it was changed again by hand since")
    func changedSince() throws {
        let fake = try FakeHost.guestHost()
        let original = try DomainFixtures.document("virt-manager")
        var request = GuestRequest()
        request.tuning = .init(pin: true, vcpus: 6)
        let change = try fake.host.attach(request, to: original, source: "t")
        let result = text(change)
        #expect(result.contains("<vcpu placement='static'>6</vcpu>"))
        #expect(
            result.contains(
                "<vfioctl:changed path='vcpu' wrote=\"&lt;vcpu placement='static'&gt;6&lt;/vcpu&gt;\">&lt;vcpu "
                    + "placement='static'&gt;8&lt;/vcpu&gt;</vfioctl:changed>"))
        let untouched = try fake.host.detach(request, from: try document(result), source: "t")
        #expect(untouched.bytes == original.bytes)
        let edited = result.replacingOccurrences(of: ">6</vcpu>", with: ">10</vcpu>")
        let detached = try fake.host.detach(request, from: try document(edited), source: "t")
        let after = text(detached)
        #expect(after.contains("<vcpu placement='static'>10</vcpu>"))
        #expect(!after.contains("vfioctl:ownership"))
        #expect(
            detached.notes.contains { $0.hasPrefix("<vcpu> (line ") && $0.contains("changed since vfioctl set it") })
    }
}
