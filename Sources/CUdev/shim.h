#ifndef CUDEV_SHIM_H
#define CUDEV_SHIM_H

#include <dlfcn.h>
#include <libudev.h>
#include <pthread.h>
#include <stdio.h>

// libudev is loaded when `input list` first enumerates devices, not when vfioctl starts; the functions vfioctl uses
// are looked up once and called through this table, as Sources/CVirt/shim.h does for libvirt. (State lives in
// function-local statics: file-scope statics in a system-library header are not emitted.)

typedef struct {
    int loaded;
    char error[512];
    struct udev *(*udevNew)(void);
    struct udev *(*udevUnref)(struct udev *);
    struct udev_enumerate *(*enumerateNew)(struct udev *);
    struct udev_enumerate *(*enumerateUnref)(struct udev_enumerate *);
    int (*enumerateAddMatchSubsystem)(struct udev_enumerate *, const char *);
    int (*enumerateScanDevices)(struct udev_enumerate *);
    struct udev_list_entry *(*enumerateGetListEntry)(struct udev_enumerate *);
    struct udev_list_entry *(*listEntryGetNext)(struct udev_list_entry *);
    const char *(*listEntryGetName)(struct udev_list_entry *);
    struct udev_device *(*deviceNewFromSyspath)(struct udev *, const char *);
    struct udev_device *(*deviceUnref)(struct udev_device *);
    const char *(*deviceGetSysname)(struct udev_device *);
    const char *(*deviceGetDevnode)(struct udev_device *);
    const char *(*deviceGetPropertyValue)(struct udev_device *, const char *);
} cudev_api;

static inline cudev_api *cudev_table(void) {
    static cudev_api api;
    return &api;
}

static inline int cudev_symbol(void *handle, void **slot, const char *name) {
    *slot = dlsym(handle, name);
    if (*slot != NULL) return 1;
    snprintf(cudev_table()->error, sizeof cudev_table()->error, "libudev.so.1 lacks %s: a newer libudev is needed",
             name);
    return 0;
}

static inline void cudev_init(void) {
    cudev_api *api = cudev_table();
    void *handle = dlopen("libudev.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        snprintf(api->error, sizeof api->error, "libudev is not installed (%s)", dlerror());
        return;
    }
    if (!cudev_symbol(handle, (void **)&api->udevNew, "udev_new")) return;
    if (!cudev_symbol(handle, (void **)&api->udevUnref, "udev_unref")) return;
    if (!cudev_symbol(handle, (void **)&api->enumerateNew, "udev_enumerate_new")) return;
    if (!cudev_symbol(handle, (void **)&api->enumerateUnref, "udev_enumerate_unref")) return;
    if (!cudev_symbol(handle, (void **)&api->enumerateAddMatchSubsystem, "udev_enumerate_add_match_subsystem"))
        return;
    if (!cudev_symbol(handle, (void **)&api->enumerateScanDevices, "udev_enumerate_scan_devices")) return;
    if (!cudev_symbol(handle, (void **)&api->enumerateGetListEntry, "udev_enumerate_get_list_entry")) return;
    if (!cudev_symbol(handle, (void **)&api->listEntryGetNext, "udev_list_entry_get_next")) return;
    if (!cudev_symbol(handle, (void **)&api->listEntryGetName, "udev_list_entry_get_name")) return;
    if (!cudev_symbol(handle, (void **)&api->deviceNewFromSyspath, "udev_device_new_from_syspath")) return;
    if (!cudev_symbol(handle, (void **)&api->deviceUnref, "udev_device_unref")) return;
    if (!cudev_symbol(handle, (void **)&api->deviceGetSysname, "udev_device_get_sysname")) return;
    if (!cudev_symbol(handle, (void **)&api->deviceGetDevnode, "udev_device_get_devnode")) return;
    if (!cudev_symbol(handle, (void **)&api->deviceGetPropertyValue, "udev_device_get_property_value")) return;
    api->loaded = 1;
}

// Loads libudev once (thread-safe). Returns the table, or NULL when libudev cannot be used (the reason is in
// cudev_load_error()).
static inline cudev_api *cudev_load(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, cudev_init);
    return cudev_table()->loaded ? cudev_table() : NULL;
}

static inline const char *cudev_load_error(void) { return cudev_table()->error; }

#endif
