import CXML

/// One element of a parsed document: its name, attributes, children, and where its tags sit in the original
/// bytes, so that edits can be spliced in without re-serialising anything else.
public struct XMLElement: Sendable, Hashable {
    /// The local name (`hostdev`, `commandline`).
    public var name: String
    /// The namespace prefix as written (`qemu`), or nil.
    public var prefix: String?
    /// The namespace URI, or nil.
    public var namespace: String?
    /// Attributes in document order, values unescaped.
    public var attributes: [(name: String, value: String)]
    /// Child elements in document order.
    public var children: [XMLElement]
    /// The text directly inside the element (not its children's), unescaped: `16777216` for `<memory>`.
    public var text: String
    /// The start tag, `<` through `>` (or `/>`).
    public var startTag: Range<Int>
    /// The end tag, `</` through `>`; nil for a self-closing element.
    public var endTag: Range<Int>?
    /// The line of the start tag (1-based).
    public var line: Int

    /// The whole element, start tag through end tag.
    public var range: Range<Int> { startTag.lowerBound..<(endTag?.upperBound ?? startTag.upperBound) }
    /// Between the tags; nil for a self-closing element.
    public var content: Range<Int>? { endTag.map { startTag.upperBound..<$0.lowerBound } }
    /// The name as written, with its prefix.
    public var qualifiedName: String { prefix.map { "\($0):\(name)" } ?? name }

    /// The value of an attribute without a namespace.
    public func attribute(_ name: String) -> String? {
        attributes.first { $0.name == name }?.value
    }

    /// The first child with this local name (and prefix, when given).
    public func child(_ name: String, prefix: String? = nil) -> XMLElement? {
        children.first { $0.name == name && (prefix == nil || $0.prefix == prefix) }
    }

    /// Every child with this local name (and prefix, when given).
    public func children(_ name: String, prefix: String? = nil) -> [XMLElement] {
        children.filter { $0.name == name && (prefix == nil || $0.prefix == prefix) }
    }

    /// Compares names, positions and attributes.
    public static func == (lhs: XMLElement, rhs: XMLElement) -> Bool {
        lhs.range == rhs.range && lhs.qualifiedName == rhs.qualifiedName
            && lhs.attributes.map(\.name) == rhs.attributes.map(\.name)
            && lhs.attributes.map(\.value) == rhs.attributes.map(\.value) && lhs.children == rhs.children
    }

    /// Hashes the position and name.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(range.lowerBound)
        hasher.combine(range.upperBound)
        hasher.combine(qualifiedName)
    }
}

/// A well-formed XML document as bytes plus an element tree with the byte ranges of every tag, parsed by
/// libxml2.
public struct XMLDocument: Sendable {
    /// The document's bytes, exactly as read.
    public let bytes: [UInt8]
    /// The root element.
    public let root: XMLElement

    /// Parses `bytes`.
    /// - Parameters:
    ///   - bytes: the document.
    ///   - source: the name used in error messages (a file path).
    /// - Throws: `DevicesError` (`.invalidData`) with `source:line:column: message` for anything that is not
    ///   well-formed XML, including an empty or truncated file.
    public init(bytes: [UInt8], source: String) throws {
        self.bytes = bytes
        guard !bytes.isEmpty else {
            throw DevicesError(code: .invalidData, message: "\(source): empty file, not XML")
        }
        guard bytes.count < Int(Int32.max) else {
            throw DevicesError(code: .invalidData, message: "\(source): too large for an XML domain definition")
        }
        let api = try XMLLibrary.load()
        var state = cxml_state()
        defer { cxml_state_free(&state) }
        let document = try Self.parseTree(bytes, source: source, api: api, state: &state)
        defer { api.pointee.freeDoc(document) }
        var starts: [UnsafeMutableRawPointer: Int] = [:]
        var ends: [UnsafeMutableRawPointer: Int] = [:]
        for index in 0..<state.count {
            let mark = state.marks[index]
            guard let node = mark.node else { continue }
            if mark.isEnd != 0 {
                ends[UnsafeMutableRawPointer(node)] = mark.offset
            } else {
                starts[UnsafeMutableRawPointer(node)] = mark.offset
            }
        }
        guard let rootNode = api.pointee.docGetRootElement(document) else {
            throw DevicesError(code: .invalidData, message: "\(source): no root element")
        }
        let builder = TreeBuilder(api: api, bytes: bytes, starts: starts, ends: ends, source: source)
        root = try builder.element(rootNode)
    }

