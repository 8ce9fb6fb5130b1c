import Foundation

/// One entry of a fake host's tree, as a snapshot records it.
public enum TreeEntry: Sendable, Hashable {
    /// A regular file and its bytes.
    case file([UInt8])
    /// A folder.
    case directory
    /// A symbolic link and its target.
    case link(String)
}

extension FakeHost {
    /// Every entry of the tree (files with their bytes, folders, links), keyed by host path.
    public func snapshot() throws -> [String: TreeEntry] {
        var entries: [String: TreeEntry] = [:]
        func walk(_ hostPath: String) throws {
            let full = root + hostPath
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: full) {
                entries[hostPath] = .link(target)
                return
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) else { return }
            if isDirectory.boolValue {
                entries[hostPath.isEmpty ? "/" : hostPath] = .directory
                for name in try FileManager.default.contentsOfDirectory(atPath: full) {
                    try walk(hostPath + "/" + name)
                }
            } else {
                entries[hostPath] = .file(Array(try Data(contentsOf: URL(fileURLWithPath: full))))
            }
        }
        try walk("")
        return entries
    }

    /// The host paths whose entry differs between two snapshots (added, removed or changed), sorted.
    ///
    /// The folder `/run/vfioctl` itself is the host lock's and stays once made (removing it while another run
    /// waits on it would split the lock); anything inside it still counts.
    public static func differences(_ before: [String: TreeEntry], _ after: [String: TreeEntry]) -> [String] {
        Set(before.keys).union(after.keys).filter { before[$0] != after[$0] && $0 != "/run/vfioctl" }.sorted()
    }
}
