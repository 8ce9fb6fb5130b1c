/// Reads PCI option ROMs: the kernel's image walk, checksums, EFI headers and the nvflash header rule.
///
/// The bytes are untrusted (a dump, a download): every offset is bounds-checked and every loop is bounded.
public enum VBIOS {
    /// Most images a ROM is walked for; real ROMs hold two or three.
    static let maximumImages = 32

    /// Walks `bytes` as the kernel's `pci_get_rom_size` does and judges the result.
    /// - Parameters:
    ///   - bytes: the ROM file's content, untrusted.
    ///   - device: when given, the ROM must name this vendor and device (directly or in a device list).
    /// - Returns: the images found and every problem, in words.
    public static func check(_ bytes: [UInt8], for device: (vendor: UInt16, device: UInt16)? = nil) -> VBIOSCheck {
        var problems: [String] = []
        var images: [VBIOSImage] = []
        let headerOffset = nvflashHeaderOffset(bytes)
        var offset = 0
        var sawLast = false
        var end = 0
        if bytes.count < 2 || bytes[0] != 0x55 || bytes[1] != 0xAA {
            if let headerOffset, headerOffset > 0 {
                problems.append(
                    "an nvflash header of \(headerOffset) bytes precedes the ROM: run `vfioctl vbios patch` to strip it"
                )
            } else if bytes.isEmpty {
                problems.append("the file is empty")
            } else {
                problems.append(
                    "no ROM signature (55 AA) at offset 0: not a PCI option ROM"
                        + (bytes.count >= 2 && bytes[0] == 0xFF && bytes[1] == 0xFF
                            ? " (all FF: the ROM was not enabled or is empty)" : ""))
            }
        } else {
            while images.count < maximumImages {
                guard let image = readImage(bytes, at: offset, problems: &problems) else { break }
                images.append(image)
                end = min(bytes.count, offset + image.length)
                if image.isLast {
                    sawLast = true
                    break
                }
                let next = offset + image.length
                guard next + 2 <= bytes.count, bytes[next] == 0x55, bytes[next + 1] == 0xAA else {
                    problems.append(
                        "image \(images.count) at offset \(hexOffset(offset)) is not marked last, but no image follows at "
                            + "\(hexOffset(next))")
                    break
                }
                offset = next
            }
            if images.count == maximumImages && !sawLast {
                problems.append("more than \(maximumImages) images without a last-image flag")
            }
        }
        for (index, image) in images.enumerated() where image.codeType == "x86" && !image.checksumOK {
            problems.append("image \(index + 1) (x86) has a bad checksum: its bytes do not sum to 0 mod 256")
        }
        var matches: Bool?
        if let device, !images.isEmpty {
            let vendorID = hexadecimal(device.vendor, width: 4)
            let deviceID = hexadecimal(device.device, width: 4)
            let match = images.contains {
                $0.vendorID == vendorID && ($0.deviceID == deviceID || $0.deviceList.contains(deviceID))
            }
            matches = match
            if !match {
                let found = Set(images.map { "\($0.vendorID):\($0.deviceID)" }).sorted().joined(separator: ", ")
                problems.append("the ROM is for \(found), not for \(vendorID):\(deviceID)")
            }
        }
        return VBIOSCheck(
            valid: problems.isEmpty && !images.isEmpty && sawLast,
            nvflashHeader: (headerOffset ?? 0) > 0,
            romOffset: headerOffset.flatMap { $0 > 0 ? $0 : nil },
            problems: problems, images: images, size: bytes.count,
            trailingBytes: images.isEmpty ? 0 : max(0, bytes.count - end),
            isUEFICapable: images.contains { $0.codeType == "efi" && $0.efiMachine == "x64" },
            matchesDevice: matches)
    }

