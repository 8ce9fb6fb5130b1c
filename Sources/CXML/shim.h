#ifndef CXML_SHIM_H
#define CXML_SHIM_H

// libxml2's headers would pull in ICU's (<unicode/ucnv.h>) for one struct vfioctl never touches; Swift's
// Foundation carries its own ICU, and the two definitions of the same types clash in one build. Only pointers
// to that struct appear in what vfioctl uses, so its ICU members can stay out.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <dlfcn.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/relaxng.h>
#include <libxml/SAX2.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// libxml2 is loaded when a command first parses XML, not when vfioctl starts: linked directly it (and the ICU it
// links) is mapped and relocated by every run, `vfioctl list` and `--version` included. The functions vfioctl uses
// are looked up once and called through this table, as Sources/CVirt/shim.h does for libvirt. (State lives in
// function-local statics: file-scope statics in a system-library header are not emitted.)

typedef struct {
    int loaded;
    char error[512];
    void (*initParser)(void);
    xmlParserCtxtPtr (*createMemoryParserCtxt)(const char *, int);
    void (*sax2StartElementNs)(void *, const xmlChar *, const xmlChar *, const xmlChar *, int, const xmlChar **,
                               int, int, const xmlChar **);
    void (*sax2EndElementNs)(void *, const xmlChar *, const xmlChar *, const xmlChar *);
    void (*stopParser)(xmlParserCtxtPtr);
    int (*ctxtUseOptions)(xmlParserCtxtPtr, int);
    void (*setStructuredErrorFunc)(void *, xmlStructuredErrorFunc);
    void (*setGenericErrorFunc)(void *, xmlGenericErrorFunc);
    int (*parseDocument)(xmlParserCtxtPtr);
    void (*freeParserCtxt)(xmlParserCtxtPtr);
    void (*freeDoc)(xmlDocPtr);
    xmlNodePtr (*docGetRootElement)(const xmlDoc *);
    xmlChar *(*nodeListGetString)(xmlDocPtr, const xmlNode *, int);
    long (*getLineNo)(const xmlNode *);
    xmlFreeFunc *free;
    void (*relaxNGFree)(xmlRelaxNGPtr);
    xmlRelaxNGParserCtxtPtr (*relaxNGNewParserCtxt)(const char *);
    xmlRelaxNGPtr (*relaxNGParse)(xmlRelaxNGParserCtxtPtr);
    void (*relaxNGFreeParserCtxt)(xmlRelaxNGParserCtxtPtr);
    xmlRelaxNGValidCtxtPtr (*relaxNGNewValidCtxt)(xmlRelaxNGPtr);
    void (*relaxNGSetValidStructuredErrors)(xmlRelaxNGValidCtxtPtr, xmlStructuredErrorFunc, void *);
    int (*relaxNGValidateDoc)(xmlRelaxNGValidCtxtPtr, xmlDocPtr);
    void (*relaxNGFreeValidCtxt)(xmlRelaxNGValidCtxtPtr);
} cxml_api;

static inline cxml_api *cxml_table(void) {
    static cxml_api api;
    return &api;
}

static inline int cxml_symbol(void *handle, void **slot, const char *name) {
    *slot = dlsym(handle, name);
    if (*slot != NULL) return 1;
    snprintf(cxml_table()->error, sizeof cxml_table()->error, "libxml2.so.2 lacks %s: a newer libxml2 is needed",
             name);
    return 0;
}

