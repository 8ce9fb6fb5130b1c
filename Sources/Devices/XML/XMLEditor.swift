/// An element to write: a name, attributes in order, and either child elements or text.
public struct XMLFragment: Sendable, Hashable {
    /// One attribute.
    public struct Attribute: Sendable, Hashable {
        /// Its name, with a prefix if any.
        public var name: String
        /// Its value, unescaped.
        public var value: String
    }

    /// The name as written, with a prefix if any.
    public var name: String
    /// Attributes in the order they are written.
    public var attributes: [Attribute]
    /// Child elements.
    public var children: [XMLFragment]
    /// Text content (used when there are no children).
    public var text: String?

    /// Creates an element from `(name, value)` pairs; a nil value leaves the attribute out.
    public init(
        _ name: String, _ attributes: KeyValuePairs<String, String?> = [:], text: String? = nil,
        children: [XMLFragment] = []
    ) {
        self.name = name
        self.attributes = attributes.compactMap { pair in pair.value.map { Attribute(name: pair.key, value: $0) } }
        self.text = text
        self.children = children
    }

    /// The value of an attribute.
    public func attribute(_ name: String) -> String? { attributes.first { $0.name == name }?.value }

    /// The element as text: the first line unindented, the following lines indented by `indent` plus `unit` per
    /// level, attribute values in `quote`s, lines ended by `newline`.
    public func render(indent: String, unit: String, quote: Character, newline: String = "\n") -> String {
        var tag = "<" + name
        for attribute in attributes {
            // A value holding the document's quote is written in the other one, as people write JSON arguments.
            let other: Character = quote == "'" ? "\"" : "'"
            let mark = attribute.value.contains(quote) && !attribute.value.contains(other) ? other : quote
            tag += " \(attribute.name)=\(mark)\(Self.escape(attribute.value, quote: mark))\(mark)"
        }
        if children.isEmpty {
            guard let text else { return tag + "/>" }
            return tag + ">" + Self.escape(text, quote: nil) + "</\(name)>"
        }
        var lines = tag + ">"
        for child in children {
            lines +=
                newline + indent + unit
                + child.render(indent: indent + unit, unit: unit, quote: quote, newline: newline)
        }
        return lines + newline + indent + "</\(name)>"
    }

    /// Escapes `&`, `<`, `>` and, in attribute values, the quote character.
    static func escape(_ text: String, quote: Character?) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            // A parser reads a raw carriage return as a line feed: written as a reference it survives.
            case "\r": result += "&#13;"
            case "\r\n": result += "&#13;\n"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "'" where quote == "'": result += "&apos;"
            case "\"" where quote == "\"": result += "&quot;"
            default: result.append(character)
            }
        }
        return result
    }
}

/// Edits a document by splicing text into its original bytes: everything not edited stays byte for byte, and
/// new elements take the indentation of their siblings and the document's quote style.
public struct XMLEditor: Sendable {
    /// The document being edited.
    public let document: XMLDocument
    /// One indentation level, as the document uses it.
    public let unit: String
    /// The quote character the document uses for attribute values.
    public let quote: Character
    /// The line ending the document uses: `\r\n` when its first line ends so, else `\n`.
    public let newline: String

    private struct Edit: Sendable {
        var range: Range<Int>
        var text: [UInt8]
        var order: Int
    }

    private var edits: [Edit] = []
    private var closedParents: Set<Int> = []
    private var removedStarts: Set<Int> = []
    private var coveringRanges: [Range<Int>] = []

    /// Starts editing `document`.
    public init(_ document: XMLDocument) {
        self.document = document
        let bytes = document.bytes
        // The indentation of the root's first child is one level; the first attribute's quote is the style.
        var unit = "  "
        if let first = document.root.children.first,
            let indent = Self.indentation(bytes, at: first.startTag.lowerBound),
            !indent.isEmpty
        {
            unit = indent
        }
        self.unit = unit
        var quote: Character = "'"
        let tag = document.root.startTag
        if let equals = bytes[tag].firstIndex(of: UInt8(ascii: "=")), equals + 1 < tag.upperBound {
            if bytes[equals + 1] == UInt8(ascii: "\"") { quote = "\"" }
        }
        self.quote = quote
        let firstBreak = bytes.firstIndex(of: 0x0A)
        newline = firstBreak.map { $0 > 0 && bytes[$0 - 1] == 0x0D } == true ? "\r\n" : "\n"
    }

    /// Whether anything was changed.
    public var isEmpty: Bool { edits.isEmpty }

    /// The white space before `offset` on its line, or nil when other text precedes it there.
    static func indentation(_ bytes: [UInt8], at offset: Int) -> String? {
        var index = offset
        while index > 0 {
            let byte = bytes[index - 1]
            if byte == UInt8(ascii: "\n") { break }
            guard byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") else { return nil }
            index -= 1
        }
        return String(decoding: bytes[index..<offset], as: UTF8.self)
    }

