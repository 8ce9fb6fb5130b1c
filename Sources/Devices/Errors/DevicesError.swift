import SystemPackage

/// An error from the Devices library: a stable code, a one-line message that names the object and the fix,
/// and the underlying cause.
public struct DevicesError: Error, Sendable, CustomStringConvertible {
    /// A stable classification of a `DevicesError`, suitable for mapping to exit codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case notFound = "not found"
            case permissionDenied = "permission denied"
            case invalidData = "invalid data"
            case invalidArgument = "invalid argument"
            case unavailable = "unavailable"
            case io = "input/output error"
            case conflict = "conflict"
            case timeout = "timeout"
            case internalError = "internal error"
            case interrupted = "interrupted"
        }

        private let value: Value

        private init(_ value: Value) {
            self.value = value
        }

        /// A file, directory or device does not exist.
        public static let notFound = Code(.notFound)
        /// The operation needs privileges the process does not have.
        public static let permissionDenied = Code(.permissionDenied)
        /// Data read from the host or a file is malformed.
        public static let invalidData = Code(.invalidData)
        /// The caller passed something that cannot be used.
        public static let invalidArgument = Code(.invalidArgument)
        /// A facility (IOMMU, driver, library) is not available on this host.
        public static let unavailable = Code(.unavailable)
        /// Reading or writing failed.
        public static let io = Code(.io)
        /// The request conflicts with the state of the host.
        public static let conflict = Code(.conflict)
        /// An operation did not finish in time.
        public static let timeout = Code(.timeout)
        /// A C library reported an unexpected failure.
        public static let internalError = Code(.internalError)
        /// A signal stopped the operation (after it undid what it had done).
        public static let interrupted = Code(.interrupted)

        /// The code's name.
        public var description: String { value.rawValue }
    }

    /// The classification of the error.
    public let code: Code
    /// One line naming the path or address and, where there is one, the fix.
    public let message: String
    /// The underlying error, usually an `Errno`.
    public let cause: (any Error & Sendable)?
    /// What the error concerns, when it is one thing a caller can name or look up.
    public let object: Object?

    /// The thing an error concerns.
    public enum Object: Sendable, Hashable {
        /// A device target that names nothing on this host (`10de:2484`, `01:00.0`).
        case target(String)
        /// `gpu:N` beyond the host's GPUs.
        case gpuIndex(Int)
        /// A PCI function.
        case device(PCIAddress)
        /// An IOMMU group.
        case group(Int)
        /// A file or directory, as the host names it.
        case file(String)
        /// The host tree everything is read under.
        case sysroot(String)
        /// A libvirt guest.
        case domain(String)
        /// A shared library that is not installed (`libvirt`).
        case library(String)
        /// An evdev input device path.
        case inputDevice(String)
        /// A part of a guest request the caller named, or a rule of one it broke.
        case request(RequestPart)
    }

    /// The parts of a guest request, and the rules about them, an error can concern.
    public enum RequestPart: String, Sendable, Hashable, CaseIterable {
        /// No part was named at all.
        case parts
        /// A GPU target (one that is not a GPU, or a GPU named as a plain hostdev).
        case gpu
        /// A plain hostdev target.
        case hostdev
        /// A ROM given without the GPU it is for.
        case rom
        /// The number of vCPUs to pin.
        case vcpus
        /// The evdev devices.
        case evdev
        /// A hook with nothing to do.
        case hook
        /// Something that needs pinned vCPUs first.
        case pin
        /// Something that needs the GPU in the guest first.
        case gpuMissing = "gpu-missing"
        /// A mediated device the host lacks.
        case mdev
        /// A mediated device named twice, or already in the guest.
        case mdevTwice = "mdev-twice"
        /// A mediated device type no parent offers, or has no instance left of.
        case mdevType = "mdev-type"
        /// A mediated device another guest uses.
        case mdevUsed = "mdev-used"
        /// A mediated device type several parents offer.
        case mdevAmbiguous = "mdev-ambiguous"
        /// A mediated device whose API is not vfio-pci.
        case mdevAPI = "mdev-api"
        /// A display asked of a mediated device type that has none.
        case mdevDisplay = "mdev-display"
        /// A mediated device libvirt does not know.
        case mdevLibvirt = "mdev-libvirt"
    }

    /// Creates an error from its parts.
    public init(code: Code, message: String, cause: (any Error & Sendable)? = nil, object: Object? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
        self.object = object
    }

    /// The one-line message.
    public var description: String { message }
}

extension DevicesError {
    /// The code that fits an errno value.
    static func code(for errno: Errno) -> Code {
        switch errno {
        case .noSuchFileOrDirectory, .notDirectory, .operationNotSupportedByDevice, .noSuchAddressOrDevice: .notFound
        case .permissionDenied, .notPermitted, .readOnlyFileSystem: .permissionDenied
        case .resourceBusy: .conflict
        case .timedOut: .timeout
        case .invalidArgument: .invalidArgument
        default: .io
        }
    }

    /// A human hint for an errno value, appended to messages.
    static func hint(for errno: Errno) -> String {
        switch errno {
        case .permissionDenied, .notPermitted: "permission denied (run as root)"
        case .noSuchFileOrDirectory: "no such file or directory"
        case .readOnlyFileSystem: "read-only file system"
        case .resourceBusy: "device or resource busy"
        default: "\(errno)"
        }
    }

    /// Reading `path` failed with `errno`.
    public static func read(_ path: FilePath, _ errno: Errno) -> DevicesError {
        DevicesError(code: code(for: errno), message: "cannot read \(path): \(hint(for: errno))", cause: errno)
    }

    /// Writing `path` failed with `errno`.
    public static func write(_ path: FilePath, _ errno: Errno) -> DevicesError {
        DevicesError(code: code(for: errno), message: "cannot write \(path): \(hint(for: errno))", cause: errno)
    }
}
