package backup

import (
	"fmt"
	"time"
)

// namePrefix starts every configuration backup name.
const namePrefix = "imaBackup."

// ConfigBackupName returns the configuration backup file name for t in t's
// location: imaBackup.hhmmss-MMDDYYYY (MessageSight's form; the server passes
// its local time). Two backups in the same second get the same name; the
// second is refused with ErrNameTaken.
func ConfigBackupName(t time.Time) string {
	return fmt.Sprintf("%s%02d%02d%02d-%02d%02d%04d", namePrefix,
		t.Hour(), t.Minute(), t.Second(), int(t.Month()), t.Day(), t.Year())
}