    /// Parses bytes into libxml2's tree, recording tag offsets in `state`.
    /// - Throws: `DevicesError` with `source:line:column: message` for XML that is not well-formed.
    static func parseTree(
        _ bytes: [UInt8], source: String, api: UnsafeMutablePointer<cxml_api>, state: inout cxml_state
    ) throws -> xmlDocPtr {
        let document = bytes.withUnsafeBytes { raw in
            cxml_parse(api, raw.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(raw.count), &state)
        }
        guard let document else {
            let message = withUnsafeBytes(of: &state.message) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if state.refused != 0 {
                throw DevicesError(
                    code: .invalidData,
                    message: "\(source):\(state.line): \(message): domain XML never needs one (remove the DOCTYPE)")
            }
            throw DevicesError(
                code: .invalidData, message: "\(source):\(state.line):\(state.column): \(message) (not well-formed XML)"
            )
        }
        return document
    }

    /// The text of a byte range.
    public func text(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }
}

/// Turns libxml2's nodes and the recorded offsets into `XMLElement`s.
private struct TreeBuilder {
    let api: UnsafeMutablePointer<cxml_api>
    let bytes: [UInt8]
    let starts: [UnsafeMutableRawPointer: Int]
    let ends: [UnsafeMutableRawPointer: Int]
    let source: String

    func element(_ node: xmlNodePtr) throws -> XMLElement {
        let key = UnsafeMutableRawPointer(node)
        guard let startMark = starts[key], let endMark = ends[key] else {
            throw DevicesError(code: .internalError, message: "\(source): lost the position of an element")
        }
        // The start mark sits at the start tag's closing `>` or `/>` (after the attributes); the tag opens at the
        // last `<` before it (a `<` cannot appear inside the tag).
        var close = startMark
        while close < bytes.count, bytes[close] != UInt8(ascii: ">") { close += 1 }
        var open = min(startMark, bytes.count - 1)
        while open > 0, bytes[open] != UInt8(ascii: "<") { open -= 1 }
        let startTag = open..<min(close + 1, bytes.count)
        let selfClosing = close > 0 && bytes[close - 1] == UInt8(ascii: "/")
        var endTag: Range<Int>?
        if !selfClosing {
            var endOpen = endMark - 1
            while endOpen > startTag.upperBound, bytes[endOpen] != UInt8(ascii: "<") { endOpen -= 1 }
            endTag = endOpen..<endMark
        }
        var attributes: [(name: String, value: String)] = []
        var attribute = node.pointee.properties
        while let current = attribute {
            let name = String(cString: current.pointee.name)
            var value = ""
            if let raw = api.pointee.nodeListGetString(node.pointee.doc, current.pointee.children, 1) {
                value = String(cString: raw)
                cxml_free(api, raw)
            }
            let prefix = current.pointee.ns.flatMap { $0.pointee.prefix }.map { String(cString: $0) }
            attributes.append((prefix.map { "\($0):\(name)" } ?? name, value))
            attribute = current.pointee.next
        }
        var children: [XMLElement] = []
        // Only the element's own text: gathering every descendant's for every element would cost the square of
        // the document's depth.
        var text = ""
        var child = node.pointee.children
        while let current = child {
            switch current.pointee.type {
            case XML_ELEMENT_NODE: children.append(try element(current))
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                if let content = current.pointee.content { text += String(cString: content) }
            default: break
            }
            child = current.pointee.next
        }
        let ns = node.pointee.ns
        return XMLElement(
            name: String(cString: node.pointee.name),
            prefix: ns.flatMap { $0.pointee.prefix }.map { String(cString: $0) },
            namespace: ns.flatMap { $0.pointee.href }.map { String(cString: $0) }, attributes: attributes,
            children: children, text: text, startTag: startTag, endTag: endTag,
            line: Int(api.pointee.getLineNo(node)))
    }
}
