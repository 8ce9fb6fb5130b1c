#ifndef CEVDEV_SHIM_H
#define CEVDEV_SHIM_H

#include <dlfcn.h>
#include <linux/input.h>
#include <pthread.h>
#include <stdio.h>

// libevdev is loaded when `input list` first opens an event node, not when vfioctl starts; the functions vfioctl
// uses are looked up once and called through this table, as Sources/CVirt/shim.h does for libvirt. Their
// signatures are libevdev's stable API (libevdev/libevdev.h, which sits outside the default include path); the
// event codes come from the kernel's <linux/input.h>. (State lives in function-local statics: file-scope statics
// in a system-library header are not emitted.)

struct libevdev;

typedef struct {
    int loaded;
    char error[512];
    int (*newFromFD)(int, struct libevdev **);
    void (*free)(struct libevdev *);
    const char *(*getName)(const struct libevdev *);
    const char *(*getPhys)(const struct libevdev *);
    const char *(*getUniq)(const struct libevdev *);
    int (*getIDBustype)(const struct libevdev *);
    int (*getIDVendor)(const struct libevdev *);
    int (*getIDProduct)(const struct libevdev *);
    int (*hasEventType)(const struct libevdev *, unsigned int);
    int (*hasEventCode)(const struct libevdev *, unsigned int, unsigned int);
    int (*hasProperty)(const struct libevdev *, unsigned int);
} cevdev_api;

static inline cevdev_api *cevdev_table(void) {
    static cevdev_api api;
    return &api;
}

static inline int cevdev_symbol(void *handle, void **slot, const char *name) {
    *slot = dlsym(handle, name);
    if (*slot != NULL) return 1;
    snprintf(cevdev_table()->error, sizeof cevdev_table()->error,
             "libevdev.so.2 lacks %s: a newer libevdev is needed", name);
    return 0;
}

static inline void cevdev_init(void) {
    cevdev_api *api = cevdev_table();
    void *handle = dlopen("libevdev.so.2", RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        snprintf(api->error, sizeof api->error, "libevdev is not installed (%s)", dlerror());
        return;
    }
    if (!cevdev_symbol(handle, (void **)&api->newFromFD, "libevdev_new_from_fd")) return;
    if (!cevdev_symbol(handle, (void **)&api->free, "libevdev_free")) return;
    if (!cevdev_symbol(handle, (void **)&api->getName, "libevdev_get_name")) return;
    if (!cevdev_symbol(handle, (void **)&api->getPhys, "libevdev_get_phys")) return;
    if (!cevdev_symbol(handle, (void **)&api->getUniq, "libevdev_get_uniq")) return;
    if (!cevdev_symbol(handle, (void **)&api->getIDBustype, "libevdev_get_id_bustype")) return;
    if (!cevdev_symbol(handle, (void **)&api->getIDVendor, "libevdev_get_id_vendor")) return;
    if (!cevdev_symbol(handle, (void **)&api->getIDProduct, "libevdev_get_id_product")) return;
    if (!cevdev_symbol(handle, (void **)&api->hasEventType, "libevdev_has_event_type")) return;
    if (!cevdev_symbol(handle, (void **)&api->hasEventCode, "libevdev_has_event_code")) return;
    if (!cevdev_symbol(handle, (void **)&api->hasProperty, "libevdev_has_property")) return;
    api->loaded = 1;
}

// Loads libevdev once (thread-safe). Returns the table, or NULL when libevdev cannot be used (the reason is in
// cevdev_load_error()).
static inline cevdev_api *cevdev_load(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, cevdev_init);
    return cevdev_table()->loaded ? cevdev_table() : NULL;
}

static inline const char *cevdev_load_error(void) { return cevdev_table()->error; }

#endif
