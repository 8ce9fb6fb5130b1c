import Foundation
import SystemPackage
import Testing

@testable import Devices

@Suite struct HostIOTests {
    @Test("a write that blocks (a FIFO nobody reads, like a hung unbind) times out for real in a child process")
    func liveTimeout() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vfioctl-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let fifo = folder.appendingPathComponent("unbind").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let clock = ContinuousClock()
        let start = clock.now
        let error = #expect(throws: DevicesError.self) {
            try LiveHostIO().write("0000:01:00.0", to: FilePath(fifo), timeout: .milliseconds(400))
        }
        let elapsed = clock.now - start
        #expect(error?.code == .timeout)
        #expect(error?.message.hasPrefix("writing 0000:01:00.0 to \(fifo) did not return within") == true)
        #expect(elapsed >= .milliseconds(400))
        #expect(elapsed < .seconds(10))
        // Let the stuck writer finish, so no child is left behind.
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        if reader >= 0 { close(reader) }
    }
}
