import Devices
import Testing

@testable import vfioctl

/// A library that cannot be loaded is reported as one line that names the package to install.
@Suite struct LibraryHintTests {
    @Test(
        "each lazily loaded library's error names its Debian package",
        arguments: [
            ("libvirt", "libvirt0"), ("libxml2", "libxml2"), ("libudev", "libudev1"), ("libevdev", "libevdev2"),
        ])
    func namesPackage(library: String, package: String) {
        let error = DevicesError(
            code: .unavailable, message: "cannot read XML: \(library) is not installed", object: .library(library))
        #expect(hint(for: error) == "Debian/Ubuntu: apt-get install \(package)")
        #expect(name(of: error.object!) == library)
    }

    @Test("the libraries load on a host that has them, and parsing XML works through the loaded table")
    func loads() throws {
        let document = try XMLDocument(bytes: Array("<domain><name>a</name></domain>".utf8), source: "t")
        #expect(document.root.child("name")?.text == "a")
    }
}
