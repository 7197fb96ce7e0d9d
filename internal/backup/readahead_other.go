//go:build !linux

package backup

import "os"

// willNeed does nothing where posix_fadvise is not available here.
func willNeed(*os.File, int64, int64) {}
