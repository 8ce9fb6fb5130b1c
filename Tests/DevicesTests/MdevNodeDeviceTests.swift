import Foundation
import Testing

@testable import Devices

/// The mediated device definition for libvirt's node-device API, and what libvirt says to it.
@Suite struct MdevNodeDeviceTests {
    let gvtg = "4b20d080-1b54-4048-85b3-a6a62d165c01"
    let vgpu = "0b7e9a5e-9c3a-4f57-8d0c-5a1f3b2e4d61"

    private func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as DevicesError { return error.message } catch { return "\(error)" }
    }

    @Test("libvirt's node-device XML and names: the nodedev schema takes the definition")
    func nodeDeviceXML() throws {
        let device = try MdevNodeDevice(
            parent: PCIAddress(bus: 0, device: 2, function: 0), type: "i915-GVTg_V5_4", uuid: gvtg.uppercased())
        #expect(
            MdevNodeDevice.nodeDeviceName(of: PCIAddress(bus: 0x3b, device: 0x1f, function: 7)) == "pci_0000_3b_1f_7")
        #expect(device.name == "mdev_4b20d080_1b54_4048_85b3_a6a62d165c01_0000_00_02_0")
        #expect(
            device.xml == """
                <device>
                  <name>mdev_4b20d080_1b54_4048_85b3_a6a62d165c01_0000_00_02_0</name>
                  <parent>pci_0000_00_02_0</parent>
                  <capability type='mdev'>
                    <type id='i915-GVTg_V5_4'/>
                    <uuid>4b20d080-1b54-4048-85b3-a6a62d165c01</uuid>
                  </capability>
                </device>

                """)
        let validate = try #require(
            ["/usr/bin/virt-xml-validate", "/usr/local/bin/virt-xml-validate"].first {
                FileManager.default.isExecutableFile(atPath: $0)
            }, "virt-xml-validate missing: scripts/install-deps --test")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nodedev-\(UUID().uuidString).xml")
        defer { try? FileManager.default.removeItem(at: file) }
        for xml in [
            device.xml,
            try MdevNodeDevice(parent: PCIAddress(bus: 1, device: 0, function: 0), type: "nvidia-259", uuid: vgpu).xml,
        ] {
            try xml.write(to: file, atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: validate)
            process.arguments = [file.path, "nodedev"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "virt-xml-validate refused \(xml)")
        }
        #expect(
            message {
                _ = try MdevNodeDevice(parent: PCIAddress(bus: 0, device: 2, function: 0), type: "a b", uuid: gvtg)
            }
                == "'a b' is not an mdev type ID (letters, digits, -, _, . and :, like i915-GVTg_V5_4)")
        #expect(
            message {
                _ = try MdevNodeDevice(parent: PCIAddress(bus: 0, device: 2, function: 0), type: "x", uuid: "1")
            }?
            .hasPrefix("'1' is not a UUID") == true)
    }

    @Test("libvirt's test driver refuses to define an mdev node device: one line with libvirt's words")
    func nodeDeviceRefused() throws {
        let connection = try LibvirtConnection(uri: "test:///default")
        let device = try MdevNodeDevice(
            parent: PCIAddress(bus: 0, device: 2, function: 0), type: "i915-GVTg_V5_4", uuid: gvtg)
        #expect {
            _ = try connection.defineMdev(device, persistent: true)
        } throws: { error in
            guard let error = error as? DevicesError else { return false }
            return error.code == .unavailable
                && error.message
                    == "libvirt at test:///default, node device mdev_4b20d080_1b54_4048_85b3_a6a62d165c01_0000_00_02_0: "
                    + "libvirt refused the definition, nothing changed: this function is not supported by the "
                    + "connection driver: virNodeDeviceDefineXML"
        }
        #expect {
            _ = try connection.removeMdev(uuid: gvtg)
        } throws: { error in
            (error as? DevicesError)?.message == "libvirt at test:///default knows no mediated device \(gvtg)"
        }
    }
}
