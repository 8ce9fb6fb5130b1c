import SystemPackage

/// The host's CPUs as pinning needs them: cores (hyper-thread siblings) grouped by the L3 cache they share.
public struct HostTopology: Sendable, Hashable {
    /// One physical core: its logical CPUs, lowest first.
    public struct Core: Sendable, Hashable {
        /// Logical CPU numbers.
        public var threads: [Int]
    }

    /// Cores that share one L3 cache (a CCD or CCX on AMD, the whole die on most Intel CPUs).
    public struct CacheGroup: Sendable, Hashable {
        /// Its cores, in CPU order.
        public var cores: [Core]
        /// The L3 size in KiB, when known.
        public var sizeKiB: Int?
        /// Every logical CPU of the group.
        public var threads: [Int] { cores.flatMap(\.threads) }
    }

    /// The L3 groups, in CPU order.
    public var groups: [CacheGroup]
    /// Threads per core (1 without SMT).
    public var threadsPerCore: Int
    /// `intel`, `amd`, or another vendor.
    public var cpuVendor: String?

    /// Every core.
    public var cores: [Core] { groups.flatMap(\.cores) }
}

extension Host {
    /// Reads the CPU topology from sysfs: `topology/thread_siblings_list` and `cache/index3/shared_cpu_list`.
    /// - Throws: `DevicesError` when the CPU directory cannot be read.
    public func topology() throws -> HostTopology {
        let files = self.files
        let root = files.path(HostPaths.cpus)
        guard let names = try files.list(root) else {
            throw DevicesError(code: .notFound, message: "no CPU topology at \(HostPaths.cpus)")
        }
        let cpus = names.compactMap { name -> Int? in
            guard name.hasPrefix("cpu") else { return nil }
            return Int(name.dropFirst(3))
        }.sorted()
        var coreOf: [Int: [Int]] = [:]
        var cacheOf: [Int: [Int]] = [:]
        var cacheSize: [[Int]: Int] = [:]
        for cpu in cpus {
            let directory = HostPaths.cpus.appending("cpu\(cpu)")
            // An offline CPU has no topology directory.
            guard let siblings = try files.readText(files.path(directory.appending("topology/thread_siblings_list")))
            else { continue }
            coreOf[cpu] = CPUList.parse(siblings) ?? [cpu]
            if let shared = try files.readText(files.path(directory.appending("cache/index3/shared_cpu_list"))) {
                let list = CPUList.parse(shared) ?? [cpu]
                cacheOf[cpu] = list
                if let size = try files.readText(files.path(directory.appending("cache/index3/size"))) {
                    cacheSize[list] = Int(size.filter(\.isNumber)).map { size.hasSuffix("M") ? $0 * 1024 : $0 }
                }
            }
        }
        guard !coreOf.isEmpty else {
            throw DevicesError(
                code: .notFound, message: "no CPU topology under \(HostPaths.cpus) (thread_siblings_list missing)")
        }
        var seenCores: Set<[Int]> = []
        var cores: [HostTopology.Core] = []
        for (_, siblings) in coreOf.sorted(by: { $0.key < $1.key }) {
            let threads = siblings.filter { coreOf[$0] != nil }.sorted()
            guard !seenCores.contains(threads) else { continue }
            seenCores.insert(threads)
            cores.append(HostTopology.Core(threads: threads))
        }
        var groups: [HostTopology.CacheGroup] = []
        var groupIndex: [[Int]: Int] = [:]
        for core in cores {
            let key = cacheOf[core.threads[0]] ?? coreOf.keys.sorted()
            if let index = groupIndex[key] {
                groups[index].cores.append(core)
            } else {
                groupIndex[key] = groups.count
                groups.append(HostTopology.CacheGroup(cores: [core], sizeKiB: cacheSize[key]))
            }
        }
        let threadsPerCore = cores.map(\.threads.count).max() ?? 1
        let vendor = try CPUInfo(files: files).vendor
        return HostTopology(groups: groups, threadsPerCore: threadsPerCore, cpuVendor: vendor)
    }
}

/// The kernel's CPU list syntax: `0-3,8-11`, and libvirt's cpuset form of a list.
public enum CPUList {
    /// Parses `0-3,8,10-11`; nil when malformed.
    public static func parse(_ text: String) -> [Int]? {
        var result: [Int] = []
        for part in text.trimmingWhitespace().split(separator: ",") {
            let bounds = part.split(separator: "-")
            if bounds.count == 1, let value = Int(bounds[0]) {
                result.append(value)
            } else if bounds.count == 2, let low = Int(bounds[0]), let high = Int(bounds[1]), low <= high {
                result += Array(low...high)
            } else {
                return nil
            }
        }
        return result.isEmpty ? nil : result
    }

