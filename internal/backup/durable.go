package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// This file holds the project's one durability protocol as used here:
// write a file under a temporary name, fsync it, rename (or link, to refuse
// replacement) it to its final name, fsync the directory.

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// replaceFileSync gives dir/name the content data durably: it writes the
// temporary dir/name.tmp (removing a leftover one first), fsyncs it, renames
// it over name and fsyncs dir. A crash leaves the old content or the new,
// and at most the temporary file.
func replaceFileSync(dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := writeFileSync(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeFileSync creates path (which must not exist), writes data, fsyncs and
// closes it. The caller fsyncs the directory.
func writeFileSync(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// linkNoReplace gives the complete file temp its final name without ever
// replacing an existing file (link(2) fails when final exists), removes the
// temporary name and fsyncs the directory. ErrNameTaken if final exists.
func linkNoReplace(temp, final string) error {
	if err := os.Link(temp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", filepath.Base(final), ErrNameTaken)
		}
		return fmt.Errorf("commit %s: %w", filepath.Base(final), err)
	}
	if err := os.Remove(temp); err != nil {
		return fmt.Errorf("commit %s: %w", filepath.Base(final), err)
	}
	return syncDir(filepath.Dir(final))
}

// exists reports whether path exists (a broken path component is an error).
func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}

// syncTree fsyncs every regular file and directory under root; once it
// returns, the whole tree is on stable storage (a rename of root is the
// caller's business).
func syncTree(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() && !d.IsDir() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sync %s: %w", path, err)
		}
		return nil
	})
}
