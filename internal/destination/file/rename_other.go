//go:build !linux

package file

import "os"

// renameNoReplace moves tmp to final unless final exists, atomically, with
// link(2) then unlink(2): link fails with EEXIST when final exists.
func renameNoReplace(tmp, final string) error {
	if err := os.Link(tmp, final); err != nil {
		return err
	}
	return os.Remove(tmp)
}
