// libFuzzer entry point for the ROM parser: every input must be judged without trapping.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVBIOS(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let check = VBIOS.check(bytes, for: (0x10de, 0x1b81))
    if check.valid && check.images.isEmpty { fatalError("a valid ROM without images") }
    if let start = VBIOS.nvflashHeaderOffset(bytes) {
        _ = VBIOS.check(Array(bytes[start...]))
    }
    return 0
}
