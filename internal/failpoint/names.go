package failpoint

import "errors"

// ErrInjected is wrapped by every error a failpoint returns.
var ErrInjected = errors.New("failpoint: injected failure")

// The named failpoints. A name states the boundary it sits on; components
// evaluate them with (*Set).Eval.
const (
	// StoreBeforeSync fires in the store's commit loop before a group of
	// batches is written and synced.
	StoreBeforeSync = "storeBeforeSync"
	// ConfigBeforeRename fires after server.json's temporary file is written
	// and synced, before it is renamed over the live file.
	ConfigBeforeRename = "configBeforeRename"
	// BackupAfterCheckpoint fires after the store checkpoint of a backup is
	// taken, before it is archived.
	BackupAfterCheckpoint = "backupAfterCheckpoint"
	// BackupBeforeCommit fires after a backup file is fully written under
	// its temporary name, before it is renamed to its final name.
	BackupBeforeCommit = "backupBeforeCommit"
	// RestoreAfterStage fires when a restore has staged the new
	// configuration and store, before it stops the components (the
	// configuration is frozen, messaging runs).
	RestoreAfterStage = "restoreAfterStage"
	// RestoreBeforeSwap fires when a restore has staged the new
	// configuration and store beside the live ones, before switching.
	RestoreBeforeSwap = "restoreBeforeSwap"
	// RestoreAfterSwap fires after the switch, before the old state is
	// removed.
	RestoreAfterSwap = "restoreAfterSwap"
)
