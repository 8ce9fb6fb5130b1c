#ifndef CVIRT_SHIM_H
#define CVIRT_SHIM_H

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdlib.h>

// libvirt prints every error to stderr unless a handler is set; vfioctl reports errors itself, in one line.
static inline void cvirt_quiet(void *userData, virErrorPtr error) {
    (void)userData;
    (void)error;
}

// Opens a connection with libvirt's default authentication callback (SSH agents and polkit work as with
// virsh). NULL on failure; the message is in cvirt_last_error().
static inline virConnectPtr cvirt_open(const char *uri) {
    virSetErrorFunc(NULL, cvirt_quiet);
    return virConnectOpenAuth(uri, virConnectAuthPtrDefault, 0);
}

// The last error of this thread, or a fallback.
static inline const char *cvirt_last_error(void) {
    const char *message = virGetLastErrorMessage();
    return message ? message : "unknown libvirt error";
}

// The last error's code (VIR_ERR_NO_DOMAIN and so on), 0 when none.
static inline int cvirt_last_error_code(void) {
    virErrorPtr error = virGetLastError();
    return error ? error->code : 0;
}

// Frees a string libvirt handed out.
static inline void cvirt_free(void *pointer) { free(pointer); }

#endif
