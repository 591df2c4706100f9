package pjrtplugin

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

// The leading fields of PJRT_Api (pjrt_c_api.h), which every version keeps in place: the
// struct's size, its extension list and the version of the API it implements.
typedef struct {
	size_t struct_size;
	void *extension_start;
	int major_version;
	int minor_version;
} probe_version;

typedef struct {
	size_t struct_size;
	void *extension_start;
	probe_version version;
} probe_api_head;

typedef const probe_api_head *(*probe_get_api)(void);

// probe_plugin opens a plugin, reads the version its API table reports and closes it again.
// It returns 0 on success, 1 if the library cannot be opened, 2 if it has no GetPjrtApi and
// 3 if GetPjrtApi returns NULL; *msg is dlerror's text for 1 and 2 (owned by the caller).
static int probe_plugin(const char *path, int *major, int *minor, char **msg) {
	*msg = NULL;
	void *h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		if (e != NULL) {
			size_t n = 0;
			while (e[n] != 0) n++;
			*msg = malloc(n + 1);
			for (size_t i = 0; i <= n; i++) (*msg)[i] = e[i];
		}
		return 1;
	}
	probe_get_api get = (probe_get_api)dlsym(h, "GetPjrtApi");
	if (get == NULL) {
		dlclose(h);
		return 2;
	}
	const probe_api_head *api = get();
	if (api == NULL) {
		dlclose(h);
		return 3;
	}
	*major = api->version.major_version;
	*minor = api->version.minor_version;
	dlclose(h);
	return 0;
}
*/
import "C"

import (
	"fmt"
	"os"
	"unsafe"
)

// The PJRT C API version that GoMLX v0.26.0 talks: PJRT_API_MAJOR and PJRT_API_MINOR of the
// pjrt_c_api.h in go-xla v0.1.4, which GoMLX's XLA backend is built with (a test reads the
// header from the module cache and checks these).
const (
	APIMajor = 0
	APIMinor = 83
)

// AllowOlderEnv, set to 1, lets a plugin with an older minor version of the API through (at
// the risk of a crash if GoMLX calls a function the plugin lacks).
const AllowOlderEnv = "DDPM_PJRT_ALLOW_OLDER"

// Version is a PJRT C API version.
type Version struct{ Major, Minor int }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// ReadVersion loads the plugin library at path, reads the PJRT C API version that its
// GetPjrtApi reports and unloads it. It runs no initialisation of the plugin.
func ReadVersion(path string) (Version, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var major, minor C.int
	var msg *C.char
	rc := C.probe_plugin(cpath, &major, &minor, &msg)
	if msg != nil {
		defer C.free(unsafe.Pointer(msg))
	}
	switch rc {
	case 0:
		return Version{int(major), int(minor)}, nil
	case 1:
		return Version{}, fmt.Errorf("cannot be loaded: %s", C.GoString(msg))
	case 2:
		return Version{}, fmt.Errorf("is not a PJRT plugin: it exports no GetPjrtApi")
	default:
		return Version{}, fmt.Errorf("its GetPjrtApi returned no API table")
	}
}

// Compatible says whether GoMLX can talk to a plugin that speaks version v, and if not,
// why, naming both versions.
func Compatible(v Version) error {
	ours := Version{APIMajor, APIMinor}
	switch {
	case v.Major != ours.Major:
		return fmt.Errorf("speaks PJRT C API %s, and GoMLX v0.26.0 speaks %s: major versions differ, so the two "+
			"cannot talk; use a plugin built for PJRT C API %d.x", v, ours, ours.Major)
	case v.Minor < ours.Minor && os.Getenv(AllowOlderEnv) != "1":
		return fmt.Errorf("speaks PJRT C API %s, older than the %s that GoMLX v0.26.0 was built for, and may lack "+
			"functions GoMLX calls; use a newer plugin, or set %s=1 to try it anyway", v, ours, AllowOlderEnv)
	}
	return nil
}
