#ifndef CXML_SHIM_H
#define CXML_SHIM_H

// libxml2's headers would pull in ICU's (<unicode/ucnv.h>) for one struct vfioctl never touches; Swift's
// Foundation carries its own ICU, and the two definitions of the same types clash in one build. Only pointers
// to that struct appear in what vfioctl uses, so its ICU members can stay out.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/relaxng.h>
#include <libxml/SAX2.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

// libxml2 builds the tree; these wrappers around its SAX2 callbacks also record where in the input
// each element's start tag ends and its end tag ends, so edits can be spliced into the original bytes
// instead of re-serialising the tree (which would lose quoting, spacing and self-closing forms).

typedef struct {
    xmlNodePtr node;
    long offset;    // bytes from the start of the input: the start tag's '>' or '/>' for starts,
                    // just past the end tag (or '/>') for ends
    int isEnd;
} cxml_mark;

typedef struct {
    cxml_mark *marks;
    size_t count;
    size_t capacity;
    int failed;
    int refused;    // the input was refused (a DOCTYPE declaring entities), not malformed
    char message[512];
    int line;
    int column;
} cxml_state;

static inline long cxml_offset(xmlParserCtxtPtr ctxt) {
    if (ctxt->input == NULL) return -1;
    return (long)ctxt->input->consumed + (long)(ctxt->input->cur - ctxt->input->base);
}

static inline void cxml_mark_add(cxml_state *state, xmlNodePtr node, long offset, int isEnd) {
    if (state->count == state->capacity) {
        size_t capacity = state->capacity ? state->capacity * 2 : 256;
        cxml_mark *marks = realloc(state->marks, capacity * sizeof(cxml_mark));
        if (marks == NULL) {
            state->failed = 1;
            return;
        }
        state->marks = marks;
        state->capacity = capacity;
    }
    state->marks[state->count].node = node;
    state->marks[state->count].offset = offset;
    state->marks[state->count].isEnd = isEnd;
    state->count++;
}

static inline void cxml_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *URI,
                              int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
                              const xmlChar **attributes) {
    xmlParserCtxtPtr ctxt = (xmlParserCtxtPtr)ctx;
    xmlSAX2StartElementNs(ctx, localname, prefix, URI, nb_namespaces, namespaces, nb_attributes, nb_defaulted,
                          attributes);
    cxml_mark_add((cxml_state *)ctxt->_private, ctxt->node, cxml_offset(ctxt), 0);
}

static inline void cxml_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *URI) {
    xmlParserCtxtPtr ctxt = (xmlParserCtxtPtr)ctx;
    xmlNodePtr node = ctxt->node;
    long offset = cxml_offset(ctxt);
    xmlSAX2EndElementNs(ctx, localname, prefix, URI);
    cxml_mark_add((cxml_state *)ctxt->_private, node, offset, 1);
}

static inline void cxml_error(void *userData, xmlErrorPtr error) {
    cxml_state *state = (cxml_state *)userData;
    if (state == NULL || error == NULL || error->level < XML_ERR_ERROR || state->message[0] != 0) return;
    snprintf(state->message, sizeof state->message, "%s", error->message ? error->message : "XML error");
    size_t length = strlen(state->message);
    while (length > 0 && (state->message[length - 1] == '\n' || state->message[length - 1] == ' ')) {
        state->message[--length] = 0;
    }
    state->line = error->line;
    state->column = error->int2;
}

// Domain XML never declares entities, and an entity that expands to others (a "billion laughs") would cost
// gigabytes: the first declaration stops the parse.
static inline void cxml_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *publicId,
                                    const xmlChar *systemId, xmlChar *content) {
    (void)type;
    (void)publicId;
    (void)systemId;
    (void)content;
    xmlParserCtxtPtr ctxt = (xmlParserCtxtPtr)ctx;
    cxml_state *state = (cxml_state *)ctxt->_private;
    if (!state->refused) {
        state->refused = 1;
        state->failed = 1;
        snprintf(state->message, sizeof state->message, "the DOCTYPE declares the entity '%s'",
                 name ? (const char *)name : "");
        state->line = ctxt->input ? ctxt->input->line : 0;
        state->column = ctxt->input ? ctxt->input->col : 0;
    }
    xmlStopParser(ctxt);
}

