package admin

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mqsight/mqsight/internal/archive"
)

// registerFiles registers the user file routes: uploads land in
// <datadir>/userfiles, from where configuration objects (certificates,
// keys) and later restores take them.
func (a *API) registerFiles() {
	a.route("PUT /ima/v1/file/{name}", messagingAccess, a.putFile)
	a.route("GET /ima/v1/service/file/{name}", messagingAccess, a.getFile)
	a.route("DELETE /ima/v1/service/file/{name}", messagingAccess, a.deleteFile)
	a.route("GET /ima/v1/service/fileList", readAccess, a.fileList)
}

// checkFileName refuses names that are not one plain file name: empty,
// ".", "..", or holding '/', '\\', a control character or invalid UTF-8,
// or longer than 255 bytes. Names starting with '.' are refused too: they
// are the atomic writer's temporary files.
//
// Names that read as something they are not are refused as well, since
// the file list and downloads show them to people: Unicode format
// characters (category Cf: the bidi overrides and isolates that can show
// "gpj.exe" as "exe.jpg", zero-width spaces and joiners, the BOM), line
// and paragraph separators, characters that look like '/' or '\\'
// (lookAlikeSeparator), and white space at either end, which no listing
// shows.
func checkFileName(name string) error {
	bad := func(why string) error { return apiError(CodeFileName, strconv.Quote(name)+": "+why) }
	switch {
	case name == "" || name == "." || name == "..":
		return bad("not a file name")
	case len(name) > 255:
		return bad("longer than 255 bytes")
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	case name[0] == '.':
		return bad("starts with '.'")
	}
	for _, r := range name {
		switch {
		case r == '/' || r == '\\' || unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp):
			return bad("holds '/', '\\' or a control character")
		case unicode.Is(unicode.Cf, r):
			return bad(fmt.Sprintf("holds the invisible format character %U", r))
		case lookAlikeSeparator(r):
			return bad(fmt.Sprintf("holds %U, which looks like '/' or '\\'", r))
		}
	}
	first, _ := utf8.DecodeRuneInString(name)
	last, _ := utf8.DecodeLastRuneInString(name)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return bad("starts or ends with white space")
	}
	return nil
}

// lookAlikeSeparator reports whether r is drawn like '/' or '\\' (Unicode's
// confusables for them): a name holding one reads as a path.
func lookAlikeSeparator(r rune) bool {
	switch r {
	case '\u2044', // FRACTION SLASH
		'\u2215', // DIVISION SLASH
		'\u2216', // SET MINUS
		'\u2571', // BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT
		'\u2572', // BOX DRAWINGS LIGHT DIAGONAL UPPER LEFT TO LOWER RIGHT
		'\u27CB', // MATHEMATICAL RISING DIAGONAL
		'\u27CD', // MATHEMATICAL FALLING DIAGONAL
		'\u29F5', // REVERSE SOLIDUS OPERATOR
		'\u29F8', // BIG SOLIDUS
		'\u29F9', // BIG REVERSE SOLIDUS
		'\uFE68', // SMALL REVERSE SOLIDUS
		'\uFF0F', // FULLWIDTH SOLIDUS
		'\uFF3C': // FULLWIDTH REVERSE SOLIDUS
		return true
	}
	return false
}

// putFile stores the request body as a user file, atomically: a reader
// never sees a partial file, and a failed upload leaves the old one. With
// "If-None-Match: *" it never replaces a file of that name (412
// CWLNA9107), so that a client that checked the name was free cannot
// replace a file another client put there meanwhile.
//
// Replacing a backup needs SystemAdministrator (checkBackupReplace),
// checked before the body is read and again just before the upload
// replaces the file, so that a backup written meanwhile is kept too.
func (a *API) putFile(w http.ResponseWriter, r *http.Request, who *caller) error {
	name := r.PathValue("name")
	if err := checkFileName(name); err != nil {
		return err
	}
	replace := os.Rename
	switch r.Header.Get("If-None-Match") {
	case "":
	case "*":
		replace = linkNoReplace
	default:
		return apiError(CodeBadRequest, "If-None-Match must be * (user files have no entity tags)")
	}
	if err := a.checkBackupReplace(name, who); err != nil {
		return err
	}
	publish := func(tmp, final string) error {
		if err := a.checkBackupReplace(name, who); err != nil {
			return err
		}
		return replace(tmp, final)
	}
	if err := os.MkdirAll(a.opts.UserFilesDir, 0o700); err != nil {
		return fmt.Errorf("create user files directory: %w", err)
	}
	body := http.MaxBytesReader(w, r.Body, a.opts.MaxFileBytes)
	if err := writeFile(a.opts.UserFilesDir, name, body, 0o600, publish); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return apiError(CodeTooLarge, tooBig.Limit)
		}
		if errors.Is(err, fs.ErrExist) {
			return apiError(CodeFileExists, name)
		}
		return err
	}
	renderOK(w, "")
	return nil
}

