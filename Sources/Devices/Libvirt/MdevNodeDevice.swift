/// A mediated device as libvirt's node-device API defines it (libvirt hands it to mdevctl).
///
/// ```
/// <device>
///   <name>mdev_4b20d080_1b54_4048_85b3_a6a62d165c01_0000_00_02_0</name>
///   <parent>pci_0000_00_02_0</parent>
///   <capability type='mdev'>
///     <type id='i915-GVTg_V5_4'/>
///     <uuid>4b20d080-1b54-4048-85b3-a6a62d165c01</uuid>
///   </capability>
/// </device>
/// ```
public struct MdevNodeDevice: Sendable, Hashable {
    /// The parent function.
    public var parent: PCIAddress
    /// The type ID (`i915-GVTg_V5_4`, `nvidia-259`).
    public var type: String
    /// Its UUID, lowercase.
    public var uuid: String

    /// Creates a definition.
    /// - Throws: `DevicesError` (`.invalidArgument`) for a malformed UUID or a type ID with characters no driver
    ///   uses (sysfs directory names are letters, digits, `-`, `_`, `.` and `:`).
    public init(parent: PCIAddress, type: String, uuid: String) throws {
        guard MdevUUID.isValid(uuid) else {
            throw DevicesError(
                code: .invalidArgument,
                message: "'\(uuid)' is not a UUID (8-4-4-4-12 hex digits, like 4b20d080-1b54-4048-85b3-a6a62d165c01)")
        }
        guard !type.isEmpty,
            type.unicodeScalars.allSatisfy({
                ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)))
                    || "-_.:".unicodeScalars.contains($0)
            })
        else {
            throw DevicesError(
                code: .invalidArgument,
                message: "'\(type)' is not an mdev type ID (letters, digits, -, _, . and :, like i915-GVTg_V5_4)")
        }
        self.parent = parent
        self.type = type
        self.uuid = uuid.lowercased()
    }

    /// libvirt's name of a PCI function: `pci_0000_00_02_0`.
    public static func nodeDeviceName(of address: PCIAddress) -> String {
        "pci_" + address.description.map { $0 == ":" || $0 == "." ? "_" : $0 }.map(String.init).joined()
    }

    /// The name libvirt (7.3 and later) gives the device: `mdev_<uuid>_<parent address>`, with `_` for `-`, `:`
    /// and `.`.
    public var name: String {
        "mdev_" + uuid.replacing("-", with: "_") + "_" + Self.nodeDeviceName(of: parent).dropFirst("pci_".count)
    }

    /// The prefix of the names libvirt has given the device: `mdev_<uuid>` (older releases stop there).
    public static func namePrefix(uuid: String) -> String { "mdev_" + uuid.lowercased().replacing("-", with: "_") }

    /// The definition as `virNodeDeviceDefineXML` takes it (and libvirt's `nodedev` schema accepts it).
    public var xml: String {
        XMLFragment(
            "device",
            children: [
                XMLFragment("name", text: name),
                XMLFragment("parent", text: Self.nodeDeviceName(of: parent)),
                XMLFragment(
                    "capability", ["type": "mdev"],
                    children: [XMLFragment("type", ["id": type]), XMLFragment("uuid", text: uuid)]),
            ]
        ).render(indent: "", unit: "  ", quote: "'") + "\n"
    }
}
