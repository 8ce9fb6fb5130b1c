import CXML
import Dispatch
import Glibc
import SystemPackage

/// Reading, validating and writing libvirt domain files.
public enum DomainFile {
    /// libvirt's RELAX NG schema for domains, as Debian's libvirt0 and every distribution's libvirt install it.
    public static let defaultSchema = "/usr/share/libvirt/schemas/domain.rng"

    /// Reads and parses a domain file.
    /// - Throws: `DevicesError`: a missing or unreadable file, or XML that is not well-formed (with line:column).
    public static func read(_ path: String) throws -> XMLDocument {
        guard let bytes = try LiveHostIO().read(FilePath(path)) else {
            throw DevicesError(
                code: .notFound,
                message: "\(path) does not exist: give a domain XML file (`virsh dumpxml NAME > \(path)`)")
        }
        return try XMLDocument(bytes: bytes, source: path)
    }

    /// Starts reading and compiling a schema on another thread, so that validation later finds it ready; the
    /// work overlaps with reading the host and merging.
    public static func preloadSchema(_ schema: String = defaultSchema) {
        guard access(schema, R_OK) == 0 else { return }
        DispatchQueue.global(qos: .userInitiated).async { schema.withCString { cxml_preload($0) } }
    }

    /// Whether the schema file can be read.
    public static func schemaAvailable(_ schema: String = defaultSchema) -> Bool { access(schema, R_OK) == 0 }

    /// Checks bytes against libvirt's schema.
    /// - Returns: nil when valid, else the first problem as `line N: message`.
    /// - Throws: `DevicesError` when the bytes are not well-formed XML, when `schema` cannot be read, and when
    ///   libxml2 cannot compile it or start a validation: no answer is never taken for "valid".
    public static func schemaProblem(_ bytes: [UInt8], source: String, schema: String = defaultSchema) throws -> String?
    {
        guard access(schema, R_OK) == 0 else { throw DevicesError.read(FilePath(schema), Errno(rawValue: errno)) }
        var parsing = cxml_state()
        defer { cxml_state_free(&parsing) }
        let document = try XMLDocument.parseTree(bytes, source: source, state: &parsing)
        defer { xmlFreeDoc(document) }
        var state = cxml_state()
        defer { cxml_state_free(&state) }
        let result = cxml_validate(document, schema, &state)
        let message = withUnsafeBytes(of: &state.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        guard result >= 0 else {
            throw DevicesError(
                code: .invalidData,
                message: "\(schema) is not a RELAX NG schema libxml2 can use"
                    + (message.isEmpty ? "" : " (\(message))"))
        }
        guard result != 0 else { return nil }
        let problem = message.isEmpty ? "not valid (libxml2 gave no reason)" : message
        return state.line > 0 ? "line \(state.line): \(problem)" : problem
    }

    /// Makes sure a result may be written: well-formed, and valid for libvirt whenever the input was.
    /// - Throws: `DevicesError` naming the problem; nothing is written after it.
    public static func validate(
        _ change: DomainChange, original: XMLDocument, source: String, schema: String = defaultSchema
    )
        throws
    {
        // Checking against the schema parses the result (line:column for XML errors); without a schema the
        // parse is all there is.
        guard schemaAvailable(schema) else {
            _ = try XMLDocument(bytes: change.bytes, source: source + " (result)")
            return
        }
        guard let problem = try schemaProblem(change.bytes, source: source + " (result)", schema: schema) else {
            return
        }
        if let before = try schemaProblem(original.bytes, source: source, schema: schema) {
            throw DevicesError(
                code: .invalidData,
                message: "\(source) does not follow libvirt's domain schema even before any change (\(before)): "
                    + "fix it first (`virt-xml-validate \(source) domain`)")
        }
        throw DevicesError(
            code: .internalError,
            message: "the merged domain would not follow libvirt's schema (\(problem)); nothing was written")
    }

    /// Runs `body` while holding an exclusive lock on the directory of `path`, so two vfioctl runs on one file
    /// take turns.
    /// - Throws: what `body` throws, or `DevicesError` when the directory cannot be locked.
    public static func withLock<T>(on path: String, _ body: () throws -> T) throws -> T {
        let directory = FilePath(path).removingLastComponent()
        let name = directory.isEmpty ? "." : directory.string
        let fd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw DevicesError.read(FilePath(name), Errno(rawValue: errno)) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw DevicesError.read(FilePath(name), Errno(rawValue: errno)) }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Writes a result atomically (temporary file, fsync, rename), keeping the file's mode and a `.bak` copy
    /// of what was there.
    /// - Returns: where the backup went and whether anything changed.
    /// - Throws: `DevicesError` naming the file.
    @discardableResult
    public static func write(_ bytes: [UInt8], to path: String) throws -> AtomicFile.Outcome {
        var status = stat()
        let mode: mode_t = stat(path, &status) == 0 ? status.st_mode & 0o7777 : 0o644
        let target = path.hasPrefix("/") ? FilePath(path) : DomainMerger.currentDirectory().appending(path)
        return try AtomicFile.write(bytes, to: target, mode: mode, backup: true)
    }
}