    /// Formats CPUs as ranges: `[0, 1, 2, 8]` → `0-2,8`.
    public static func format(_ cpus: [Int]) -> String {
        let sorted = Array(Set(cpus)).sorted()
        var parts: [String] = []
        var index = 0
        while index < sorted.count {
            var end = index
            while end + 1 < sorted.count, sorted[end + 1] == sorted[end] + 1 { end += 1 }
            parts.append(end == index ? "\(sorted[index])" : "\(sorted[index])-\(sorted[end])")
            index = end + 1
        }
        return parts.joined(separator: ",")
    }
}

/// Which host CPUs a guest gets and which stay with the host.
public struct PinningPlan: Sendable, Hashable {
    /// vCPU n runs on host CPU `vcpus[n]`; siblings are adjacent so the guest sees real SMT pairs.
    public var vcpus: [Int]
    /// CPUs the emulator and I/O threads run on.
    public var emulator: [Int]
    /// CPUs left to the host.
    public var host: [Int]
    /// Guest threads per core.
    public var threadsPerCore: Int
    /// Why this choice, one line each.
    public var notes: [String]

    /// Plans pinning: the host keeps core 0 and one more core (or only core 0 on small CPUs); the guest takes
    /// whole cores from one L3 group when it fits (the largest cache first: the V-Cache CCD on X3D parts).
    /// - Parameters:
    ///   - topology: the host's CPUs.
    ///   - wanted: the number of vCPUs; nil takes every core of the chosen group the host does not keep.
    /// - Throws: `DevicesError` when the request cannot fit.
    public init(topology: HostTopology, vcpus wanted: Int?) throws {
        let cores = topology.cores
        guard cores.count >= 2 else {
            throw DevicesError(
                code: .unavailable, message: "the host has one CPU core: nothing to pin a guest to while the host runs")
        }
        let threads = topology.threadsPerCore
        // The host keeps the core with CPU 0 and, from 4 cores up, the next core of the same cache group.
        var hostCores = [cores[0]]
        if cores.count >= 4, let group = topology.groups.first(where: { $0.cores.contains(cores[0]) }),
            group.cores.count > 1
        {
            hostCores.append(group.cores[1])
        }
        let hostSet = Set(hostCores.flatMap(\.threads))
        var notes: [String] = []
        let available = topology.groups.map { group in
            (group: group, cores: group.cores.filter { !$0.threads.contains(where: hostSet.contains) })
        }
        let totalThreads = available.flatMap(\.cores).flatMap(\.threads).count
        if let wanted {
            guard wanted >= 1 else {
                throw DevicesError(
                    code: .invalidArgument, message: "the vCPU count must be 1 or more, not \(wanted)",
                    object: .request(.vcpus))
            }
            guard wanted <= totalThreads else {
                throw DevicesError(
                    code: .invalidArgument,
                    message: "\(wanted) vCPUs are more than the \(totalThreads) CPUs left after the host keeps "
                        + CPUList.format(Array(hostSet)), object: .request(.vcpus))
            }
        }
        // The group with the largest cache (then the most free cores) that holds the request.
        let ranked = available.sorted {
            ($0.group.sizeKiB ?? 0, $0.cores.count) > ($1.group.sizeKiB ?? 0, $1.cores.count)
        }
        var chosenCores: [HostTopology.Core]
        if let wanted, let fit = ranked.first(where: { $0.cores.flatMap(\.threads).count >= wanted }) {
            chosenCores = fit.cores
            if topology.groups.count > 1 {
                notes.append("the guest stays inside one L3 cache group (\(CPUList.format(fit.group.threads)))")
            }
        } else if wanted == nil, let best = ranked.first, !best.cores.isEmpty {
            chosenCores = best.cores
            if topology.groups.count > 1 {
                notes.append(
                    "the guest takes the free cores of one L3 cache group (\(CPUList.format(best.group.threads)))"
                        + (best.group.sizeKiB.map { ", \($0 / 1024) MiB L3" } ?? ""))
            }
        } else {
            chosenCores = ranked.flatMap(\.cores)
            notes.append("no single L3 cache group holds \(wanted ?? 0) vCPUs: the guest spans several")
        }
        var order = chosenCores.flatMap(\.threads)
        if let wanted {
            // Whole cores first; an odd request leaves the last core half used.
            order = Array(order.prefix(wanted))
        }
        vcpus = order
        threadsPerCore = (order.count % threads == 0 && threads > 1) ? threads : 1
        emulator = hostCores.count > 1 ? hostCores[1].threads : hostCores[0].threads
        host = Array(hostSet).sorted()
        self.notes = notes
    }
}
