import Foundation
import Glibc
import TestSupport
import Testing

@Suite struct InterruptCommandTests {
    @Test("SIGINT and SIGTERM during a hung unbind: the bind rolls back, exits 130 or 143, and leaves no record")
    func interruptedBind() throws {
        for (signal, status) in [(SIGINT, Int32(130)), (SIGTERM, Int32(143))] {
            let fake = try FakeHost.workstation()
            // The NVIDIA driver's unbind is a FIFO nobody reads: the write blocks as a hung driver's would.
            let unbind = fake.path("/sys/bus/pci/drivers/nvidia/unbind")
            try? FileManager.default.removeItem(atPath: unbind)
            #expect(mkfifo(unbind, 0o600) == 0)
            try fake.write("/sys/bus/pci/devices/0000:01:00.0/driver_override", "(null)\n")
            try fake.write("/sys/module/vfio_pci/refcnt", "0\n")
            let process = Process()
            process.executableURL = Bundle.main.bundleURL.appendingPathComponent("vfioctl")
            process.arguments = ["bind", "01:00.0", "--timeout", "600", "--sysroot", fake.root]
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = Pipe()
            try process.run()
            // Wait (bounded) until the journal records the override as written: the bind is then inside the unbind.
            let journal = fake.path("/run/vfioctl/journal.json")
            var reached = false
            for _ in 0..<3000 where process.isRunning {
                if let text = try? String(contentsOfFile: journal, encoding: .utf8),
                    text.contains("\"unbindDriver\"") && text.contains("\"done\" : true")
                {
                    reached = true
                    break
                }
                usleep(10_000)
            }
            #expect(reached, "the bind reached the unbind")
            kill(process.processIdentifier, signal)
            // Bounded: a vfioctl that ignored the signal is killed and the test fails, never hangs.
            for _ in 0..<6000 where process.isRunning { usleep(10_000) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                Issue.record("vfioctl did not stop within 60 s of the signal")
            }
            process.waitUntilExit()
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == status, "\(stderr)")
            #expect(stderr.contains("interrupted by \(signal == SIGINT ? "SIGINT" : "SIGTERM")"))
            #expect(stderr.contains("0000:01:00.0 restored"))
            let override = try String(
                contentsOfFile: fake.path("/sys/bus/pci/devices/0000:01:00.0/driver_override"), encoding: .utf8)
            #expect(override == "\n", "the override is cleared again")
            #expect(!FileManager.default.fileExists(atPath: journal))
        }
    }

    @Test("recover --dry-run lists what a killed run left and changes nothing; recover without findings says so")
    func recoverCommand() throws {
        let fake = try FakeHost.workstation()
        try fake.write("/sys/bus/pci/devices/0000:01:00.1/driver_override", "vfio-pci\n")
        let before = try fake.snapshot()
        let dry = try vfioctl(["recover", "--dry-run", "--sysroot", fake.root])
        #expect(dry.status == 0)
        #expect(dry.stdout == "would undo: 0000:01:00.1 has driver_override vfio-pci but is on snd_hda_intel\n")
        #expect(try fake.snapshot() == before)
        let json = try vfioctl(["recover", "--dry-run", "--json", "--sysroot", fake.root])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((object?["findings"] as? [Any])?.count == 1)
        let doctor = try vfioctl(["doctor", "--sysroot", fake.root])
        #expect(doctor.stdout.contains("vfioctl recover"))
        let clean = try FakeHost.workstation()
        let none = try vfioctl(["recover", "--sysroot", clean.root])
        #expect(none.status == 0 && none.stdout == "nothing to recover\n")
    }

    @Test("a second vfioctl waits for the lock a bounded time, then names the holder")
    func lockHolder() throws {
        let fake = try FakeHost.workstation()
        let directory = fake.path("/run/vfioctl")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fd = open(directory, O_RDONLY | O_DIRECTORY)
        #expect(fd >= 0 && flock(fd, LOCK_EX) == 0)
        defer { close(fd) }
        try "\(getpid())\n".write(toFile: directory + "/lock.pid", atomically: true, encoding: .utf8)
        let result = try vfioctl(
            ["unbind", "02:00.0", "--wait", "1", "--sysroot", fake.root])
        #expect(result.status == 75)
        #expect(result.stderr.contains("/run/vfioctl is locked by process \(getpid())"))
    }
}
