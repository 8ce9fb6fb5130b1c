extension VBIOS {
    /// The ROM without its nvflash header: everything from the matched `55 AA` on.
    /// - Throws: `DevicesError` when there is no header to strip.
    public static func stripNVFlashHeader(_ bytes: [UInt8], name: String) throws -> [UInt8] {
        guard let start = nvflashHeaderOffset(bytes) else {
            throw DevicesError(
                code: .invalidData,
                message: "no nvflash header in \(name): no 55 AA … EB … VIDEO pattern found"
                    + (bytes.starts(with: [0x55, 0xAA]) ? " (the file already starts with a ROM)" : ""))
        }
        guard start > 0 else {
            throw DevicesError(
                code: .invalidData,
                message: "no nvflash header in \(name): the file already starts with the ROM (nothing to strip)")
        }
        return Array(bytes[start...])
    }
}
