import Foundation
import TestSupport
import Testing

private let nodeURI =
    "test://"
    + URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/libvirt/node.xml").path

@Suite struct LibvirtCommandTests {
    @Test("domains lists the guests of a connection, as a table and as JSON")
    func domains() throws {
        let table = try vfioctl(["domains", "--connect", nodeURI])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("NAME") == true)
        #expect(lines.contains { $0.hasPrefix("gaming ") && $0.contains("running") && $0.contains("0000:01:00.0") })
        #expect(lines.contains { $0.hasPrefix("workstation ") && $0.contains("shut off") })
        let json = try vfioctl(["domains", "--json", "--connect", nodeURI])
        let list = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(list.map { $0["name"] as? String } == ["gaming", "win11", "workstation"])
        let env = try vfioctl(["domains"], environment: ["LIBVIRT_DEFAULT_URI": nodeURI])
        #expect(env.stdout == table.stdout, "LIBVIRT_DEFAULT_URI is honoured")
    }

    // libvirt's test driver keeps no state between connections, so the definition cannot be read back here: the
    // test proves the merge (the diff) and that libvirt accepted the define, not what it stored.
    @Test("attach --domain merges the guest's definition and libvirt's test driver accepts the define")
    func attachDomain() throws {
        let fake = try FakeHost.guestHost()
        let root = ["--sysroot", fake.root, "--connect", nodeURI]
        let diff = try vfioctl(["attach", "--domain", "gaming", "--gpu", "gpu:2", "--print-diff"] + root)
        #expect(diff.status == 0, "\(diff.stderr)")
        #expect(diff.stdout.hasPrefix("--- gaming\n+++ gaming (merged)\n"))
        #expect(diff.stdout.contains("+        <address domain='0x0000' bus='0x01' slot='0x00' function='0x1'/>"))
        let printThenDefine = try vfioctl(
            ["attach", "--domain", "gaming", "--scream", "--print-diff", "--define"] + root)
        #expect(printThenDefine.status == 0, "\(printThenDefine.stderr)")
        #expect(printThenDefine.stdout.contains("+    <shmem name='scream-ivshmem'>"))
        #expect(printThenDefine.stderr.contains("defined gaming at \(nodeURI)"))
        let fileDefine = try vfioctl(["attach", "x.xml", "--scream", "--print-diff", "--define"] + root)
        #expect(fileDefine.status == 64)
        #expect(fileDefine.stderr.contains("--define goes with --domain NAME"))
        let define = try vfioctl(["attach", "--domain", "gaming", "--scream"] + root)
        #expect(define.status == 0, "\(define.stderr)")
        #expect(
            define.stderr.contains("defined gaming at \(nodeURI) (it is running: the changes apply at its next start)"))
        let detach = try vfioctl(["detach", "--domain", "workstation", "--scream"] + root)
        #expect(detach.status == 0)
        #expect(detach.stderr.contains("workstation: already up to date"))
    }

    @Test("bad combinations and unknown guests are one line and a non-zero exit")
    func errors() throws {
        let fake = try FakeHost.guestHost()
        let root = ["--sysroot", fake.root, "--connect", nodeURI]
        let inPlace = try vfioctl(["attach", "--domain", "gaming", "--scream", "--in-place"] + root)
        #expect(inPlace.status == 64)
        #expect(inPlace.stderr.contains("--in-place is for files"))
        let both = try vfioctl(["attach", "x.xml", "--domain", "gaming", "--scream"] + root)
        #expect(both.status == 64)
        #expect(both.stderr.contains("either a domain.xml file or --domain NAME"))
        let none = try vfioctl(["attach", "--scream"] + root)
        #expect(none.status == 64)
        let unknown = try vfioctl(["attach", "--domain", "nope", "--scream"] + root)
        #expect(unknown.status == 66)
        #expect(unknown.stderr.split(separator: "\n").count == 1)
        #expect(unknown.stderr.contains("domain nope: not found"))
        let down = try vfioctl(["domains", "--connect", "test:///nonexistent/node.xml"])
        #expect(down.status == 69)
        #expect(down.stderr.hasPrefix("vfioctl: cannot connect to libvirt at test:///nonexistent/node.xml"))
        #expect(down.stderr.split(separator: "\n").count == 1)
    }
}
