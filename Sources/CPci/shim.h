#ifndef CPCI_SHIM_H
#define CPCI_SHIM_H

#include <pci/pci.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// libpci reports fatal errors through a callback that must not return (its default calls
// exit(1)). Each helper below arms a jump buffer before calling into libpci; the handler records
// the message and jumps back into that helper, which then returns a failure code. The jump never
// crosses a Swift frame. State is per thread and lives in a function-local static (file-scope
// statics in a system-library header are not emitted).

typedef struct {
    jmp_buf jump;
    int armed;
    char error[512];
    char warning[512];
    unsigned warnings;
} cpci_state;

static inline cpci_state *cpci_current(void) {
    static _Thread_local cpci_state state;
    return &state;
}

static inline void cpci_on_error(char *msg, ...) {
    cpci_state *s = cpci_current();
    va_list ap;
    va_start(ap, msg);
    vsnprintf(s->error, sizeof s->error, msg, ap);
    va_end(ap);
    if (s->armed) {
        s->armed = 0;
        longjmp(s->jump, 1);
    }
    abort();
}

static inline void cpci_on_warning(char *msg, ...) {
    cpci_state *s = cpci_current();
    va_list ap;
    va_start(ap, msg);
    vsnprintf(s->warning, sizeof s->warning, msg, ap);
    va_end(ap);
    s->warnings++;
}

static inline void cpci_on_debug(char *msg, ...) {
    (void)msg;
}

/// The message of the last libpci error on this thread.
static inline const char *cpci_last_error(void) { return cpci_current()->error; }

/// The message of the last libpci warning on this thread.
static inline const char *cpci_last_warning(void) { return cpci_current()->warning; }

/// How many warnings libpci reported on this thread; reset by `cpci_reset_warnings`.
static inline unsigned cpci_warning_count(void) { return cpci_current()->warnings; }

static inline void cpci_reset_warnings(void) {
    cpci_state *s = cpci_current();
    s->warnings = 0;
    s->warning[0] = 0;
}

#define CPCI_GUARD(failure)                 \
    cpci_state *cpci_s = cpci_current();    \
    cpci_s->error[0] = 0;                   \
    if (setjmp(cpci_s->jump)) return failure; \
    cpci_s->armed = 1;

#define CPCI_DISARM() cpci_s->armed = 0;

/// Extra lookup flags for this thread's handle: `set` non-zero stores `flags`; returns the stored flags.
static inline int cpci_lookup_flags(int set, int flags) {
    static _Thread_local int stored;
    if (set) stored = flags;
    return stored;
}

/// Makes name lookups use only the ID file (not udev's hwdb) when `only` is non-zero.
static inline void cpci_use_id_file_only(int only) { cpci_lookup_flags(1, only ? PCI_LOOKUP_NO_HWDB : 0); }

/// Opens libpci on the sysfs tree at `sysfs_path` with the ID list at `ids_path` (NULL: default).
static inline struct pci_access *cpci_open(const char *sysfs_path, const char *ids_path) {
    struct pci_access *a = pci_alloc();
    if (!a) return NULL;
    a->error = cpci_on_error;
    a->warning = cpci_on_warning;
    a->debug = cpci_on_debug;
    a->method = PCI_ACCESS_SYS_BUS_PCI;
    if (pci_set_param(a, "sysfs.path", (char *)sysfs_path) != 0) {
        pci_cleanup(a);
        return NULL;
    }
    if (ids_path) {
        char *copy = strdup(ids_path);
        if (copy) pci_set_name_list_path(a, copy, 1);
    }
    struct pci_access *volatile handle = a;
    {
        CPCI_GUARD(NULL)
        pci_init(handle);
        CPCI_DISARM()
    }
    return handle;
}

static inline void cpci_close(struct pci_access *a) { pci_cleanup(a); }

/// A device record for one address, read lazily from sysfs.
static inline struct pci_dev *cpci_get_dev(struct pci_access *a, int domain, int bus, int dev, int func) {
    CPCI_GUARD(NULL)
    struct pci_dev *d = pci_get_dev(a, domain, bus, dev, func);
    CPCI_DISARM()
    return d;
}

static inline void cpci_free_dev(struct pci_dev *d) { pci_free_dev(d); }

