/// A unified diff of two texts, line by line (Myers' algorithm on the lines between the common prefix and
/// suffix), as `diff -u` prints it.
public enum UnifiedDiff {
    private enum Line: Equatable {
        case same(Int, Int)
        case removed(Int)
        case added(Int)
    }

    /// The diff of `old` and `new` with `context` lines around each change; empty when they are equal.
    public static func make(
        old: [UInt8], new: [UInt8], oldName: String, newName: String, context: Int = 3
    ) -> String {
        let a = lines(old)
        let b = lines(new)
        guard a != b else { return "" }
        var prefix = 0
        while prefix < a.count, prefix < b.count, a[prefix] == b[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < a.count - prefix, suffix < b.count - prefix, a[a.count - 1 - suffix] == b[b.count - 1 - suffix] {
            suffix += 1
        }
        var script: [Line] = (0..<prefix).map { .same($0, $0) }
        script += middle(Array(a[prefix..<(a.count - suffix)]), Array(b[prefix..<(b.count - suffix)]), offset: prefix)
        script += (0..<suffix).map { .same(a.count - suffix + $0, b.count - suffix + $0) }
        return render(script, a: a, b: b, oldName: oldName, newName: newName, context: context)
    }

    /// Splits into lines, each keeping whether it ended with a newline.
    private static func lines(_ bytes: [UInt8]) -> [String] {
        var result: [String] = []
        var start = 0
        for index in bytes.indices where bytes[index] == 0x0A {
            result.append(String(decoding: bytes[start..<index], as: UTF8.self))
            start = index + 1
        }
        if start < bytes.count {
            result.append(String(decoding: bytes[start...], as: UTF8.self) + "\n\\ No newline at end of file")
        }
        return result
    }

    /// Myers' shortest edit script between `a` and `b`, whose first lines are line `offset` of both texts.
    private static func middle(_ a: [String], _ b: [String], offset: Int) -> [Line] {
        let n = a.count
        let m = b.count
        if n == 0 { return (0..<m).map { .added(offset + $0) } }
        if m == 0 { return (0..<n).map { .removed(offset + $0) } }
        let maximum = n + m
        var v = [Int](repeating: 0, count: 2 * maximum + 2)
        var trace: [[Int]] = []
        search: for d in 0...maximum {
            trace.append(v)
            for k in stride(from: -d, through: d, by: 2) {
                var x =
                    (k == -d || (k != d && v[maximum + k - 1] < v[maximum + k + 1]))
                    ? v[maximum + k + 1] : v[maximum + k - 1] + 1
                var y = x - k
                while x < n, y < m, a[x] == b[y] {
                    x += 1
                    y += 1
                }
                v[maximum + k] = x
                if x >= n, y >= m { break search }
            }
        }
        // Walk the trace back from the end.
        var script: [Line] = []
        var x = n
        var y = m
        for d in stride(from: trace.count - 1, through: 0, by: -1) {
            let v = trace[d]
            let k = x - y
            let previousK = (k == -d || (k != d && v[maximum + k - 1] < v[maximum + k + 1])) ? k + 1 : k - 1
            let previousX = v[maximum + previousK]
            let previousY = previousX - previousK
            while x > previousX, y > previousY {
                x -= 1
                y -= 1
                script.append(.same(offset + x, offset + y))
            }
            if d > 0 {
                if x == previousX {
                    script.append(.added(offset + previousY))
                } else {
                    script.append(.removed(offset + previousX))
                }
            }
            x = previousX
            y = previousY
        }
        return script.reversed()
    }

    private static func render(
        _ script: [Line], a: [String], b: [String], oldName: String, newName: String, context: Int
    ) -> String {
        var out = "--- \(oldName)\n+++ \(newName)\n"
        let changes = script.indices.filter { if case .same = script[$0] { false } else { true } }
        var index = 0
        while index < changes.count {
            // A hunk spans changes closer than 2 × context lines to each other.
            var last = index
            while last + 1 < changes.count, changes[last + 1] - changes[last] <= 2 * context { last += 1 }
            let start = max(0, changes[index] - context)
            let end = min(script.count, changes[last] + context + 1)
            var oldStart = 0
            var newStart = 0
            var oldCount = 0
            var newCount = 0
            var body = ""
            var seenOld = false
            var seenNew = false
            for entry in script[start..<end] {
                switch entry {
                case .same(let i, let j):
                    if !seenOld {
                        oldStart = i + 1
                        seenOld = true
                    }
                    if !seenNew {
                        newStart = j + 1
                        seenNew = true
                    }
                    oldCount += 1
                    newCount += 1
                    body += " " + a[i] + "\n"
                case .removed(let i):
                    if !seenOld {
                        oldStart = i + 1
                        seenOld = true
                    }
                    oldCount += 1
                    body += "-" + a[i] + "\n"
                case .added(let j):
                    if !seenNew {
                        newStart = j + 1
                        seenNew = true
                    }
                    newCount += 1
                    body += "+" + b[j] + "\n"
                }
            }
            // diff -u numbers an empty side by the line before it.
            if !seenOld { oldStart = position(before: start, in: script, old: true) }
            if !seenNew { newStart = position(before: start, in: script, old: false) }
            out += "@@ -\(range(oldStart, oldCount)) +\(range(newStart, newCount)) @@\n" + body
            index = last + 1
        }
        return out
    }

    private static func position(before index: Int, in script: [Line], old: Bool) -> Int {
        var count = 0
        for entry in script[..<index] {
            switch entry {
            case .same: count += 1
            case .removed: if old { count += 1 }
            case .added: if !old { count += 1 }
            }
        }
        return count
    }

    private static func range(_ start: Int, _ count: Int) -> String {
        count == 1 ? "\(start)" : "\(count == 0 ? start : start),\(count)"
    }
}