    /// Reads the image whose `55 AA` is at `offset`; nil (with a problem) when its PCIR structure is unusable.
    static func readImage(_ bytes: [UInt8], at offset: Int, problems: inout [String]) -> VBIOSImage? {
        guard let pointer = u16(bytes, offset + 0x18) else {
            problems.append("image at \(hexOffset(offset)) is truncated before its PCIR pointer")
            return nil
        }
        let pcir = offset + Int(pointer)
        guard pcir + 0x18 <= bytes.count else {
            problems.append("image at \(hexOffset(offset)) points its PCIR structure past the end (\(hexOffset(pcir)))")
            return nil
        }
        guard bytes[pcir] == 0x50, bytes[pcir + 1] == 0x43, bytes[pcir + 2] == 0x49, bytes[pcir + 3] == 0x52 else {
            problems.append("image at \(hexOffset(offset)) has no PCIR structure at \(hexOffset(pcir))")
            return nil
        }
        let vendor = u16(bytes, pcir + 4) ?? 0
        let device = u16(bytes, pcir + 6) ?? 0
        let listPointer = Int(u16(bytes, pcir + 8) ?? 0)
        let revision = bytes[pcir + 0x0C]
        let classCode = UInt32(bytes[pcir + 0x0D]) | UInt32(bytes[pcir + 0x0E]) << 8 | UInt32(bytes[pcir + 0x0F]) << 16
        let length = Int(u16(bytes, pcir + 0x10) ?? 0) * 512
        let codeTypeValue = bytes[pcir + 0x14]
        let isLast = bytes[pcir + 0x15] & 0x80 != 0
        guard length > 0 else {
            problems.append("image at \(hexOffset(offset)) has a length of 0")
            return nil
        }
        var checksumOK = false
        if offset + length > bytes.count {
            problems.append(
                "image at \(hexOffset(offset)) claims \(length) bytes but the file ends after \(bytes.count - offset): "
                    + "truncated")
        } else {
            var sum: UInt8 = 0
            for byte in bytes[offset..<(offset + length)] { sum &+= byte }
            checksumOK = sum == 0
        }
        var deviceList: [String] = []
        if revision >= 3 && listPointer != 0 {
            var cursor = pcir + listPointer
            while deviceList.count < 64, let id = u16(bytes, cursor), id != 0 {
                deviceList.append(hexadecimal(id, width: 4))
                cursor += 2
            }
        }
        let codeType: String =
            switch codeTypeValue {
            case 0: "x86"
            case 1: "openfirmware"
            case 2: "hppa"
            case 3: "efi"
            default: "unknown"
            }
        var image = VBIOSImage(
            offset: offset, codeType: codeType, vendorID: hexadecimal(vendor, width: 4),
            deviceID: hexadecimal(device, width: 4),
            deviceList: deviceList, classCode: "0x" + hexadecimal(classCode, width: 6), length: length, isLast: isLast,
            checksumOK: checksumOK)
        if codeTypeValue == 3, let signature = u32(bytes, offset + 4), signature == 0x0EF1 {
            image.efiSubsystem = u16(bytes, offset + 8).map(Int.init)
            image.efiMachine = u16(bytes, offset + 0x0A).map(efiMachineName)
            image.efiCompressed = u16(bytes, offset + 0x0C).map { $0 != 0 }
        }
        return image
    }

    /// The name of an EFI machine type.
    static func efiMachineName(_ machine: UInt16) -> String {
        switch machine {
        case 0x8664: "x64"
        case 0x014C: "ia32"
        case 0xAA64: "arm64"
        case 0x0EBC: "ebc"
        case 0x0200: "itanium"
        case 0x01C2: "arm"
        default: "0x" + hexadecimal(machine, width: 4)
        }
    }

    /// Where the ROM starts in a file with an nvflash header, or nil when there is no such place.
    ///
    /// The ROM starts at the first `55 AA` followed by one byte, `EB` (a short jump), ten bytes and ASCII
    /// `VIDEO`, matched on bytes.
    public static func nvflashHeaderOffset(_ bytes: [UInt8]) -> Int? {
        let video: [UInt8] = Array("VIDEO".utf8)
        guard bytes.count >= 19 else { return nil }
        for start in 0...(bytes.count - 19)
        where bytes[start] == 0x55 && bytes[start + 1] == 0xAA && bytes[start + 3] == 0xEB
            && bytes[(start + 14)..<(start + 19)].elementsEqual(video)
        {
            return start
        }
        return nil
    }

    static func u16(_ bytes: [UInt8], _ at: Int) -> UInt16? {
        guard at >= 0, at + 2 <= bytes.count else { return nil }
        return UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
    }

    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32? {
        guard at >= 0, at + 4 <= bytes.count else { return nil }
        return UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16
            | UInt32(bytes[at + 3]) << 24
    }

    static func hexOffset(_ offset: Int) -> String { "0x" + String(offset, radix: 16) }

    // This file stands alone (the fuzzer compiles it without the rest of the library), so it keeps its own
    // formatting helper.
    static func hexadecimal<T: BinaryInteger>(_ value: T, width: Int) -> String {
        let digits = String(value, radix: 16)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
