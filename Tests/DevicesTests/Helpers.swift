import Testing

@testable import Devices

extension HostReport {
    /// The device at a textual address, failing the test when there is none.
    func device(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> PCIDevice {
        let address = try #require(PCIAddress(text), sourceLocation: sourceLocation)
        return try #require(device(at: address), sourceLocation: sourceLocation)
    }
}