    /// The indentation of an element's start tag, or nil.
    public func indentation(of element: XMLElement) -> String? {
        Self.indentation(document.bytes, at: element.startTag.lowerBound)
    }

    /// The indentation children of `parent` have (or would have).
    public func childIndentation(of parent: XMLElement) -> String {
        if let first = parent.children.first, let indent = indentation(of: first) { return indent }
        return (indentation(of: parent) ?? "") + unit
    }

    private mutating func add(_ range: Range<Int>, _ text: String) {
        // An edit inside what is already removed or replaced is moot.
        let covered = coveringRanges.contains { outer in
            outer.lowerBound <= range.lowerBound && range.upperBound <= outer.upperBound
                && !(range.isEmpty && (range.lowerBound == outer.lowerBound || range.lowerBound == outer.upperBound))
        }
        guard !covered else { return }
        edits.append(Edit(range: range, text: Array(text.utf8), order: edits.count))
    }

    /// Replaces a range and everything edited inside it.
    private mutating func cover(_ range: Range<Int>, with text: String) {
        edits.removeAll { edit in
            range.lowerBound <= edit.range.lowerBound && edit.range.upperBound <= range.upperBound
                && !(edit.range.isEmpty
                    && (edit.range.lowerBound == range.lowerBound || edit.range.lowerBound == range.upperBound))
        }
        add(range, text)
        coveringRanges.append(range)
    }

    /// Replaces an element with a fragment, unless it already reads exactly so.
    /// - Returns: whether anything changed.
    @discardableResult
    public mutating func replace(_ element: XMLElement, with fragment: XMLFragment) -> Bool {
        let indent = indentation(of: element) ?? ""
        let text = fragment.render(indent: indent, unit: unit, quote: quote, newline: newline)
        guard document.text(element.range) != text else { return false }
        cover(element.range, with: text)
        return true
    }

    /// Replaces an element with text exactly as given (an earlier version of it); edits inside it are dropped.
    public mutating func replace(_ element: XMLElement, withText text: String) {
        cover(element.range, with: text)
    }