static inline void cxml_init(void) {
    cxml_api *api = cxml_table();
    void *handle = dlopen("libxml2.so.2", RTLD_NOW | RTLD_GLOBAL);
    if (handle == NULL) {
        snprintf(api->error, sizeof api->error, "libxml2 is not installed (%s)", dlerror());
        return;
    }
    if (!cxml_symbol(handle, (void **)&api->initParser, "xmlInitParser")) return;
    if (!cxml_symbol(handle, (void **)&api->createMemoryParserCtxt, "xmlCreateMemoryParserCtxt")) return;
    if (!cxml_symbol(handle, (void **)&api->sax2StartElementNs, "xmlSAX2StartElementNs")) return;
    if (!cxml_symbol(handle, (void **)&api->sax2EndElementNs, "xmlSAX2EndElementNs")) return;
    if (!cxml_symbol(handle, (void **)&api->stopParser, "xmlStopParser")) return;
    if (!cxml_symbol(handle, (void **)&api->ctxtUseOptions, "xmlCtxtUseOptions")) return;
    if (!cxml_symbol(handle, (void **)&api->setStructuredErrorFunc, "xmlSetStructuredErrorFunc")) return;
    if (!cxml_symbol(handle, (void **)&api->setGenericErrorFunc, "xmlSetGenericErrorFunc")) return;
    if (!cxml_symbol(handle, (void **)&api->parseDocument, "xmlParseDocument")) return;
    if (!cxml_symbol(handle, (void **)&api->freeParserCtxt, "xmlFreeParserCtxt")) return;
    if (!cxml_symbol(handle, (void **)&api->freeDoc, "xmlFreeDoc")) return;
    if (!cxml_symbol(handle, (void **)&api->docGetRootElement, "xmlDocGetRootElement")) return;
    if (!cxml_symbol(handle, (void **)&api->nodeListGetString, "xmlNodeListGetString")) return;
    if (!cxml_symbol(handle, (void **)&api->getLineNo, "xmlGetLineNo")) return;
    // xmlFree is a variable holding the deallocator, not a function.
    if (!cxml_symbol(handle, (void **)&api->free, "xmlFree")) return;
    if (!cxml_symbol(handle, (void **)&api->relaxNGFree, "xmlRelaxNGFree")) return;
    if (!cxml_symbol(handle, (void **)&api->relaxNGNewParserCtxt, "xmlRelaxNGNewParserCtxt")) return;
    if (!cxml_symbol(handle, (void **)&api->relaxNGParse, "xmlRelaxNGParse")) return;
    if (!cxml_symbol(handle, (void **)&api->relaxNGFreeParserCtxt, "xmlRelaxNGFreeParserCtxt")) return;
    if (!cxml_symbol(handle, (void **)&api->relaxNGNewValidCtxt, "xmlRelaxNGNewValidCtxt")) return;
    if (!cxml_symbol(handle, (void **)&api->relaxNGSetValidStructuredErrors, "xmlRelaxNGSetValidStructuredErrors"))
        return;
    if (!cxml_symbol(handle, (void **)&api->relaxNGValidateDoc, "xmlRelaxNGValidateDoc")) return;
    if (!cxml_symbol(handle, (void **)&api->relaxNGFreeValidCtxt, "xmlRelaxNGFreeValidCtxt")) return;
    // Sets up libxml2's global tables once, under its own lock, before any thread parses.
    api->initParser();
    api->loaded = 1;
}

// Loads libxml2 once (thread-safe). Returns the table, or NULL when libxml2 cannot be used (the reason is in
// cxml_load_error()). Each Swift file that calls a static inline function gets its own copy of it, statics
// included, so only one Swift file (XMLLibrary.swift) calls this, and everything else is handed the table.
static inline cxml_api *cxml_load(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, cxml_init);
    return cxml_table()->loaded ? cxml_table() : NULL;
}

static inline const char *cxml_load_error(void) { return cxml_table()->error; }

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
    cxml_api *api;  // the loaded libxml2, for the callbacks
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
    cxml_state *state = (cxml_state *)ctxt->_private;
    state->api->sax2StartElementNs(ctx, localname, prefix, URI, nb_namespaces, namespaces, nb_attributes,
                                     nb_defaulted, attributes);
    cxml_mark_add(state, ctxt->node, cxml_offset(ctxt), 0);
}

static inline void cxml_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *URI) {
    xmlParserCtxtPtr ctxt = (xmlParserCtxtPtr)ctx;
    xmlNodePtr node = ctxt->node;
    long offset = cxml_offset(ctxt);
    cxml_state *state = (cxml_state *)ctxt->_private;
    state->api->sax2EndElementNs(ctx, localname, prefix, URI);
    cxml_mark_add(state, node, offset, 1);
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
    state->api->stopParser(ctxt);
}

