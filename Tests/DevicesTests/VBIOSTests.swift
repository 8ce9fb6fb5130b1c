import Foundation
import SystemPackage
import TestSupport
import Testing

@testable import Devices

@Suite struct VBIOSTests {
    @Test("a legacy x86 ROM: one image, every field")
    func legacy() throws {
        let check = VBIOS.check(ROMBuilder.legacy().bytes(), for: (0x10de, 0x1b81))
        #expect(check.valid)
        #expect(check.problems.isEmpty)
        #expect(!check.nvflashHeader)
        #expect(check.matchesDevice == true)
        #expect(check.size == 1024)
        #expect(check.trailingBytes == 0)
        #expect(!check.isUEFICapable)
        let image = try #require(check.images.first)
        #expect(image.codeType == "x86")
        #expect(image.vendorID == "10de")
        #expect(image.deviceID == "1b81")
        #expect(image.length == 1024)
        #expect(image.isLast)
        #expect(image.checksumOK)
        #expect(image.efiMachine == nil)
        #expect(image.classCode == "0x030000")
    }

    @Test("a hybrid ROM: x86 then EFI x64, UEFI capable")
    func hybrid() throws {
        let check = VBIOS.check(ROMBuilder.hybrid().bytes())
        #expect(check.valid)
        #expect(check.images.map(\.codeType) == ["x86", "efi"])
        #expect(check.images.map(\.isLast) == [false, true])
        #expect(check.images[1].offset == 1024)
        #expect(check.images[1].efiMachine == "x64")
        #expect(check.images[1].efiSubsystem == 11)
        #expect(check.images[1].efiCompressed == false)
        #expect(check.isUEFICapable)
    }

    @Test(
        "EFI machine types are named",
        arguments: [(UInt16(0x8664), "x64"), (0x014C, "ia32"), (0xAA64, "arm64"), (0x0EBC, "ebc"), (0x1234, "0x1234")])
    func efiMachines(machine: UInt16, name: String) throws {
        var efi = ROMBuilder.Image(vendor: 0x1002, device: 0x67df, codeType: 3)
        efi.efiMachine = machine
        let check = VBIOS.check(ROMBuilder([efi]).bytes())
        #expect(check.images.first?.efiMachine == name)
        #expect(check.isUEFICapable == (name == "x64"))
    }

    @Test("trailing bytes after the last image are counted, not fatal")
    func trailing() {
        let check = VBIOS.check(ROMBuilder.legacy().bytes() + [UInt8](repeating: 0xFF, count: 300))
        #expect(check.valid)
        #expect(check.trailingBytes == 300)
    }

    @Test("a device list lets a ROM match another device ID")
    func deviceList() {
        var image = ROMBuilder.Image(vendor: 0x1002, device: 0x67df)
        image.deviceList = [0x67ef, 0x6fdf]
        let check = VBIOS.check(ROMBuilder([image]).bytes(), for: (0x1002, 0x6fdf))
        #expect(check.images.first?.deviceList == ["67ef", "6fdf"])
        #expect(check.matchesDevice == true)
        #expect(check.valid)
    }

    /// Each broken ROM and the problem it must produce.
    static let broken: [String: ([UInt8], String)] = {
        var badChecksum = ROMBuilder.Image(vendor: 0x10de, device: 0x1b81)
        badChecksum.badChecksum = true
        var noLast = ROMBuilder.Image(vendor: 0x10de, device: 0x1b81)
        noLast.clearLastFlag = true
        var outside = ROMBuilder.Image(vendor: 0x10de, device: 0x1b81)
        outside.pcirPointer = 0xFFF0
        var zero = ROMBuilder.Image(vendor: 0x10de, device: 0x1b81)
        zero.lengthField = 0
        var long = ROMBuilder.Image(vendor: 0x10de, device: 0x1b81)
        long.lengthField = 64
        return [
            "bad checksum": (ROMBuilder([badChecksum]).bytes(), "bad checksum"),
            "truncated": (Array(ROMBuilder.legacy().bytes().prefix(700)), "truncated"),
            "claims more than the file": (ROMBuilder([long]).bytes(), "truncated"),
            "no last flag": (ROMBuilder([noLast]).bytes(), "not marked last"),
            "PCIR pointer out of bounds": (ROMBuilder([outside]).bytes(), "past the end"),
            "zero length": (ROMBuilder([zero]).bytes(), "length of 0"),
            "no signature": ([UInt8](repeating: 0xFF, count: 512), "all FF"),
            "empty": ([], "empty"),
            "one byte": ([0x55], "no ROM signature"),
            "signature only": ([0x55, 0xAA], "truncated before its PCIR pointer"),
            "nvflash header": (ROMBuilder.nvflashHeader() + ROMBuilder.legacy().bytes(), "vfioctl vbios patch"),
        ]
    }()

