/// Reset facts keyed by PCI IDs: the vendor-reset device table and the kernel's no-FLR quirks.
public enum ResetQuirks {
    /// A family of AMD GPUs that vendor-reset knows how to reset.
    public struct Family: Sendable, Hashable {
        /// Family name, for example "Polaris 10".
        public let name: String
        /// The vendor-reset ops that handle it.
        public let ops: String
        /// Typical products.
        public let products: String
        /// Device IDs (vendor 0x1002).
        public let deviceIDs: [UInt16]
    }

    /// vendor-reset's device table (`src/device-db.h`): 67 IDs of vendor 0x1002 in nine families.
    public static let vendorResetFamilies: [Family] = [
        Family(
            name: "Polaris 10", ops: "polaris10", products: "RX 470/480/570/580/590",
            deviceIDs: [
                0x67C0, 0x67C1, 0x67C2, 0x67C4, 0x67C7, 0x67D0, 0x67DF, 0x67C8, 0x67C9, 0x67CA, 0x67CC, 0x67CF, 0x6FDF,
            ]),
        Family(
            name: "Polaris 11", ops: "polaris10", products: "RX 460/560",
            deviceIDs: [0x67E0, 0x67E3, 0x67E8, 0x67EB, 0x67EF, 0x67FF, 0x67E1, 0x67E7, 0x67E9]),
        Family(
            name: "Polaris 12", ops: "polaris10", products: "RX 540/550",
            deviceIDs: [0x6980, 0x6981, 0x6985, 0x6986, 0x6987, 0x6995, 0x6997, 0x699F]),
        Family(
            name: "Vega 10", ops: "vega10", products: "Vega 56/64/FE",
            deviceIDs: [
                0x6860, 0x6861, 0x6862, 0x6863, 0x6864, 0x6867, 0x6868, 0x6869, 0x686A, 0x686B, 0x686C, 0x686D, 0x686E,
                0x686F, 0x687F,
            ]),
        Family(
            name: "Vega 20", ops: "vega20", products: "Radeon VII",
            deviceIDs: [0x66A0, 0x66A1, 0x66A2, 0x66A3, 0x66A4, 0x66A7, 0x66AF]),
        Family(name: "Arcturus", ops: "vega20", products: "Instinct MI100", deviceIDs: [0x738C]),
        Family(
            name: "Navi 10", ops: "navi10", products: "RX 5600 XT/5700/5700 XT",
            deviceIDs: [0x7310, 0x7312, 0x7318, 0x7319, 0x731A, 0x731B, 0x731E, 0x731F]),
        Family(
            name: "Navi 14", ops: "navi10", products: "RX 5300/5500 XT, Pro 5300",
            deviceIDs: [0x7340, 0x7341, 0x7347, 0x734F]),
        Family(name: "Navi 12", ops: "navi10", products: "Pro 5600M", deviceIDs: [0x7360, 0x7362]),
    ]

    /// The AMD/ATI GPU vendor ID.
    public static let amdGPUVendor: UInt16 = 0x1002

    private static let familyByDevice: [UInt16: Family] = {
        var table: [UInt16: Family] = [:]
        for family in vendorResetFamilies {
            for id in family.deviceIDs { table[id] = family }
        }
        return table
    }()

    /// The vendor-reset family of a device, or nil when it is not in vendor-reset's table.
    public static func vendorResetFamily(vendor: UInt16, device: UInt16) -> Family? {
        vendor == amdGPUVendor ? familyByDevice[device] : nil
    }

    /// Devices whose FLR hangs them, so the kernel never uses it (`quirk_no_flr` in `drivers/pci/quirks.c`).
    public static let noFLRDevices: Set<UInt32> = [
        0x1022_1486, 0x1022_1487, 0x1022_148C, 0x1022_149C, 0x1022_7901,
        0x8086_1502, 0x8086_1503,
    ]

    /// Whether the kernel disables FLR for this device.
    public static func hasNoFLRQuirk(vendor: UInt16, device: UInt16) -> Bool {
        noFLRDevices.contains(UInt32(vendor) << 16 | UInt32(device))
    }
}