// Parses `length` bytes into a tree, recording element offsets in `state`. Returns the document, or NULL with
// the first error in `state`. Entities are not loaded from outside, and no network access is made.
static inline xmlDocPtr cxml_parse(cxml_api *api, const char *bytes, int length, cxml_state *state) {
    memset(state, 0, sizeof *state);
    state->api = api;
    xmlParserCtxtPtr ctxt = api->createMemoryParserCtxt(bytes, length);
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
    api->ctxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR);
    api->setStructuredErrorFunc(state, cxml_error);
    api->parseDocument(ctxt);
    api->setStructuredErrorFunc(NULL, NULL);
    xmlDocPtr doc = ctxt->myDoc;
    int wellFormed = ctxt->wellFormed;
    if (!wellFormed || state->failed) {
        if (state->message[0] == 0) {
            snprintf(state->message, sizeof state->message, "%s",
                     state->failed ? "out of memory" : "not well-formed XML");
            state->line = ctxt->input ? ctxt->input->line : 0;
            state->column = ctxt->input ? ctxt->input->col : 0;
        }
        if (doc) api->freeDoc(doc);
        doc = NULL;
    }
    ctxt->myDoc = NULL;
    api->freeParserCtxt(ctxt);
    return doc;
}

static inline void cxml_ignore(void *context, const char *message, ...) {
    (void)context;
    (void)message;
}

// Silences libxml2's generic error printing on this thread (libraries that use libxml2, such as libvirt's test
// driver, would otherwise write "I/O warning" lines to stderr next to vfioctl's own one-line error).
static inline void cxml_quiet_generic(cxml_api *api) { api->setGenericErrorFunc(NULL, cxml_ignore); }

// xmlFree is a global function pointer; Swift cannot call it safely from concurrent code.
static inline void cxml_free(cxml_api *api, void *pointer) { (*api->free)(pointer); }

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
static inline void cxml_load_locked(cxml_api *api, cxml_schema_cache *cache, const char *schemaPath) {
    if (cache->schema != NULL && strncmp(cache->path, schemaPath, sizeof cache->path) == 0) return;
    if (cache->schema != NULL) api->relaxNGFree(cache->schema);
    cache->schema = NULL;
    xmlRelaxNGParserCtxtPtr parser = api->relaxNGNewParserCtxt(schemaPath);
    if (parser != NULL) {
        cache->schema = api->relaxNGParse(parser);
        api->relaxNGFreeParserCtxt(parser);
    }
    snprintf(cache->path, sizeof cache->path, "%s", schemaPath);
}

// Parses a schema ahead of time (on another thread), so validation later finds it ready. Call it from the file
// that validates: the cache is a static of this header, one per Swift file.
static inline void cxml_preload(cxml_api *api, const char *schemaPath) {
    cxml_state state;
    memset(&state, 0, sizeof state);
    cxml_schema_cache *cache = cxml_cache();
    pthread_mutex_lock(&cache->lock);
    api->setStructuredErrorFunc(&state, cxml_error);
    cxml_load_locked(api, cache, schemaPath);
    api->setStructuredErrorFunc(NULL, NULL);
    pthread_mutex_unlock(&cache->lock);
}

static inline int cxml_validate(cxml_api *api, xmlDocPtr doc, const char *schemaPath, cxml_state *state) {
    cxml_schema_cache *cache = cxml_cache();
    memset(state, 0, sizeof *state);
    pthread_mutex_lock(&cache->lock);
    api->setStructuredErrorFunc(state, cxml_error);
    cxml_load_locked(api, cache, schemaPath);
    int result = -1;
    if (cache->schema != NULL) {
        memset(state, 0, sizeof *state);
        xmlRelaxNGValidCtxtPtr valid = api->relaxNGNewValidCtxt(cache->schema);
        if (valid != NULL) {
            api->relaxNGSetValidStructuredErrors(valid, cxml_error, state);
            result = api->relaxNGValidateDoc(valid, doc) == 0 ? 0 : 1;
            api->relaxNGFreeValidCtxt(valid);
        }
    }
    api->setStructuredErrorFunc(NULL, NULL);
    pthread_mutex_unlock(&cache->lock);
    return result;
}

#endif