    @Test("every broken ROM is invalid with a clear problem", arguments: broken.keys.sorted())
    func brokenROMs(name: String) throws {
        let (bytes, problem) = try #require(Self.broken[name])
        let check = VBIOS.check(bytes)
        #expect(!check.valid, "\(name)")
        #expect(check.problems.contains { $0.contains(problem) }, "\(name): \(check.problems)")
    }

    @Test("a ROM for another device does not match")
    func wrongIDs() {
        let check = VBIOS.check(ROMBuilder.legacy(vendor: 0x10de, device: 0x1b81).bytes(), for: (0x10de, 0x2484))
        #expect(!check.valid)
        #expect(check.matchesDevice == false)
        #expect(check.problems == ["the ROM is for 10de:1b81, not for 10de:2484"])
    }

    @Test("an nvflash header is found by bytes and stripped to the original ROM")
    func patchRoundTrip() throws {
        let rom = ROMBuilder.hybrid().bytes()
        let dump = ROMBuilder.nvflashHeader() + rom
        let check = VBIOS.check(dump)
        #expect(check.nvflashHeader)
        #expect(check.romOffset == 0x600)
        #expect(try VBIOS.stripNVFlashHeader(dump, name: "dump.rom") == rom)
        #expect(VBIOS.check(try VBIOS.stripNVFlashHeader(dump, name: "dump.rom")).valid)
    }

    @Test("patching refuses a file without a header, and says when it already starts with a ROM")
    func patchRefusals() {
        let clean = #expect(throws: DevicesError.self) {
            try VBIOS.stripNVFlashHeader(ROMBuilder.legacy().bytes(), name: "a.rom")
        }
        #expect(clean?.message == "no nvflash header in a.rom: the file already starts with the ROM (nothing to strip)")
        let garbage = #expect(throws: DevicesError.self) { try VBIOS.stripNVFlashHeader([1, 2, 3], name: "b.rom") }
        #expect(garbage?.message.hasPrefix("no nvflash header in b.rom: no 55 AA … EB … VIDEO pattern found") == true)
    }

    @Test("random bytes behind 55 AA never trap, and the report stays inside the file (fixed seed)")
    func hostile() {
        // A fixed seed: a failure is reproduced by running the test again.
        var generator = SplitMix64(seed: 0x5EED_0F_F1C7)
        for size in [0, 1, 2, 3, 25, 64, 511, 512, 513, 4096] {
            for _ in 0..<50 {
                var bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
                if size >= 2 {
                    bytes[0] = 0x55
                    bytes[1] = 0xAA
                }
                let check = VBIOS.check(bytes, for: (0x10de, 0x1b81))
                #expect(check.size == size)
                #expect(check.valid == check.problems.isEmpty)
                #expect(check.images.allSatisfy { $0.offset >= 0 && $0.offset < size })
                if let offset = VBIOS.nvflashHeaderOffset(bytes) {
                    #expect(offset + 19 <= size && bytes[offset] == 0x55 && bytes[offset + 1] == 0xAA)
                }
            }
        }
    }
}

@Suite struct ROMDumpTests {
    private func host(rom: [UInt8]?, driver: String? = nil, bootVGA: Bool = false) throws -> FakeHost {
        let fake = try FakeHost()
        try fake.add(
            FakePCIDevice("0000:01:00.0", vendor: 0x10de, device: 0x1b81, classCode: 0x030000, driver: driver).with {
                $0.rom = rom
                $0.bootVGA = bootVGA
            })
        return fake
    }

    @Test("dump enables the ROM, reads it and disables it again")
    func dump() throws {
        let rom = ROMBuilder.hybrid().bytes()
        let fake = try host(rom: rom)
        let kernel = FakeKernel()
        let address = try #require(PCIAddress("01:00.0"))
        let bytes = try withExtendedLifetime(fake) { try fake.host.dumpROM(of: address, io: kernel) }
        #expect(bytes == rom)
        #expect(kernel.writes == ["0000:01:00.0/rom <- 1", "0000:01:00.0/rom <- 0"])
        #expect(!kernel.isROMEnabled("0000:01:00.0"))
    }