func (a *API) getFile(w http.ResponseWriter, r *http.Request, _ *caller) error {
	name := r.PathValue("name")
	if err := checkFileName(name); err != nil {
		return err
	}
	f, st, err := openUserFile(a.opts.UserFilesDir, name)
	if errors.Is(err, fs.ErrNotExist) {
		return apiError(CodeNotFound, "File", name)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	w.WriteHeader(http.StatusOK)
	io.Copy(w, f)
	return nil
}

// deleteFile deletes a user file; a backup only for a SystemAdministrator
// (checkBackupReplace).
func (a *API) deleteFile(w http.ResponseWriter, r *http.Request, who *caller) error {
	name := r.PathValue("name")
	if err := checkFileName(name); err != nil {
		return err
	}
	// What the file list does not show is not a user file: a symbolic
	// link, a directory or a FIFO is "not found" here too.
	f, _, err := openUserFile(a.opts.UserFilesDir, name)
	if errors.Is(err, fs.ErrNotExist) {
		return apiError(CodeDeleteNotFound, "File/"+name)
	}
	if err != nil {
		return err
	}
	backup, err := archive.IsBackup(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if backup {
		if err := who.require(systemAccess); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(a.opts.UserFilesDir, name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return apiError(CodeDeleteNotFound, "File/"+name)
		}
		return err
	}
	renderOK(w, "")
	return nil
}

// errNotUserFile is the error of openUserFile for a name that exists but
// is not a regular file. It wraps fs.ErrNotExist: callers report it as
// any absent file, since the file list does not show it either.
var errNotUserFile = fmt.Errorf("not a regular file: %w", fs.ErrNotExist)

// openUserFile opens dir/name for reading if it is a user file, and
// returns it with its FileInfo. Only a regular file is a user file: a
// symbolic link could point anywhere the server can read (the certificate
// store's private keys among them), and a directory, FIFO or device is
// nothing an upload made. Such names fail with errNotUserFile.
//
// O_NOFOLLOW makes the kernel refuse a link in the last component at the
// open itself, so a link swapped in after a check is refused too; a link
// higher up is the administrator's own doing (the data directory).
// O_NONBLOCK keeps the open of a FIFO from waiting for a writer; it does
// not change reads of a regular file.
func openUserFile(dir, name string) (*os.File, fs.FileInfo, error) {
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
		// A link refused by O_NOFOLLOW fails with ELOOP (EMLINK or
		// EFTYPE on some BSDs): tell it apart from a real failure.
		if st, lerr := os.Lstat(p); lerr == nil && !st.Mode().IsRegular() {
			return nil, nil, errNotUserFile
		}
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, errNotUserFile
	}
	return f, st, nil
}

// checkBackupReplace refuses, unless who is a SystemAdministrator, to
// replace or delete the user file name when it is a backup. The role
// table keeps backup and restore from a MessagingAdministrator, and a
// configuration backup holds the only key to its store backup: replacing
// or deleting it destroys both. A name that is no user file (absent, or
// a symbolic link, which a rename replaces and does not follow) holds no
// backup.
func (a *API) checkBackupReplace(name string, who *caller) error {
	if who.require(systemAccess) == nil {
		return nil
	}
	f, _, err := openUserFile(a.opts.UserFilesDir, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	backup, err := archive.IsBackup(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if backup {
		return who.require(systemAccess)
	}
	return nil
}

// readUserFile returns the content of the user file dir/name (see
// openUserFile).
func readUserFile(dir, name string) ([]byte, error) {
	f, _, err := openUserFile(dir, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// fileInfo is one entry of GET /ima/v1/service/fileList.
type fileInfo struct {
	Name     string
	Size     int64
	Modified string // RFC 3339, UTC
}

func (a *API) fileList(w http.ResponseWriter, r *http.Request, _ *caller) error {
	entries, err := os.ReadDir(a.opts.UserFilesDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	files := []fileInfo{}
	for _, e := range entries {
		if !e.Type().IsRegular() || checkFileName(e.Name()) != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, fileInfo{Name: e.Name(), Size: info.Size(), Modified: info.ModTime().UTC().Format(time.RFC3339)})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	writeJSON(w, http.StatusOK, map[string]any{"Version": "v1", "Files": files})
	return nil
}

// writeFileAtomic writes r to dir/name with the durability protocol: a
// temporary file in dir, fsync, rename over name, fsync of dir.
func writeFileAtomic(dir, name string, r io.Reader, mode os.FileMode) error {
	return writeFile(dir, name, r, mode, os.Rename)
}

// linkNoReplace publishes tmp as final unless final exists (an error
// wrapping fs.ErrExist), and removes tmp.
func linkNoReplace(tmp, final string) error {
	if err := os.Link(tmp, final); err != nil {
		return err
	}
	return os.Remove(tmp)
}

// writeFile is writeFileAtomic with the step that publishes the synced
// temporary file under its final name: os.Rename, or linkNoReplace.
func writeFile(dir, name string, r io.Reader, mode os.FileMode, publish func(tmp, final string) error) (err error) {
	tmp, err := os.CreateTemp(dir, uploadTempPrefix+"*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, r); err != nil {
		return err
	}
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = publish(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("publish %s: %w", name, err)
	}
	return syncDir(dir)
}

// Temporaries the API creates: uploads are written to uploadTempPrefix*
// files beside their final name, exports into exportTempPrefix*
// directories in the user files directory.
const (
	uploadTempPrefix = ".upload-"
	exportTempPrefix = ".export-"
)

// RemoveTemporaries removes what uploads and exports killed mid-way left
// in dirs (the user files and certificates directories): the temporary
// files and directories named above. None of them is ever listed, read
// or backed up, but they take space. Call it at server start, before the
// API serves; a missing directory is skipped.
func RemoveTemporaries(dirs ...string) error {
	for _, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("remove temporary files: %w", err)
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, uploadTempPrefix) && e.Type().IsRegular() ||
				strings.HasPrefix(n, exportTempPrefix) && e.IsDir() {
				if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
					return fmt.Errorf("remove temporary files: %w", err)
				}
			}
		}
	}
	return nil
}

// syncDir fsyncs a directory so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
