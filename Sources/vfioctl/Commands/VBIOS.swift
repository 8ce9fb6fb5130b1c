import ArgumentParser
import Devices
import SystemPackage

extension VFIOCtl {
    struct VBIOSCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vbios",
            abstract: "Dump, check, patch and install GPU option ROMs.",
            subcommands: [Dump.self, Check.self, Patch.self, Install.self])
    }
}

/// Reads a user's file (not under the sysroot).
private func readUserFile(_ name: String) throws -> [UInt8] {
    guard let bytes = try ReadLimit.readFile(FilePath(name), limit: ReadLimit.rom, what: "a ROM file") else {
        throw DevicesError(code: .notFound, message: "\(name) does not exist")
    }
    return bytes
}

/// The text report of a ROM check.
func describe(_ check: VBIOSCheck, name: String) -> String {
    var lines = ["\(name): \(check.valid ? "valid" : "NOT valid"), \(check.size) bytes"]
    var table = Table("IMAGE", "OFFSET", "TYPE", "IDS", "LENGTH", "LAST", "CHECKSUM", "EFI")
    for (index, image) in check.images.enumerated() {
        table.add([
            String(index + 1), "0x" + String(image.offset, radix: 16), image.codeType,
            "\(image.vendorID):\(image.deviceID)" + (image.deviceList.isEmpty ? "" : " (+\(image.deviceList.count))"),
            String(image.length), image.isLast ? "yes" : "no", image.checksumOK ? "ok" : "bad",
            image.efiMachine.map { $0 + (image.efiCompressed == true ? ", compressed" : "") } ?? "-",
        ])
    }
    if !check.images.isEmpty { lines.append(table.render()) }
    if check.trailingBytes > 0 { lines.append("\(check.trailingBytes) bytes after the last image (never read)") }
    if check.nvflashHeader { lines.append("nvflash header: yes (the ROM starts at offset \(check.romOffset ?? 0))") }
    lines.append(
        check.isUEFICapable
            ? "UEFI: an EFI x64 image is present (OVMF can show the boot screen)"
            : "UEFI: no EFI x64 image (OVMF shows nothing on this GPU until the guest driver loads)")
    if let matches = check.matchesDevice { lines.append("matches the device: \(matches ? "yes" : "no")") }
    for problem in check.problems { lines.append("problem: \(problem)") }
    return lines.joined(separator: "\n")
}

extension VFIOCtl.VBIOSCommand {
    struct Dump: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dump",
            abstract: "Read a device's ROM through sysfs, check it and save it.",
            discussion: """
                Enables the ROM (rom <- 1), reads it, always disables it again, checks the images and writes the \
                file atomically. The file is written even when the check finds problems (the exit status is then \
                65), so a shadow copy can still be inspected.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(
            help: ArgumentHelp("The device: 0000:01:00.0, 01:00.0, vendor:device or gpu:N.", valueName: "device"),
            completion: .custom(completeTargets))
        var device: String

        @Option(
            name: .shortAndLong, help: ArgumentHelp("Where to write the ROM.", valueName: "file"), completion: .file())
        var output: String?

        func validate() throws { _ = try target(device) }

        func run() throws {
            try reportingFailures {
                let host = global.host
                let address = try host.address(named: device)
                let ids = try host.ids(of: address)
                let bytes = try host.dumpROM(of: address, io: host.io)
                let check = VBIOS.check(bytes, for: ids)
                let name =
                    output ?? "\(hexID(ids.vendor))-\(hexID(ids.device))-"
                    + address.description.split(separator: ":").joined(separator: "-") + ".rom"
                try AtomicFile.write(bytes, to: FilePath(name), mode: 0o644)
                if global.json {
                    try printJSON(ROMDumpDocument(device: address, file: name, bytes: bytes.count, check: check))
                    if !check.valid { throw ExitCode(65) }
                    return
                }
                print("wrote \(bytes.count) bytes of \(address)'s ROM to \(name)")
                print(describe(check, name: name))
                if !check.valid { throw ExitCode(65) }
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Walk a ROM file's images as the kernel does and say whether it is usable.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("The ROM file.", valueName: "file"), completion: .file())
        var file: String

        @Option(
            name: .customLong("for"),
            help: ArgumentHelp("Check that the ROM belongs to this device.", valueName: "device"),
            completion: .custom(completeTargets))
        var device: String?

        func validate() throws {
            if let device { _ = try target(device) }
        }

        func run() throws {
            try reportingFailures {
                let bytes = try readUserFile(file)
                let ids = try device.map { try global.host.ids(of: global.host.address(named: $0)) }
                let check = VBIOS.check(bytes, for: ids)
                if global.json {
                    try printJSON(check)
                } else {
                    print(describe(check, name: file))
                    if check.nvflashHeader { print("-> run `vfioctl vbios patch \(file) -o FIXED.rom`") }
                }
                if !check.valid { throw ExitCode(65) }
            }
        }
    }

    struct Patch: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "patch",
            abstract: "Strip the nvflash header from an NVIDIA ROM dump.",
            discussion: """
                Keeps everything from the 55 AA that is followed by one byte, EB, ten bytes and VIDEO (matched on \
                bytes). The input is never changed; the result is checked before it is written.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("The dump with an nvflash header.", valueName: "in"), completion: .file())
        var input: String

        @Option(
            name: .shortAndLong, help: ArgumentHelp("Where to write the patched ROM.", valueName: "out"),
            completion: .file())
        var output: String

        func validate() throws {
            if FilePath(input).lexicallyNormalized() == FilePath(output).lexicallyNormalized() {
                throw ValidationError("the output must be another file than the input (\(input) is never changed)")
            }
        }

        func run() throws {
            try reportingFailures {
                let bytes = try readUserFile(input)
                let patched = try VBIOS.stripNVFlashHeader(bytes, name: input)
                let check = VBIOS.check(patched)
                guard check.valid else {
                    throw DevicesError(
                        code: .invalidData,
                        message: "stripping the header from \(input) does not give a valid ROM: "
                            + check.problems.joined(separator: "; ") + " (nothing written)")
                }
                try AtomicFile.write(patched, to: FilePath(output), mode: 0o644)
                if global.json {
                    return try printJSON(
                        ROMPatchDocument(
                            input: input, output: output, strippedBytes: bytes.count - patched.count, check: check))
                }
                print("stripped \(bytes.count - patched.count) header bytes; wrote \(patched.count) bytes to \(output)")
                print(describe(check, name: output))
            }
        }
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "install",
            abstract: "Install a checked ROM where QEMU may read it (/usr/share/vgabios) and print its <rom> line.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("The ROM file.", valueName: "file"), completion: .file())
        var file: String

        @Option(
            name: .customLong("for"), help: ArgumentHelp("The device the ROM is for.", valueName: "device"),
            completion: .custom(completeTargets))
        var device: String

        func validate() throws { _ = try target(device) }

        func run() throws {
            try reportingFailures {
                let bytes = try readUserFile(file)
                let installation = try global.host.installROM(
                    bytes, for: try global.host.address(named: device), source: file)
                if global.json { return try printJSON(installation) }
                print(
                    installation.unchanged
                        ? "already installed: \(installation.path)" : "installed \(installation.path)")
                if let backup = installation.backup { print("the previous file is kept as \(backup)") }
                print(installation.romElement)
            }
        }
    }
}

private func hexID(_ value: UInt16) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 4 - digits.count) + digits
}