    @Test("when the kernel refuses, the ROM is still switched off and the error explains the boot GPU case")
    func refused() throws {
        let fake = try host(rom: ROMBuilder.legacy().bytes(), driver: "nvidia", bootVGA: true)
        let kernel = FakeKernel()
        kernel.refuseROM = ["0000:01:00.0"]
        let address = try #require(PCIAddress("01:00.0"))
        let error = withExtendedLifetime(fake) {
            #expect(throws: DevicesError.self) { try fake.host.dumpROM(of: address, io: kernel) }
        }
        #expect(kernel.writes.last == "0000:01:00.0/rom <- 0")
        #expect(error?.code == .io)
        #expect(error?.message.contains("boot GPU") == true)
        #expect(error?.message.contains("bind it to vfio-pci first") == true)
    }

    @Test("a driver holding the card is named as the likely cause")
    func refusedByDriver() throws {
        let fake = try host(rom: ROMBuilder.legacy().bytes(), driver: "nvidia")
        let kernel = FakeKernel()
        kernel.refuseROM = ["0000:01:00.0"]
        let address = try #require(PCIAddress("01:00.0"))
        let error = withExtendedLifetime(fake) {
            #expect(throws: DevicesError.self) { try fake.host.dumpROM(of: address, io: kernel) }
        }
        #expect(error?.message.contains("its driver nvidia is using the card") == true)
    }

    @Test("no ROM BAR, no device and no root are clear errors")
    func errors() throws {
        let fake = try host(rom: nil)
        let kernel = FakeKernel()
        let address = try #require(PCIAddress("01:00.0"))
        let missing = try #require(PCIAddress("02:00.0"))
        try withExtendedLifetime(fake) {
            let noROM = #expect(throws: DevicesError.self) { try fake.host.dumpROM(of: address, io: kernel) }
            #expect(noROM?.message.contains("has no ROM BAR") == true)
            let noDevice = #expect(throws: DevicesError.self) { try fake.host.dumpROM(of: missing, io: kernel) }
            #expect(noDevice?.code == .notFound)
            try fake.write("/sys/devices/pci0000:00/0000:01:00.0/rom", [0x55, 0xAA])
            kernel.denyWrites = true
            let notRoot = #expect(throws: DevicesError.self) { try fake.host.dumpROM(of: address, io: kernel) }
            #expect(notRoot?.code == .permissionDenied)
            #expect(notRoot?.message.contains("run as root") == true)
        }
        #expect(kernel.writes == ["0000:01:00.0/rom <- 1"])
    }

    @Test("install writes a 0644 file named after the device, keeps a backup, refuses a foreign ROM")
    func install() throws {
        let fake = try host(rom: nil)
        let address = try #require(PCIAddress("01:00.0"))
        let rom = ROMBuilder.legacy().bytes()
        try withExtendedLifetime(fake) {
            let first = try fake.host.installROM(rom, for: address, source: "gpu.rom")
            #expect(first.path == "/usr/share/vgabios/10de-1b81-0000-01-00.0.rom")
            #expect(first.romElement == "<rom file='/usr/share/vgabios/10de-1b81-0000-01-00.0.rom'/>")
            #expect(first.backup == nil)
            let full = fake.path(first.path)
            #expect(FileManager.default.contents(atPath: full) == Data(rom))
            let mode = try FileManager.default.attributesOfItem(atPath: full)[.posixPermissions] as? Int
            #expect(mode == 0o644)
            #expect(try fake.host.installROM(rom, for: address, source: "gpu.rom").unchanged)
            let hybrid = ROMBuilder.hybrid().bytes()
            let second = try fake.host.installROM(hybrid, for: address, source: "new.rom")
            #expect(second.backup == first.path + ".bak")
            #expect(FileManager.default.contents(atPath: fake.path(first.path + ".bak")) == Data(rom))
            let foreign = #expect(throws: DevicesError.self) {
                try fake.host.installROM(
                    ROMBuilder.legacy(vendor: 0x1002, device: 0x67df).bytes(), for: address, source: "amd.rom")
            }
            #expect(foreign?.message.contains("not for 10de:1b81") == true)
            #expect(FileManager.default.contents(atPath: full) == Data(hybrid))
        }
    }
}
