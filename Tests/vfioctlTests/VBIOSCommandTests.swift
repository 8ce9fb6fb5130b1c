import Foundation
import TestSupport
import Testing

@Suite struct VBIOSCommandTests {
    private func temporary(_ name: String, _ bytes: [UInt8]) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "vfioctl-rom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(name).path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return path
    }

    @Test("check --json follows the contract and exits 0 for a valid ROM")
    func checkJSON() throws {
        let file = try temporary("gpu.rom", ROMBuilder.hybrid().bytes())
        let result = try vfioctl(["vbios", "check", file, "--json"])
        #expect(result.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["valid"] as? Bool == true)
        #expect(json["nvflashHeader"] as? Bool == false)
        #expect(json["problems"] as? [String] == [])
        let images = try #require(json["images"] as? [[String: Any]])
        #expect(images.map { $0["codeType"] as? String } == ["x86", "efi"])
        #expect(images[0]["efiMachine"] == nil)
        #expect(images[1]["efiMachine"] as? String == "x64")
        #expect(images[0]["length"] as? Int == 1024)
        for key in ["vendorID", "deviceID", "isLast", "checksumOK"] { #expect(images[0][key] != nil, "\(key)") }
    }

    @Test("check of a broken ROM prints the problem and exits 65; an nvflash dump points at patch")
    func checkBroken() throws {
        let broken = try temporary("short.rom", Array(ROMBuilder.legacy().bytes().prefix(700)))
        let result = try vfioctl(["vbios", "check", broken])
        #expect(result.status == 65)
        #expect(result.stdout.contains("NOT valid"))
        #expect(result.stdout.contains("truncated"))
        let dump = try temporary("dump.rom", ROMBuilder.nvflashHeader() + ROMBuilder.legacy().bytes())
        let nvflash = try vfioctl(["vbios", "check", dump])
        #expect(nvflash.status == 65)
        #expect(nvflash.stdout.contains("-> run `vfioctl vbios patch"))
    }

    @Test("check --for tells a ROM of another card")
    func checkFor() throws {
        let fake = try FakeHost.workstation()
        let file = try temporary("gpu.rom", ROMBuilder.legacy(vendor: 0x10de, device: 0x1b81).bytes())
        let result = try vfioctl(["vbios", "check", file, "--for", "01:00.0", "--sysroot", fake.root])
        #expect(result.status == 65)
        #expect(result.stdout.contains("the ROM is for 10de:1b81, not for 10de:1f08"))
    }

    @Test("patch strips the header into a new file and never touches the input")
    func patch() throws {
        let rom = ROMBuilder.hybrid().bytes()
        let dump = ROMBuilder.nvflashHeader() + rom
        let input = try temporary("dump.rom", dump)
        let output = (input as NSString).deletingLastPathComponent + "/fixed.rom"
        let result = try vfioctl(["vbios", "patch", input, "-o", output])
        #expect(result.status == 0)
        #expect(FileManager.default.contents(atPath: output) == Data(rom))
        #expect(FileManager.default.contents(atPath: input) == Data(dump))
        let same = try vfioctl(["vbios", "patch", input, "-o", input])
        #expect(same.status == 64)
        #expect(same.stderr.contains("the output must be another file than the input"))
        let clean = try vfioctl(["vbios", "patch", output, "-o", output + ".2"])
        #expect(clean.status == 65)
        #expect(
            clean.stderr
                == "vfioctl: no nvflash header in \(output): the file already starts with the ROM (nothing to strip)\n")
        #expect(!FileManager.default.fileExists(atPath: output + ".2"))
    }

    @Test("install copies into the sysroot's /usr/share/vgabios and prints the rom line")
    func install() throws {
        let fake = try FakeHost.workstation()
        let file = try temporary("gpu.rom", ROMBuilder.legacy(vendor: 0x10de, device: 0x1f08).bytes())
        let result = try vfioctl(["vbios", "install", file, "--for", "01:00.0", "--sysroot", fake.root])
        #expect(result.status == 0)
        #expect(result.stdout.contains("<rom file='/usr/share/vgabios/10de-1f08-0000-01-00.0.rom'/>"))
        #expect(FileManager.default.fileExists(atPath: fake.path("/usr/share/vgabios/10de-1f08-0000-01-00.0.rom")))
        let wrong = try vfioctl(["vbios", "install", file, "--for", "02:00.0", "--sysroot", fake.root])
        #expect(wrong.status == 65)
        #expect(wrong.stderr.contains("not a usable ROM for 0000:02:00.0"))
    }

    @Test(
        "bad input is one line and a sysexits status",
        arguments: [
            (["vbios", "check", "/nonexistent.rom"], Int32(66), "vfioctl: /nonexistent.rom does not exist"),
            (["vbios", "dump", "nonsense"], Int32(64), "'nonsense' is not a device"),
            (
                ["vbios", "dump", "01:00.0", "--sysroot", "/nonexistent"], Int32(66),
                "sysroot /nonexistent does not exist"
            ),
            (
                ["vbios", "install", "/nonexistent.rom", "--for", "01:00.0"], Int32(66),
                "/nonexistent.rom does not exist"
            ),
        ])
    func badInput(arguments: [String], status: Int32, message: String) throws {
        let result = try vfioctl(arguments)
        #expect(result.status == status)
        #expect(result.stderr.contains(message))
    }

    @Test("dump on a fake tree reads through sysfs and names a missing device")
    func dumpMissing() throws {
        let fake = try FakeHost.workstation()
        let result = try vfioctl(["vbios", "dump", "05:00.0", "--sysroot", fake.root])
        #expect(result.status == 66)
        #expect(
            result.stderr
                == "vfioctl: no PCI device matches 0000:05:00.0 on this host (`vfioctl list` shows the devices of this host)\n"
        )
    }
}
