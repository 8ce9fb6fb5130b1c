import Glibc
import SystemPackage

/// The root directory under which every host path (/sys, /dev, /proc, /etc, /run) is resolved.
///
/// On a real host it is `/`; tests point it at a fake host tree in a temporary folder.
public struct Sysroot: Sendable, Hashable, CustomStringConvertible {
    /// The root directory.
    public let root: FilePath

    /// The real host's root, `/`.
    public static let host = Sysroot(FilePath("/"))

    /// Creates a sysroot at `root`, made absolute and lexically normal.
    public init(_ root: FilePath) {
        var root = root
        if !root.isAbsolute {
            root = Sysroot.currentDirectory().pushing(root)
        }
        self.root = root.lexicallyNormalized()
    }

    /// Whether this is the real host's root.
    public var isHostRoot: Bool { root == FilePath("/") }

    /// The location of a host path under this root; an absolute `path` never escapes the root.
    public func path(_ absolute: FilePath) -> FilePath {
        // Resolved here rather than with `lexicallyResolving`, which traps on some climbing paths
        // (`/sys/../../../etc`); a path that climbs above the root lands on the root.
        var kept: [FilePath.Component] = []
        for component in absolute.components {
            switch component.kind {
            case .currentDirectory:
                continue
            case .parentDirectory:
                guard !kept.isEmpty else { return root }
                kept.removeLast()
            case .regular:
                kept.append(component)
            }
        }
        return root.appending(kept)
    }

    /// The root as a string.
    public var description: String { root.string }

    /// The working directory (`/` when it cannot be read).
    static func currentDirectory() -> FilePath {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return FilePath("/") }
        return FilePath(platformString: buffer)
    }
}