    /// Inserts a fragment into `parent`: right after `sibling` when given, else as its last child.
    public mutating func insert(_ fragment: XMLFragment, into parent: XMLElement, after sibling: XMLElement? = nil) {
        let indent = childIndentation(of: parent)
        let text = newline + indent + fragment.render(indent: indent, unit: unit, quote: quote, newline: newline)
        if let sibling {
            add(sibling.range.upperBound..<sibling.range.upperBound, text)
            return
        }
        if let last = parent.children.last {
            add(last.range.upperBound..<last.range.upperBound, text)
            return
        }
        let parentIndent = indentation(of: parent) ?? ""
        let bytes = document.bytes
        if let content = parent.content {
            // After whatever text or comments the element holds, before the white space that ends it.
            var point = content.upperBound
            while point > content.lowerBound, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[point - 1]) { point -= 1 }
            add(point..<point, text)
            // An element with no line break before its end tag gets one, once.
            if !bytes[point..<content.upperBound].contains(0x0A), !closedParents.contains(point) {
                closedParents.insert(point)
                edits.append(
                    Edit(
                        range: content.upperBound..<content.upperBound, text: Array((newline + parentIndent).utf8),
                        order: Int.max / 2))
            }
            return
        }
        // A self-closing parent (`<devices/>`) opens, takes the child, and closes on its own line.
        let tag = parent.startTag
        var slash = tag.upperBound - 2
        while slash > tag.lowerBound, bytes[slash - 1] == 0x20 || bytes[slash - 1] == 0x09 { slash -= 1 }
        if !closedParents.contains(tag.lowerBound) {
            closedParents.insert(tag.lowerBound)
            add(slash..<tag.upperBound, ">")
            edits.append(
                Edit(
                    range: tag.upperBound..<tag.upperBound,
                    text: Array((newline + parentIndent + "</\(parent.qualifiedName)>").utf8), order: Int.max / 2))
        }
        add(tag.upperBound..<tag.upperBound, text)
    }

    /// Inserts a fragment right before `element`, on a line of its own indented by `indent`.
    public mutating func insertBefore(_ fragment: XMLFragment, element: XMLElement, indent: String) {
        let point = element.startTag.lowerBound
        add(
            point..<point,
            fragment.render(indent: indent, unit: unit, quote: quote, newline: newline) + newline + indent)
    }

    /// Removes an element; when it stands on lines of its own, the lines go too.
    public mutating func remove(_ element: XMLElement) {
        let bytes = document.bytes
        var range = element.range
        if let indent = indentation(of: element) {
            var end = range.upperBound
            while end < bytes.count, bytes[end] == 0x20 || bytes[end] == 0x09 { end += 1 }
            let lineEnd = end < bytes.count && bytes[end] == 0x0D && end + 1 < bytes.count && bytes[end + 1] == 0x0A
            // Alone on its line, the whole line goes; with more after it on its line (a document written on one
            // line, where an insertion starts a line of its own before the element) only what comes before it.
            let alone = end == bytes.count || bytes[end] == 0x0A || lineEnd
            if !alone { end = range.upperBound }
            // Take the line break before the element (CR LF or LF), so the previous line keeps its own ending.
            let start = range.lowerBound - indent.utf8.count
            if start > 1, bytes[start - 1] == 0x0A, bytes[start - 2] == 0x0D {
                range = (start - 2)..<end
            } else if start > 0, bytes[start - 1] == 0x0A {
                range = (start - 1)..<end
            } else if alone {
                range = start..<min(end + (lineEnd ? 2 : 1), bytes.count)
            }
        }
        guard !isRemoved(element) else { return }
        cover(range, with: "")
        removedStarts.insert(element.startTag.lowerBound)
    }

    /// Whether `element` was removed.
    public func isRemoved(_ element: XMLElement) -> Bool { removedStarts.contains(element.startTag.lowerBound) }

    /// Adds an attribute at the end of an element's start tag, unless the element already has it.
    public mutating func addAttribute(_ name: String, _ value: String, to element: XMLElement) {
        guard element.attribute(name) == nil else { return }
        let bytes = document.bytes
        var point = element.startTag.upperBound - 1
        if bytes[point - 1] == UInt8(ascii: "/") { point -= 1 }
        while bytes[point - 1] == 0x20 || bytes[point - 1] == 0x09 || bytes[point - 1] == 0x0A { point -= 1 }
        add(point..<point, " \(name)=\(quote)\(XMLFragment.escape(value, quote: quote))\(quote)")
    }

    /// Removes an attribute (with the white space before it) from an element's start tag.
    public mutating func removeAttribute(_ name: String, from element: XMLElement) {
        let bytes = document.bytes
        let tag = Array(bytes[element.startTag])
        let needle = Array(name.utf8)
        var index = 1
        while index + needle.count < tag.count {
            if Array(tag[index..<(index + needle.count)]) == needle,
                tag[index - 1] == 0x20 || tag[index - 1] == 0x09
                    || tag[index - 1] == 0x0A, index + needle.count < tag.count
            {
                var cursor = index + needle.count
                while cursor < tag.count, tag[cursor] == 0x20 { cursor += 1 }
                if cursor < tag.count, tag[cursor] == UInt8(ascii: "=") {
                    cursor += 1
                    while cursor < tag.count, tag[cursor] == 0x20 { cursor += 1 }
                    guard cursor < tag.count else { return }
                    let quoteByte = tag[cursor]
                    var close = cursor + 1
                    while close < tag.count, tag[close] != quoteByte { close += 1 }
                    var start = index
                    while start > 0, tag[start - 1] == 0x20 || tag[start - 1] == 0x09 || tag[start - 1] == 0x0A {
                        start -= 1
                    }
                    let base = element.startTag.lowerBound
                    add((base + start)..<(base + close + 1), "")
                    return
                }
            }
            index += 1
        }
    }

    /// The edited bytes.
    public func result() -> [UInt8] {
        var bytes = document.bytes
        // From the end backwards, so earlier offsets stay valid. At one offset, a replacement or removal goes
        // first and insertions after it, the one asked for first ending up first.
        let ordered = edits.sorted {
            if $0.range.lowerBound != $1.range.lowerBound { return $0.range.lowerBound > $1.range.lowerBound }
            if $0.range.isEmpty != $1.range.isEmpty { return !$0.range.isEmpty }
            return $0.order > $1.order
        }
        // A file with CRLF line endings keeps them: new lines get the same ending as the old ones.
        let crlf = Self.usesCRLF(document.bytes)
        for edit in ordered { bytes.replaceSubrange(edit.range, with: crlf ? Self.crlf(edit.text) : edit.text) }
        return bytes
    }

    /// Whether the first line of `bytes` ends with CR LF.
    static func usesCRLF(_ bytes: [UInt8]) -> Bool {
        guard let newline = bytes.firstIndex(of: 0x0A) else { return false }
        return newline > 0 && bytes[newline - 1] == 0x0D
    }

    /// `text` with every LF that has no CR before it made CR LF.
    static func crlf(_ text: [UInt8]) -> [UInt8] {
        guard text.contains(0x0A) else { return text }
        var result: [UInt8] = []
        result.reserveCapacity(text.count + 8)
        for (index, byte) in text.enumerated() {
            if byte == 0x0A, index == 0 || text[index - 1] != 0x0D { result.append(0x0D) }
            result.append(byte)
        }
        return result
    }
}
