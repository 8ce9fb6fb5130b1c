import CXML

/// libxml2, loaded with `dlopen` the first time a document is parsed (see `Sources/CXML/shim.h`).
enum XMLLibrary {
    /// The table of libxml2's functions.
    /// - Throws: `DevicesError` (`.unavailable`, object `.library("libxml2")`) when libxml2 cannot be loaded.
    static func load() throws -> UnsafeMutablePointer<cxml_api> {
        guard let api = cxml_load() else {
            throw DevicesError(
                code: .unavailable, message: "cannot read XML: \(String(cString: cxml_load_error()))",
                object: .library("libxml2"))
        }
        return api
    }
}
