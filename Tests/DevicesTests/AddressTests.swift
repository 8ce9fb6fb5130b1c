import Testing

@testable import Devices

@Suite struct AddressTests {
    @Test(
        "parses full and short PCI addresses",
        arguments: [
            ("0000:01:00.0", "0000:01:00.0"), ("01:00.0", "0000:01:00.0"), ("0001:af:1f.7", "0001:af:1f.7"),
            ("10000:00:02.0", "10000:00:02.0"), ("0:1:2.3", "0000:01:02.3"),
        ])
    func parses(text: String, canonical: String) throws {
        let address = try #require(PCIAddress(text))
        #expect(address.description == canonical)
    }

    @Test(
        "rejects what is not an address",
        arguments: ["", "01:00", "01:00.8", "01:20.0", "zz:00.0", "0000:01:00.0.1", "000000000:01:00.0", "01:000.0"])
    func rejects(text: String) {
        #expect(PCIAddress(text) == nil)
    }

    @Test("orders addresses numerically and knows slots")
    func ordering() throws {
        let a = try #require(PCIAddress("0000:01:00.1"))
        let b = try #require(PCIAddress("0000:0a:00.0"))
        #expect(a < b)
        let c = try #require(PCIAddress("01:00.3"))
        #expect(a.sharesSlot(with: c))
        #expect(!a.sharesSlot(with: b))
        #expect(a.slot.description == "0000:01:00.0")
    }

    @Test("selectors take addresses and vendor:device pairs")
    func selectors() {
        #expect(DeviceSelector("01:00.0") == .address(PCIAddress(bus: 1, device: 0, function: 0)))
        #expect(DeviceSelector("10de:2484") == .ids(vendor: 0x10de, device: 0x2484))
        #expect(DeviceSelector("10de:24") == nil)
        #expect(DeviceSelector("gpu") == nil)
        #expect(DeviceSelector("10DE:2484")?.description == "10de:2484")
    }

    @Test(
        "parses kernel releases",
        arguments: [
            ("6.1.0-26-amd64", KernelVersion(6, 1, 0)), ("5.15.0-91-generic", KernelVersion(5, 15, 0)),
            ("6.18.44-fc-v657", KernelVersion(6, 18, 44)), ("5.4", KernelVersion(5, 4, 0)),
        ])
    func kernel(release: String, expected: KernelVersion) {
        #expect(KernelVersion(release: release) == expected)
    }

    @Test("hex values from sysfs are validated")
    func hexValues() {
        #expect(parseHex("0x10de", bits: 16) == 0x10de)
        #expect(parseHex("0x030000", bits: 24) == 0x030000)
        #expect(parseHex("0x1030000", bits: 24) == nil)
        #expect(parseHex("zzzz", bits: 16) == nil)
        #expect(parseHex("", bits: 16) == nil)
        #expect(parseHex("0x", bits: 16) == nil)
    }

    @Test("the sysroot never lets an absolute path escape")
    func sysroot() {
        let root = Sysroot("/tmp/tree")
        #expect(root.path("/sys/bus/pci").string == "/tmp/tree/sys/bus/pci")
        // A path that climbs out lands on the root itself, never beside it.
        #expect(root.path("/../../etc/passwd").string == "/tmp/tree")
        #expect(root.path("/sys/../../../etc/passwd").string == "/tmp/tree")
        #expect(root.path("/sys/../etc/passwd").string == "/tmp/tree/etc/passwd")
        #expect(Sysroot.host.path("/proc/cmdline").string == "/proc/cmdline")
    }
}