// Parses `length` bytes into a tree, recording element offsets in `state`. Returns the document, or NULL with
// the first error in `state`. Entities are not loaded from outside, and no network access is made.
static inline xmlDocPtr cxml_parse(const char *bytes, int length, cxml_state *state) {
    // Sets up libxml2's global tables once, under its own lock, before any thread parses.
    xmlInitParser();
    memset(state, 0, sizeof *state);
    xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(bytes, length);
    if (ctxt == NULL) {
        snprintf(state->message, sizeof state->message, "cannot create an XML parser (out of memory)");
        return NULL;
    }
    ctxt->sax->startElementNs = cxml_start;
    ctxt->sax->endElementNs = cxml_end;
    ctxt->sax->entityDecl = cxml_entity_decl;
    // Errors go to the thread's structured handler below, with `state` as its data (the SAX handler's own
    // serror would be called with the parser context instead).
    ctxt->sax->serror = NULL;
    ctxt->sax->error = NULL;
    ctxt->sax->warning = NULL;
    ctxt->vctxt.error = NULL;
    ctxt->vctxt.warning = NULL;
    ctxt->_private = state;
    ctxt->userData = ctxt;
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR);
    xmlSetStructuredErrorFunc(state, cxml_error);
    xmlParseDocument(ctxt);
    xmlSetStructuredErrorFunc(NULL, NULL);
    xmlDocPtr doc = ctxt->myDoc;
    int wellFormed = ctxt->wellFormed;
    if (!wellFormed || state->failed) {
        if (state->message[0] == 0) {
            snprintf(state->message, sizeof state->message, "%s",
                     state->failed ? "out of memory" : "not well-formed XML");
            state->line = ctxt->input ? ctxt->input->line : 0;
            state->column = ctxt->input ? ctxt->input->col : 0;
        }
        if (doc) xmlFreeDoc(doc);
        doc = NULL;
    }
    ctxt->myDoc = NULL;
    xmlFreeParserCtxt(ctxt);
    return doc;
}

static inline void cxml_ignore(void *context, const char *message, ...) {
    (void)context;
    (void)message;
}

// Silences libxml2's generic error printing on this thread (libraries that use libxml2, such as libvirt's test
// driver, would otherwise write "I/O warning" lines to stderr next to vfioctl's own one-line error).
static inline void cxml_quiet_generic(void) { xmlSetGenericErrorFunc(NULL, cxml_ignore); }

// xmlFree is a global function pointer; Swift cannot call it safely from concurrent code.
static inline void cxml_free(void *pointer) { xmlFree(pointer); }

static inline void cxml_state_free(cxml_state *state) {
    free(state->marks);
    state->marks = NULL;
    state->count = state->capacity = 0;
}

// Validates a document against a RELAX NG schema file. Returns 0 when valid, 1 when not (first problem in
// `state`), -1 when the schema cannot be loaded. libxml2's RELAX NG code keeps global type tables, so validation
// runs under one process-wide lock; the parsed schema is kept for the next call with the same path.
// The schema cache shared by cxml_preload and cxml_validate.
typedef struct {
    pthread_mutex_t lock;
    xmlRelaxNGPtr schema;
    char path[4096];
} cxml_schema_cache;

static inline cxml_schema_cache *cxml_cache(void) {
    static cxml_schema_cache cache = {PTHREAD_MUTEX_INITIALIZER, NULL, {0}};
    return &cache;
}

// Parses a schema into the cache (the caller holds the lock).
static inline void cxml_load_locked(cxml_schema_cache *cache, const char *schemaPath) {
    if (cache->schema != NULL && strncmp(cache->path, schemaPath, sizeof cache->path) == 0) return;
    if (cache->schema != NULL) xmlRelaxNGFree(cache->schema);
    cache->schema = NULL;
    xmlRelaxNGParserCtxtPtr parser = xmlRelaxNGNewParserCtxt(schemaPath);
    if (parser != NULL) {
        cache->schema = xmlRelaxNGParse(parser);
        xmlRelaxNGFreeParserCtxt(parser);
    }
    snprintf(cache->path, sizeof cache->path, "%s", schemaPath);
}

// Parses a schema ahead of time (on another thread), so validation later finds it ready.
static inline void cxml_preload(const char *schemaPath) {
    cxml_state state;
    memset(&state, 0, sizeof state);
    xmlInitParser();
    cxml_schema_cache *cache = cxml_cache();
    pthread_mutex_lock(&cache->lock);
    xmlSetStructuredErrorFunc(&state, cxml_error);
    cxml_load_locked(cache, schemaPath);
    xmlSetStructuredErrorFunc(NULL, NULL);
    pthread_mutex_unlock(&cache->lock);
}

static inline int cxml_validate(xmlDocPtr doc, const char *schemaPath, cxml_state *state) {
    cxml_schema_cache *cache = cxml_cache();
    xmlInitParser();
    memset(state, 0, sizeof *state);
    pthread_mutex_lock(&cache->lock);
    xmlSetStructuredErrorFunc(state, cxml_error);
    cxml_load_locked(cache, schemaPath);
    int result = -1;
    if (cache->schema != NULL) {
        memset(state, 0, sizeof *state);
        xmlRelaxNGValidCtxtPtr valid = xmlRelaxNGNewValidCtxt(cache->schema);
        if (valid != NULL) {
            xmlRelaxNGSetValidStructuredErrors(valid, cxml_error, state);
            result = xmlRelaxNGValidateDoc(valid, doc) == 0 ? 0 : 1;
            xmlRelaxNGFreeValidCtxt(valid);
        }
    }
    xmlSetStructuredErrorFunc(NULL, NULL);
    pthread_mutex_unlock(&cache->lock);
    return result;
}

#endif
