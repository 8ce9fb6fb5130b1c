#ifndef CVIRT_SHIM_H
#define CVIRT_SHIM_H

#include <dlfcn.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

// libvirt is loaded when a command first needs it, not when vfioctl starts: linked directly it drags about
// fifty libraries (TLS, SASL, …) into every run, costing ~10 ms, and vfioctl works on hosts without libvirt.
// The functions vfioctl uses are looked up once and called through this table. (State lives in
// function-local statics: file-scope statics in a system-library header are not emitted.)

typedef struct {
    int loaded;
    char error[512];
    virConnectPtr (*connectOpenAuth)(const char *, virConnectAuthPtr, unsigned int);
    int (*connectClose)(virConnectPtr);
    virDomainPtr (*domainLookupByName)(virConnectPtr, const char *);
    int (*domainFree)(virDomainPtr);
    char *(*domainGetXMLDesc)(virDomainPtr, unsigned int);
    int (*domainIsActive)(virDomainPtr);
    virDomainPtr (*domainDefineXMLFlags)(virConnectPtr, const char *, unsigned int);
    int (*connectListAllDomains)(virConnectPtr, virDomainPtr **, unsigned int);
    const char *(*domainGetName)(virDomainPtr);
    const char *(*getLastErrorMessage)(void);
    virErrorPtr (*getLastError)(void);
    void (*setErrorFunc)(void *, virErrorFunc);
    virConnectAuthPtr *authDefault;
    int (*connectGetLibVersion)(virConnectPtr, unsigned long *);
    // The node-device calls for mediated devices: optional, as older libvirts lack them (NULL then).
    virNodeDevicePtr (*nodeDeviceDefineXML)(virConnectPtr, const char *, unsigned int);  // libvirt 7.3
    int (*nodeDeviceCreate)(virNodeDevicePtr, unsigned int);                               // libvirt 7.3
    int (*nodeDeviceSetAutostart)(virNodeDevicePtr, int);                                  // libvirt 7.8
    int (*nodeDeviceDestroy)(virNodeDevicePtr);
    int (*nodeDeviceUndefine)(virNodeDevicePtr, unsigned int);                             // libvirt 7.3
    int (*nodeDeviceIsActive)(virNodeDevicePtr);                                           // libvirt 7.8
    int (*nodeDeviceFree)(virNodeDevicePtr);
    const char *(*nodeDeviceGetName)(virNodeDevicePtr);
    int (*connectListAllNodeDevices)(virConnectPtr, virNodeDevicePtr **, unsigned int);
} cvirt_api;

static inline cvirt_api *cvirt_table(void) {
    static cvirt_api api;
    return &api;
}

static inline int cvirt_symbol(void *handle, void **slot, const char *name) {
    *slot = dlsym(handle, name);
    if (*slot != NULL) return 1;
    snprintf(cvirt_table()->error, sizeof cvirt_table()->error,
             "libvirt.so.0 lacks %s: a newer libvirt is needed", name);
    return 0;
}

// Looks up a symbol that may be missing; the slot stays NULL then and the caller says which release needs it.
static inline void cvirt_optional(void *handle, void **slot, const char *name) { *slot = dlsym(handle, name); }

static inline void cvirt_init(void) {
    cvirt_api *api = cvirt_table();
    void *handle = dlopen("libvirt.so.0", RTLD_NOW | RTLD_GLOBAL);
    if (handle == NULL) {
        snprintf(api->error, sizeof api->error, "libvirt is not installed (%s)", dlerror());
        return;
    }
    if (!cvirt_symbol(handle, (void **)&api->connectOpenAuth, "virConnectOpenAuth")) return;
    if (!cvirt_symbol(handle, (void **)&api->connectClose, "virConnectClose")) return;
    if (!cvirt_symbol(handle, (void **)&api->domainLookupByName, "virDomainLookupByName")) return;
    if (!cvirt_symbol(handle, (void **)&api->domainFree, "virDomainFree")) return;
    if (!cvirt_symbol(handle, (void **)&api->domainGetXMLDesc, "virDomainGetXMLDesc")) return;
    if (!cvirt_symbol(handle, (void **)&api->domainIsActive, "virDomainIsActive")) return;
    if (!cvirt_symbol(handle, (void **)&api->domainDefineXMLFlags, "virDomainDefineXMLFlags")) return;
    if (!cvirt_symbol(handle, (void **)&api->connectListAllDomains, "virConnectListAllDomains")) return;
    if (!cvirt_symbol(handle, (void **)&api->domainGetName, "virDomainGetName")) return;
    if (!cvirt_symbol(handle, (void **)&api->getLastErrorMessage, "virGetLastErrorMessage")) return;
    if (!cvirt_symbol(handle, (void **)&api->getLastError, "virGetLastError")) return;
    if (!cvirt_symbol(handle, (void **)&api->setErrorFunc, "virSetErrorFunc")) return;
    if (!cvirt_symbol(handle, (void **)&api->authDefault, "virConnectAuthPtrDefault")) return;
    if (!cvirt_symbol(handle, (void **)&api->connectGetLibVersion, "virConnectGetLibVersion")) return;
    cvirt_optional(handle, (void **)&api->nodeDeviceDefineXML, "virNodeDeviceDefineXML");
    cvirt_optional(handle, (void **)&api->nodeDeviceCreate, "virNodeDeviceCreate");
    cvirt_optional(handle, (void **)&api->nodeDeviceSetAutostart, "virNodeDeviceSetAutostart");
    cvirt_optional(handle, (void **)&api->nodeDeviceDestroy, "virNodeDeviceDestroy");
    cvirt_optional(handle, (void **)&api->nodeDeviceUndefine, "virNodeDeviceUndefine");
    cvirt_optional(handle, (void **)&api->nodeDeviceIsActive, "virNodeDeviceIsActive");
    cvirt_optional(handle, (void **)&api->nodeDeviceFree, "virNodeDeviceFree");
    cvirt_optional(handle, (void **)&api->nodeDeviceGetName, "virNodeDeviceGetName");
    cvirt_optional(handle, (void **)&api->connectListAllNodeDevices, "virConnectListAllNodeDevices");
    api->loaded = 1;
}

// Loads libvirt once (thread-safe). Returns the table, or NULL when libvirt cannot be used (the reason is in
// cvirt_load_error()).
static inline cvirt_api *cvirt_load(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, cvirt_init);
    return cvirt_table()->loaded ? cvirt_table() : NULL;
}

static inline const char *cvirt_load_error(void) { return cvirt_table()->error; }

// libvirt prints every error to stderr unless a handler is set; vfioctl reports errors itself, in one line.
static inline void cvirt_quiet(void *userData, virErrorPtr error) {
    (void)userData;
    (void)error;
}

// Opens a connection with libvirt's default authentication callback (SSH agents and polkit work as with
// virsh). NULL on failure; the message is in cvirt_last_error().
static inline virConnectPtr cvirt_open(cvirt_api *api, const char *uri) {
    api->setErrorFunc(NULL, cvirt_quiet);
    return api->connectOpenAuth(uri, *api->authDefault, 0);
}

// The last error of this thread, or a fallback.
static inline const char *cvirt_last_error(cvirt_api *api) {
    const char *message = api->getLastErrorMessage();
    return message ? message : "unknown libvirt error";
}

// The last error's code (VIR_ERR_NO_DOMAIN and so on), 0 when none.
static inline int cvirt_last_error_code(cvirt_api *api) {
    virErrorPtr error = api->getLastError();
    return error ? error->code : 0;
}

// Frees a string or array libvirt handed out.
static inline void cvirt_free(void *pointer) { free(pointer); }

#endif
