import CVirt
import CXML
import Glibc

/// A guest as `vfioctl domains` lists it.
public struct LibvirtDomain: Sendable, Hashable {
    /// Its name.
    public var name: String
    /// Whether it is running.
    public var isActive: Bool
    /// Its persistent (inactive) definition.
    public var xml: [UInt8]
}

/// A libvirt release, as `virConnectGetLibVersion` numbers it: major × 1,000,000 + minor × 1,000 + micro.
public struct LibvirtVersion: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The major release.
    public var major: Int
    /// The minor release.
    public var minor: Int
    /// The micro release.
    public var micro: Int

    /// Creates a version.
    public init(major: Int, minor: Int, micro: Int = 0) {
        self.major = major
        self.minor = minor
        self.micro = micro
    }

    /// Splits libvirt's number.
    public init(number: UInt64) {
        self.init(major: Int(number / 1_000_000), minor: Int(number / 1000 % 1000), micro: Int(number % 1000))
    }

    /// The first release with `<qemu:override>`.
    public static let qemuOverride = LibvirtVersion(major: 8, minor: 2)

    /// `9.0.0`.
    public var description: String { "\(major).\(minor).\(micro)" }

    /// Orders by release.
    public static func < (lhs: LibvirtVersion, rhs: LibvirtVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.micro) < (rhs.major, rhs.minor, rhs.micro)
    }
}

/// One connection to libvirt, through its own API and transports.
///
/// Any URI libvirt knows: `qemu:///system`, `qemu+ssh://host/system`, `test:///default`. Errors come back as
/// one line with the URI and the domain name.
public final class LibvirtConnection: @unchecked Sendable {
    /// The URI it was opened with.
    public let uri: String
    let api: UnsafeMutablePointer<cvirt_api>
    let connection: virConnectPtr

    /// Opens a connection.
    /// - Throws: `DevicesError` (`.unavailable`) with libvirt's message and the URI.
    public init(uri: String) throws {
        self.uri = uri
        guard let api = cvirt_load() else {
            throw DevicesError(
                code: .unavailable,
                message: "cannot use libvirt for \(uri): \(String(cString: cvirt_load_error()))",
                object: .library("libvirt"))
        }
        self.api = api
        // libvirt links libxml2, so it is loaded already.
        if let xml = try? XMLLibrary.load() { cxml_quiet_generic(xml) }
        guard let connection = cvirt_open(api, uri) else {
            throw DevicesError(
                code: .unavailable,
                message: "cannot connect to libvirt at \(uri): \(Self.lastError(api)) (is libvirtd/virtqemud running, "
                    + "and may this user use it?)")
        }
        self.connection = connection
    }

    deinit {
        _ = api.pointee.connectClose(connection)
    }

    static func lastError(_ api: UnsafeMutablePointer<cvirt_api>) -> String {
        let text = String(cString: cvirt_last_error(api))
        return text.split(separator: "\n").joined(separator: " ")
    }

    private func failure(_ what: String, domain: String) -> DevicesError {
        let code = cvirt_last_error_code(api)
        return DevicesError(
            code: code == Int32(VIR_ERR_NO_DOMAIN.rawValue) ? .notFound : .unavailable,
            message: "libvirt at \(uri), domain \(domain): \(what): \(Self.lastError(api))", object: .domain(domain))
    }

    /// Runs `body` with a domain handle.
    private func withDomain<T>(_ name: String, _ body: (virDomainPtr) throws -> T) throws -> T {
        guard let domain = api.pointee.domainLookupByName(connection, name) else {
            throw failure("not found", domain: name)
        }
        defer { _ = api.pointee.domainFree(domain) }
        return try body(domain)
    }

    /// The persistent definition of a guest, with secrets (as `virsh edit` reads it), so defining it back loses
    /// nothing.
    /// - Throws: `DevicesError` naming the URI and the domain.
    public func inactiveXML(of name: String) throws -> [UInt8] {
        try withDomain(name) { domain in
            let flags = UInt32(VIR_DOMAIN_XML_INACTIVE.rawValue | VIR_DOMAIN_XML_SECURE.rawValue)
            guard let text = api.pointee.domainGetXMLDesc(domain, flags) else {
                throw failure("cannot read its definition", domain: name)
            }
            defer { cvirt_free(text) }
            return Array(UnsafeBufferPointer(start: text, count: strlen(text))).map { UInt8(bitPattern: $0) }
        }
    }

    /// Whether a guest is running.
    public func isActive(_ name: String) throws -> Bool {
        try withDomain(name) { domain in
            let state = api.pointee.domainIsActive(domain)
            guard state >= 0 else { throw failure("cannot read its state", domain: name) }
            return state == 1
        }
    }

    /// Defines a guest from XML, validated by libvirt; a failure changes nothing.
    /// - Throws: `DevicesError` with libvirt's message, the URI and the domain.
    public func define(_ xml: [UInt8], name: String) throws {
        var text = xml.map { CChar(bitPattern: $0) }
        text.append(0)
        let flags = UInt32(VIR_DOMAIN_DEFINE_VALIDATE.rawValue)
        guard let domain = api.pointee.domainDefineXMLFlags(connection, text, flags) else {
            throw failure("libvirt refused the new definition, nothing changed", domain: name)
        }
        _ = api.pointee.domainFree(domain)
    }

    /// The libvirt version of the daemon at the other end (the library's own for drivers without one).
    /// - Returns: `(major, minor, micro)`.
    /// - Throws: `DevicesError` when libvirt does not say.
    public func version() throws -> LibvirtVersion {
        var number: UInt = 0
        guard api.pointee.connectGetLibVersion(connection, &number) == 0 else {
            throw DevicesError(
                code: .unavailable, message: "libvirt at \(uri): cannot read its version: \(Self.lastError(api))")
        }
        return LibvirtVersion(number: UInt64(number))
    }

    /// Every guest, running or not, by name.
    /// - Throws: `DevicesError` when the list cannot be read.
    public func domains() throws -> [LibvirtDomain] {
        var list: UnsafeMutablePointer<virDomainPtr?>?
        let count = api.pointee.connectListAllDomains(connection, &list, 0)
        guard count >= 0, let list else {
            throw DevicesError(
                code: .unavailable, message: "libvirt at \(uri): cannot list the guests: \(Self.lastError(api))")
        }
        defer {
            for index in 0..<Int(count) { if let domain = list[index] { _ = api.pointee.domainFree(domain) } }
            cvirt_free(list)
        }
        var result: [LibvirtDomain] = []
        for index in 0..<Int(count) {
            guard let domain = list[index], let rawName = api.pointee.domainGetName(domain) else { continue }
            let name = String(cString: rawName)
            let flags = UInt32(VIR_DOMAIN_XML_INACTIVE.rawValue)
            var xml: [UInt8] = []
            if let text = api.pointee.domainGetXMLDesc(domain, flags) {
                xml = Array(UnsafeBufferPointer(start: text, count: strlen(text))).map { UInt8(bitPattern: $0) }
                cvirt_free(text)
            }
            result.append(LibvirtDomain(name: name, isActive: api.pointee.domainIsActive(domain) == 1, xml: xml))
        }
        return result.sorted { $0.name < $1.name }
    }
}