/// Makes libpci read configuration space from `cache` (owned by the caller) for the first `len` bytes.
static inline void cpci_setup_cache(struct pci_dev *d, unsigned char *cache, int len) { pci_setup_cache(d, cache, len); }

/// Fills the requested fields; returns -1 when libpci reported an error.
static inline int cpci_fill(struct pci_dev *d, int flags) {
    CPCI_GUARD(-1)
    int known = pci_fill_info(d, flags);
    CPCI_DISARM()
    return known;
}

/// The config-space offset of a capability, 0 when absent, -1 on error.
static inline int cpci_find_cap(struct pci_dev *d, unsigned id, unsigned type) {
    CPCI_GUARD(-1)
    struct pci_cap *cap = pci_find_cap(d, id, type);
    CPCI_DISARM()
    return cap ? cap->addr : 0;
}

/// Reads `len` bytes of config space at `pos`; returns 1 on success.
static inline int cpci_read_block(struct pci_dev *d, int pos, unsigned char *buf, int len) {
    CPCI_GUARD(0)
    int ok = pci_read_block(d, pos, buf, len);
    CPCI_DISARM()
    return ok;
}

/// Reads a config-space register through libpci's cache (see `cpci_setup_cache`); 0xff.. when unreadable.
static inline unsigned cpci_read_byte(struct pci_dev *d, int pos) {
    CPCI_GUARD(0xFF)
    unsigned v = pci_read_byte(d, pos);
    CPCI_DISARM()
    return v;
}

static inline unsigned cpci_read_word(struct pci_dev *d, int pos) {
    CPCI_GUARD(0xFFFF)
    unsigned v = pci_read_word(d, pos);
    CPCI_DISARM()
    return v;
}

static inline unsigned cpci_read_long(struct pci_dev *d, int pos) {
    CPCI_GUARD(0xFFFFFFFFu)
    unsigned v = pci_read_long(d, pos);
    CPCI_DISARM()
    return v;
}

static inline const char *cpci_lookup_vendor(struct pci_access *a, char *buf, int size, unsigned vendor) {
    CPCI_GUARD(NULL)
    const char *r = pci_lookup_name(a, buf, size, PCI_LOOKUP_VENDOR | PCI_LOOKUP_NO_NUMBERS | cpci_lookup_flags(0, 0), vendor);
    CPCI_DISARM()
    return r;
}

static inline const char *cpci_lookup_device(struct pci_access *a, char *buf, int size, unsigned vendor,
                                             unsigned device) {
    CPCI_GUARD(NULL)
    const char *r = pci_lookup_name(a, buf, size, PCI_LOOKUP_DEVICE | PCI_LOOKUP_NO_NUMBERS | cpci_lookup_flags(0, 0), vendor, device);
    CPCI_DISARM()
    return r;
}

static inline const char *cpci_lookup_subsystem(struct pci_access *a, char *buf, int size, unsigned vendor,
                                                unsigned device, unsigned subvendor, unsigned subdevice) {
    CPCI_GUARD(NULL)
    const char *r = pci_lookup_name(a, buf, size, PCI_LOOKUP_SUBSYSTEM | PCI_LOOKUP_DEVICE | PCI_LOOKUP_NO_NUMBERS | cpci_lookup_flags(0, 0),
                                    vendor, device, subvendor, subdevice);
    CPCI_DISARM()
    return r;
}

static inline const char *cpci_lookup_class(struct pci_access *a, char *buf, int size, unsigned klass) {
    CPCI_GUARD(NULL)
    const char *r = pci_lookup_name(a, buf, size, PCI_LOOKUP_CLASS | PCI_LOOKUP_NO_NUMBERS | cpci_lookup_flags(0, 0), klass);
    CPCI_DISARM()
    return r;
}

static inline const char *cpci_lookup_progif(struct pci_access *a, char *buf, int size, unsigned klass,
                                             unsigned progif) {
    CPCI_GUARD(NULL)
    const char *r = pci_lookup_name(a, buf, size, PCI_LOOKUP_PROGIF | PCI_LOOKUP_NO_NUMBERS | cpci_lookup_flags(0, 0), klass, progif);
    CPCI_DISARM()
    return r;
}

#endif
